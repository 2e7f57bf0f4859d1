"""Item 1: the original's Python clients. ``scripts/client_calls.py`` calls every method of
``ThriftClient`` and ``TorThriftClient`` (from tornado coroutines and from asyncio) as the
original's users do. Run by the original's own package against the original forsund, it
gives the reference; run by ours against ours, and by the original's package against ours
(the Thrift wire), it must give the same.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from differences import kept


def same_up_to_the_second(reference: Any, other: Any, path: str = "") -> None:
    """``other`` equals ``reference``, except that a delay plan's next_time may be a second
    later or earlier (the two servers created it in different seconds), and ``info`` may
    have more keys (``info-values``)."""
    assert type(other) is type(reference), f"{path}: {other!r} is not like {reference!r}"
    if isinstance(reference, dict) and "is_time_out" in reference:
        if reference["is_time_out"]:
            assert abs(other["next_time"] - reference["next_time"]) <= 2, path
            reference = {**reference, "next_time": None}
            other = {**other, "next_time": None}
        assert other == reference, path
    elif isinstance(reference, dict):
        assert set(other) == set(reference), path
        for key in reference:
            same_up_to_the_second(reference[key], other[key], f"{path}.{key}")
    elif isinstance(reference, list) and reference and isinstance(reference[0], dict):
        assert len(other) == len(reference), path
        for index, (first, second) in enumerate(zip(reference, other, strict=True)):
            same_up_to_the_second(first, second, f"{path}[{index}]")
    else:
        assert other == reference, path


@pytest.fixture(scope="module")
def calls(pair, original_python, our_python) -> dict[str, Any]:
    original, ours = pair
    return {"original": original_python("client_calls.py", original.port, "c:"),
            "ours": our_python("client_calls.py", ours.port, "c:"),
            "original on ours": original_python("client_calls.py", ours.port, "x:")}


@pytest.mark.parametrize("run", ["ours", "original on ours"])
def test_every_client_method_as_the_original(calls, run):
    kept("info-values")
    reference, other = calls["original"], calls[run]
    if run == "original on ours":  # its own keys, so that both runs could share a server
        other = json.loads(json.dumps(other).replace('"x:', '"c:'))
    assert set(reference["info"]["ok"]) <= set(other["info"]["ok"])
    for name in reference:
        if name != "info":
            same_up_to_the_second(reference[name], other[name], name)


def test_the_reference_saw_what_the_scenario_expects(calls):
    """The scenario proves something: the calls did what they say, in the original too."""
    for run in calls.values():
        assert run["get_missing"]["error"] == run["remove_missing"]["error"] == 1003
        assert run["create_unknown_action"]["error"] == 1006
        assert run["create_timeout"]["ok"]["count"] == 1  # create_timeout's default count
        assert run["tornado"]["missing"] == 1003
        assert len(run["get_keys"]["ok"]) == 5
