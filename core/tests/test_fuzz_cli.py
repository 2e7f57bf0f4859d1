"""Property tests of what core/tests/test_setline.py leaves out: crontab bodies as a whole,
and the ``forsun`` console running arbitrary command lines against a real forsund.

forsund runs with the shell action allow-listed to ``true`` and every other action plugin
blocked, so no generated plan can run anything.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from forsun.client import Client
from forsun.commands.forsun import COMMANDS, Console, UsageError
from forsun.errors import ForsunPlanError
from forsun.plan import INT16, SCHEDULE_FIELDS, Plan
from forsun.setline import format_set_line, parse_crontab
from forsun.testing.process import ForsundProcess

#: Text a crontab line can hold: anything but a line feed (the line separator).
_line_text = st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]),
                     max_size=12)


@st.composite
def plans(draw) -> Plan:
    is_time_out = draw(st.booleans())
    return Plan(key=draw(_line_text.filter(bool)), is_time_out=is_time_out,
                count=draw(st.integers(0, INT16[1])) if is_time_out else 0,
                action=draw(_line_text.filter(bool)),
                params=draw(st.dictionaries(_line_text.filter(bool), _line_text, max_size=3)),
                **{name: draw(st.integers(*INT16)) for name in SCHEDULE_FIELDS})


def same_plan(parsed: Plan, plan: Plan) -> bool:
    def schedule(p: Plan) -> list[int]:
        values = [getattr(p, name) for name in SCHEDULE_FIELDS]
        return [max(v, 0) for v in values] if p.is_time_out else values

    action = "shell" if plan.action in {"sh", "bash"} else plan.action
    return (parsed.key, parsed.is_time_out, parsed.count, parsed.action, parsed.params,
            schedule(parsed)) == (plan.key, plan.is_time_out, plan.count, action,
                                  plan.params, schedule(plan))


_filler = st.sampled_from(["", "   ", "\t", "# a comment", "  #set x 1 * * * * * sh true",
                           "#"])


@settings(max_examples=300)
@given(st.lists(st.tuples(st.lists(_filler, max_size=2), plans()), max_size=6),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_a_crontab_body_gives_its_plans_with_their_line_numbers(entries, newline, trailing):
    lines: list[str] = []
    expected: list[tuple[int, Plan]] = []
    for fillers, plan in entries:
        lines += fillers
        lines.append(format_set_line(plan))
        expected.append((len(lines), plan))
    body = newline.join(lines) + (newline if trailing else "")
    parsed = list(parse_crontab(body))
    assert [number for number, _ in parsed] == [number for number, _ in expected]
    for (_, got), (_, plan) in zip(parsed, expected, strict=True):
        assert same_plan(got, plan), (body, got, plan)


@settings(max_examples=200)
@given(st.lists(plans(), min_size=1, max_size=4), st.integers(0, 3), st.text(max_size=20))
def test_one_bad_line_is_named_by_its_number(good, where, garbage):
    lines = [format_set_line(plan) for plan in good]
    where = min(where, len(lines))
    lines.insert(where, "set only-a-key " + garbage.replace("\n", " "))
    try:
        list(parse_crontab("\n".join(lines)))
    except ForsunPlanError as exc:
        assert exc.message.startswith(f"line {where + 1}: ")
    else:
        pytest.fail("a line with a key and no fields was accepted")


# -- the console against a real server -------------------------------------------------------


@pytest.fixture(scope="module")
def forsund(harmless_forsund) -> ForsundProcess:
    return harmless_forsund


@pytest.fixture(scope="module")
def console(forsund) -> Iterator[Console]:
    with Client("127.0.0.1", forsund.port) as client:
        yield Console(client)


_word = st.one_of(
    st.sampled_from(["*", "*/1", "*/5/2", "*/0/0", "-1", "0", "59", "99999", "-99999",
                     "9" * 40, "2024-02-30 10:00:00", "2024-01-01T00:00:00+14:00",
                     "9999-12-31 23:59:59", "0001-01-01", "1e9", "shell", "sh", "nope",
                     "'cmd=true'", "true", "'", '"', "\\", "k=v;x", "fz:key"]),
    st.text(max_size=10))
_line = st.one_of(
    st.tuples(st.sampled_from([*sorted(COMMANDS), "SET", "Get", "bogus"]),
              st.lists(_word, max_size=2) | st.lists(_word, min_size=7, max_size=9))
    .map(lambda t: " ".join([t[0], *t[1]])),
    st.text(max_size=40))


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=_line)
@example(line="time 99999999999")
@example(line="time 9999-12-31 23:59:59")
@example(line="time 0001-01-01")
@example(line="set k */99999 * * * * * sh true")
@example(line="get ''")
def test_any_command_line_is_run_or_refused_with_a_message(console, forsund, capsys, line):
    if line.split()[:1] in (["exit"], ["quit"]):
        return
    try:
        console.run(line)
    except (ForsunPlanError, UsageError) as exc:
        assert str(exc)
    capsys.readouterr()
    assert forsund.proc.poll() is None
