"""The ``set`` line parser shared by the CLI and crontab bodies (DESIGN 3.4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forsun import setline
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plan import INT16, SCHEDULE_FIELDS, Plan
from forsun.setline import (
    format_params,
    format_set_line,
    parse_crontab,
    parse_params,
    parse_set_line,
    quote,
    split_words,
)


def refused(line: str, code: int, *fragments: str) -> ForsunPlanError:
    with pytest.raises(ForsunPlanError) as info:
        parse_set_line(line)
    assert info.value.code == code, info.value
    for fragment in fragments:
        assert fragment in info.value.message
    return info.value


def test_the_design_example():
    plan = parse_set_line("set job1 */5/1 * * * * * shell 'cmd=ls'")
    assert plan.key == "job1"
    assert plan.is_time_out is True
    assert (plan.second, plan.count) == (5, 1)
    assert [plan.minute, plan.hour, plan.day, plan.month, plan.week] == [0] * 5
    assert plan.action == "shell"
    assert plan.params == {"cmd": "ls"}


def test_fixed_time_line():
    plan = parse_set_line("set daily 0 32 16 * * 1 http 'url=http://a/?x=1;method=post'")
    assert plan.is_time_out is False
    assert [getattr(plan, f) for f in SCHEDULE_FIELDS] == [0, 32, 16, -1, -1, 1]
    assert plan.count == 0
    assert plan.params == {"url": "http://a/?x=1", "method": "post"}


@pytest.mark.parametrize(("line", "params"), [
    # The original README's examples, as a shell hands them to the CLI.
    ("set redis */5/1 * * * * * redis 'host=172.16.0.2;command=\\'SET b 1 EX 300\\''",
     {"host": "172.16.0.2", "command": "SET b 1 EX 300"}),
    ("set http */5/1 * * * * * http 'url=\\'http://www.baidu.com\\''",
     {"url": "http://www.baidu.com"}),
    ("set beanstalk */5/1 * * * * * beanstalk 'host=10.4.14.14;name=etask;body={}'",
     {"host": "10.4.14.14", "name": "etask", "body": "{}"}),
    # ... including an unterminated quote, which runs to the end of the line.
    ("set shell */5/1 * * * * * shell 'cmd=ls", {"cmd": "ls"}),
    ("set thrift */5/1 * * * * * thrift 'host=10.4.14.14;port=4220",
     {"host": "10.4.14.14", "port": "4220"}),
    # What the original client printed for a plan reads back.
    ("set k */5/1 * * * * * shell \"cmd='ls -l';cwd='/tmp'\"", {"cmd": "ls -l", "cwd": "/tmp"}),
])
def test_lines_written_for_the_original(line, params):
    assert parse_set_line(line).params == params


def test_leading_set_is_optional_and_always_the_command_word():
    with_set = parse_set_line("set a */9 * * * * * shell 'cmd=ls'")
    without = parse_set_line("a */9 * * * * * shell 'cmd=ls'")
    assert with_set == without
    assert parse_set_line("set set */9 * * * * * shell 'cmd=ls'").key == "set"
    refused("set", ErrorCode.MISSING_ARGUMENT, "key is required")


def test_empty_key_is_left_for_the_service_to_generate():
    assert parse_set_line("set '' */9 * * * * * shell ls").key == ""


@pytest.mark.parametrize("alias", ["sh", "bash", "shell"])
def test_shell_aliases(alias):
    assert parse_set_line(f"set k */9 * * * * * {alias} 'cmd=ls'").action == "shell"


@pytest.mark.parametrize(("action", "params", "expected"), [
    ("shell", "'ls -la; echo x=1'", {"cmd": "ls -la; echo x=1"}),
    ("sh", "ls", {"cmd": "ls"}),
    ("shell", "'cd /tmp && X=1 make'", {"cmd": "cd /tmp && X=1 make"}),
    ("http", "http://example.com/cb?a=1&b=2", {"url": "http://example.com/cb?a=1&b=2"}),
    ("http", "'url=http://example.com/'", {"url": "http://example.com/"}),
])
def test_a_bare_string_is_the_cmd_or_url(action, params, expected):
    assert parse_set_line(f"set k */9 * * * * * {action} {params}").params == expected


def test_a_bare_string_for_other_actions_is_refused():
    refused("set k */9 * * * * * redis 'SET a 1'", ErrorCode.STORE_FAILED, "params")


def test_params_may_be_left_out():
    assert parse_set_line("set k */9 * * * * * redis").params == {}
    assert parse_set_line("set k */9 * * * * * redis ''").params == {}


@pytest.mark.parametrize(("text", "expected"), [
    ("a=1;b=2", {"a": "1", "b": "2"}),
    (" a = 1 ; ; b=2 ;", {"a": "1", "b": "2"}),
    ("a=1;a=2", {"a": "2"}),
    ("a=", {"a": ""}),
    ("a=''", {"a": ""}),
    ("k='quoted v'", {"k": "quoted v"}),
    ("k='x;y=z'", {"k": "x;y=z"}),
    ('k="it\'s"', {"k": "it's"}),
    ("k='it\\'s \\\\ ok'", {"k": "it's \\ ok"}),
    ("cmd=echo 'a  b'", {"cmd": "echo 'a  b'"}),
    ("url=http://a/?x=1&y=2", {"url": "http://a/?x=1&y=2"}),
    ("'my key'=v", {"my key": "v"}),
    ("header_X-Token=abc", {"header_X-Token": "abc"}),
    ("", {}),
])
def test_parse_params(text, expected):
    assert parse_params(text) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("a=1;b", "'b' is not k=v"),
    ("a=1;=2", "empty name"),
    ("k='a' 'b'", "params.k"),
    ("just words", "not k=v"),
])
def test_malformed_params(text, fragment):
    with pytest.raises(ForsunPlanError) as info:
        parse_params(text)
    assert info.value.code == ErrorCode.STORE_FAILED
    assert fragment in info.value.message


@pytest.mark.parametrize(("fields", "values", "count"), [
    ("*/5 * * * * *", [5, 0, 0, 0, 0, 0], 1),
    ("*/5/0 * * * * *", [5, 0, 0, 0, 0, 0], 0),
    ("*/30 */1/2 * * * *", [30, 1, 0, 0, 0, 0], 2),
    ("* * */2/3 */1/3 * *", [0, 0, 2, 1, 0, 0], 3),
    ("0 -1 */1 * * -7", [0, 0, 1, 0, 0, 0], 1),
    ("* * * * * */1/7", [0, 0, 0, 0, 0, 1], 7),
])
def test_delay_fields(fields, values, count):
    """A field that is not */N is 0 in a delay plan, as the original's crontab parser
    made it."""
    plan = parse_set_line(f"set k {fields} shell ls")
    assert plan.is_time_out is True
    assert [getattr(plan, f) for f in SCHEDULE_FIELDS] == values
    assert plan.count == count


def test_fixed_fields_accept_minus_one_and_signs():
    plan = parse_set_line("set k -1 +5 * 1 12 7 shell ls")
    assert [getattr(plan, f) for f in SCHEDULE_FIELDS] == [-1, 5, -1, 1, 12, 7]


def test_a_fixed_value_in_a_delay_plan_is_refused():
    refused("set k */5 2 * * * * shell ls", ErrorCode.STORE_FAILED, "minute", "*/2")


def test_counts_that_disagree_are_refused():
    refused("set k */5/1 */1/3 * * * * shell ls", ErrorCode.STORE_FAILED, "minute", "count")


@pytest.mark.parametrize("words", range(8))
def test_missing_parts_are_named(words):
    parts = ["k", "*/5", "*", "*", "*", "*", "*", "shell"]
    names = ["key", "second", "minute", "hour", "day", "month", "week", "action"]
    refused(" ".join(["set", *parts[:words]]), ErrorCode.MISSING_ARGUMENT,
            f"{names[words]} is required")


def test_an_empty_action_is_missing():
    refused("set k */5 * * * * * ''", ErrorCode.MISSING_ARGUMENT, "action")


@pytest.mark.parametrize("position", range(6))
@pytest.mark.parametrize("word", ["x", "*/", "*/a", "*/5/", "*/-1", "5/5", "**", "1.5", "*/1/2/3",
                                  "9" * 5000])
def test_malformed_fields_are_named(position, word):
    fields = ["*"] * 6
    fields[position] = word
    refused(f"set k {' '.join(fields)} shell ls", ErrorCode.STORE_FAILED,
            f"{SCHEDULE_FIELDS[position]}:", repr(word)[:20])


def test_values_outside_int16_are_refused():
    refused("set k 40000 * * * * * shell ls", ErrorCode.STORE_FAILED, "second")
    refused("set k */5/40000 * * * * * shell ls", ErrorCode.STORE_FAILED, "count")


def test_unquoted_params_with_spaces_are_refused_not_truncated():
    refused("set k */5 * * * * * shell cmd=ls -la", ErrorCode.STORE_FAILED, "params", "-la")


def test_a_trailing_backslash_is_refused():
    refused("set k */5 * * * * * shell ls\\", ErrorCode.STORE_FAILED, "backslash")


def test_crontab_skips_blank_and_comment_lines_and_numbers_lines():
    text = ("# nightly jobs\n"
            "\n"
            "a 0 0 3 * * * shell 'cmd=backup'\r\n"
            "   # indented comment\n"
            "set b */10/0 * * * * * http 'url=http://x/'\n")
    parsed = list(parse_crontab(text))
    assert [(n, p.key, p.is_time_out) for n, p in parsed] == [(3, "a", False), (5, "b", True)]


def test_crontab_errors_name_the_line():
    with pytest.raises(ForsunPlanError) as info:
        list(parse_crontab("a */5 * * * * * shell ls\n\nb */5 x * * * * shell ls\n"))
    assert info.value.code == ErrorCode.STORE_FAILED
    assert info.value.message.startswith("line 3: minute:")


# -- properties ------------------------------------------------------------------------------

_int16 = st.integers(*INT16)
_text = st.text(max_size=12)


@st.composite
def plans(draw) -> Plan:
    is_time_out = draw(st.booleans())
    fields = {name: draw(_int16) for name in SCHEDULE_FIELDS}
    return Plan(key=draw(_text), is_time_out=is_time_out,
                count=draw(st.integers(0, INT16[1])) if is_time_out else 0,
                action=draw(st.text(min_size=1, max_size=8)),
                params=draw(st.dictionaries(st.text(min_size=1, max_size=6), _text, max_size=4)),
                **fields)


def _schedule(plan: Plan) -> list[int]:
    values = [getattr(plan, name) for name in SCHEDULE_FIELDS]
    return [max(v, 0) for v in values] if plan.is_time_out else values


@settings(max_examples=400)
@given(plans())
def test_format_then_parse_gives_the_same_plan(plan):
    line = format_set_line(plan)
    parsed = parse_set_line(line)
    assert parsed.key == plan.key
    assert parsed.is_time_out == plan.is_time_out
    assert _schedule(parsed) == _schedule(plan), line
    assert parsed.count == plan.count
    assert parsed.action == ("shell" if plan.action in {"sh", "bash"} else plan.action)
    assert parsed.params == plan.params, line


@given(_text)
def test_quote_is_read_back_as_one_word(text):
    assert split_words(quote(text)) == [text]


_pieces = st.sampled_from(["set", "k", "*", "*/5", "*/5/2", "*/", "-1", "9" * 40, "'", '"', "\\",
                           "=", ";", " ", "\t", "\n", "a=b", "sh", "http", "#", "x"])


@settings(max_examples=500)
@given(st.one_of(st.text(), st.lists(_pieces, max_size=20).map("".join),
                 st.lists(_pieces, max_size=14).map(" ".join)))
def test_garbage_raises_only_forsun_plan_errors(text):
    for parse in (parse_set_line, lambda text: list(parse_crontab(text)), parse_params):
        try:
            parse(text)
        except ForsunPlanError as exc:
            assert 1001 <= exc.code <= 1007
            assert exc.message


def _words_or_code(split, line):
    """The words ``split`` finds in ``line``, or the code of the error it raises."""
    try:
        return split(line)
    except ForsunPlanError as exc:
        return exc.code


_shell_pieces = st.sampled_from(["a", "bc", "=", ";", "'", '"', "\\", " ", "\t", "\r", "\n",
                                 "\x0b", "\xa0", "é", "''", '""', "'x y'", '"x y"', "#"])


@settings(max_examples=2000)
@given(st.one_of(st.lists(_shell_pieces, max_size=16).map("".join), st.text(max_size=30)))
def test_split_words_agrees_with_shlex(line):
    """split_words reads lines as shlex does (with the additions of the module docstring),
    whichever of its two paths a line takes."""
    assert _words_or_code(split_words, line) == _words_or_code(setline._shell_words, line)


_plain_pieces = st.sampled_from(["set", "k1", "*", "*/5/1", "-1", "http", " ", "  ", "\t", "\r",
                                 "\x0b", "\xa0", "é", "'", '"', "url=http://a/b;method=post",
                                 "a b", ";", "="])


@settings(max_examples=2000)
@given(st.lists(_plain_pieces, max_size=12).map("".join))
def test_the_fast_path_of_split_words_agrees_with_shlex(line):
    """The lines the fast path takes (their only quotes wrap the last word) it splits as
    shlex does."""
    words = setline._split_words_fast(line)
    if words is not None:
        assert words == _words_or_code(setline._shell_words, line)


@pytest.mark.parametrize("line", [
    "set k1 * */5/1 * * * * http 'url=http://a/b;method=post'",
    'k1 0 30 16 * * * shell "cmd=ls -la"',
    "k1 * * * * * * shell",
])
def test_the_fast_path_takes_the_usual_lines(line):
    assert setline._split_words_fast(line) == setline._shell_words(line)


_param_pieces = st.sampled_from(["a", "url", "x.y-z", "=", "==", ";", ";;", " ", "\t", "é",
                                 "a b", "http://h/p?q=1", "\xa0", "1", "'", '"', "'a;b'", "\\"])


@settings(max_examples=2000)
@given(st.lists(_param_pieces, max_size=12).map("".join),
       st.sampled_from([None, "url", "cmd"]))
def test_params_read_back_as_format_params_writes_them(text, bare_param):
    try:
        params = parse_params(text, bare_param)
    except ForsunPlanError as exc:
        assert exc.code == ErrorCode.STORE_FAILED
    else:
        assert parse_params(format_params(params)) == params
