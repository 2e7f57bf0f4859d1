"""Long jobs in slices (forsun.pacing) and the sliced readers of bulk bodies (JSON arrays,
crontab lines)."""

from __future__ import annotations

import asyncio
import json
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forsun.errors import ForsunPlanError
from forsun.frontends import jsonbody
from forsun.frontends.jsonbody import NotParsed, array_slices
from forsun.pacing import Pacer, steps
from forsun.setline import parse_crontab

# -- the pacer ------------------------------------------------------------------------------


class Turns:
    """Counts turns of the running loop (a callback that re-schedules itself runs once per
    turn)."""

    def __init__(self) -> None:
        self.count = 0
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_concurrent_jobs_run_one_slice_per_turn_of_the_loop():
    pacer = Pacer(slice_seconds=0.002)
    turns = Turns()
    slices: list[tuple[int, int]] = []  # (turn, job) of each step

    async def job(name: int) -> None:
        async with pacer.job() as running:
            for _ in range(30):
                busy(0.0005)
                slices.append((turns.count, name))
                await running.pause()

    await asyncio.gather(*(job(name) for name in range(4)))
    turns.stop()
    jobs_per_turn: dict[int, set[int]] = {}
    for turn, name in slices:
        jobs_per_turn.setdefault(turn, set()).add(name)
    assert all(len(names) == 1 for names in jobs_per_turn.values()), jobs_per_turn
    assert len(jobs_per_turn) >= 4 * 30 * 0.0005 / 0.002 - 4, "slices were not cut"
    order = [name for _, name in sorted({turn: names.pop()
                                         for turn, names in jobs_per_turn.items()}.items())]
    assert set(order[:8]) == {0, 1, 2, 3}, f"the jobs did not take turns: {order}"


async def test_a_lone_job_lets_the_loop_turn_between_slices():
    pacer = Pacer(slice_seconds=0.002)
    ticks = 0

    async def other() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    other_task = asyncio.create_task(other())
    await asyncio.sleep(0)
    async with pacer.job() as running:
        before = ticks
        for _ in range(40):
            busy(0.0005)
            await running.pause()
        assert ticks - before >= 5
    other_task.cancel()


async def test_a_hold_stops_jobs_at_their_next_pause_until_it_ends():
    pacer = Pacer(slice_seconds=1.0)  # only the hold makes this job pause
    steps_done = 0

    async def job() -> None:
        nonlocal steps_done
        async with pacer.job() as running:
            for _ in range(1000):
                steps_done += 1
                await running.pause()

    with pacer.hold():
        task = asyncio.create_task(job())
        await asyncio.sleep(0.05)
        assert steps_done <= 1, "a held job went on"
    await asyncio.wait_for(task, 5)
    assert steps_done == 1000


async def test_a_job_cancelled_while_waiting_leaves_the_lane_usable():
    pacer = Pacer(slice_seconds=0.0)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with pacer.job():
            entered.set()
            await release.wait()

    async def waiter() -> None:
        async with pacer.job():
            pass

    first = asyncio.create_task(holder())
    await entered.wait()
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()
    await first
    async with asyncio.timeout(1):
        async with pacer.job() as running:
            await running.pause()


def test_steps_cut_any_iterable_in_order():
    assert [list(part) for part in steps(iter(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(steps([], 3)) == []


# -- JSON arrays in slices ------------------------------------------------------------------


def sliced(data: bytes, size: int) -> list | None:
    pieces = array_slices(data, size)
    return None if pieces is None else [item for piece in pieces for item in piece]


@pytest.mark.parametrize("data", [
    b"[]", b" [ \n] ", b"[{}]", b"[{},{}]", b'[{"a": "},{"}, {"b": 1}]',
    b'[{"a":[{"x":1},{"y":2}]},{"b":2}]', b'[{"s":"a\\"},{\\""},{}]',
    b'[ {"k": 1} ,\n\t{"k": 2} ]', b"[1, 2, 3]", b'[{"deep": {"x": {"y": [{}, {}]}}}, {}]',
])
@pytest.mark.parametrize("size", [0, 1, 3, 8, 1 << 16])
def test_slices_decode_exactly_what_the_whole_array_holds(data, size):
    assert sliced(data, size) == orjson.loads(data)


@pytest.mark.parametrize("data", [b"[{},,{}]", b"[{},{},]", b"[{}, {]", b'[{"a": NaN}, {}]',
                                  b"[{}]]"])
@pytest.mark.parametrize("size", [0, 2, 1 << 16])
def test_slices_of_what_orjson_refuses_raise_not_parsed(data, size):
    with pytest.raises(NotParsed):
        sliced(data, size)


@pytest.mark.parametrize("data", [b"", b"   ", b'{"a": 1}', b'"[x]"', b"\xef\xbb\xbf[{}]", b"[",
                                  b"]", b"[{},{}"])
def test_what_is_not_an_array_is_left_to_the_whole_body_reader(data):
    assert array_slices(data) is None


def test_cuts_inside_a_long_string_cost_a_bounded_number_of_decodes(monkeypatch):
    value = "},{" * 50_000  # every place the splitter may cut at is inside this string
    data = json.dumps([{"a": value}, {"b": 1}] * 3).encode()
    decodes = 0

    def counting_loads(text: bytes) -> object:
        nonlocal decodes
        decodes += 1
        return orjson.loads(text)

    monkeypatch.setattr(jsonbody, "orjson", type("Counting", (), {
        "loads": staticmethod(counting_loads)}))
    assert sliced(data, 64) == orjson.loads(data)
    assert decodes < 3 * 20, "a piece was extended by one cut at a time"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.text(alphabet=st.sampled_from('ab{}[],: "\\\n\tü')),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(alphabet=st.sampled_from('k{},"')), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300)
@given(st.lists(st.dictionaries(st.text(alphabet=st.sampled_from('k{},"')), json_values,
                                max_size=4), max_size=8),
       st.integers(0, 64), st.sampled_from([(",", ":"), (", ", ": "), (" ,\n ", " : ")]))
def test_slices_of_any_array_of_objects_are_its_items(items, size, separators):
    data = json.dumps(items, separators=separators, ensure_ascii=False).encode()
    assert sliced(data, size) == items


# -- crontab lines one at a time -------------------------------------------------------------


def test_crontab_lines_are_parsed_as_they_are_read():
    text = "a */5 * * * * * shell ls\n\nb */5 x * * * * shell ls\n"
    lines = parse_crontab(text)
    number, plan = next(lines)
    assert (number, plan.key) == (1, "a")
    with pytest.raises(ForsunPlanError, match="line 3: minute:"):
        next(lines)
