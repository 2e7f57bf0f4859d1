"""The packed record: exact round trips, and orderings the indexes rely on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plan import Plan, validate_plan
from forsun_store_mem import record

int16 = st.integers(-(1 << 15), (1 << 15) - 1)
seconds = st.integers(-(1 << 63), (1 << 63) - 1)
keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"),
               min_size=1, max_size=40)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)

plans = st.builds(
    Plan, key=keys, second=int16, minute=int16, hour=int16, day=int16, month=int16,
    week=int16, is_time_out=st.just(True), count=st.integers(0, (1 << 15) - 1),
    current_count=int16, status=int16, next_time=seconds, last_timeout=seconds,
    created_time=st.floats(allow_nan=False), action=texts.filter(bool),
    params=st.dictionaries(texts, texts, max_size=5))


@given(plans)
def test_every_valid_plan_round_trips(plan: Plan) -> None:
    validate_plan(plan)
    assert record.decode(record.encode(plan)) == plan


@given(plans, plans)
def test_records_sort_like_keys_and_entries_like_due_order(a: Plan, b: Plan) -> None:
    ra, rb = record.encode(a), record.encode(b)
    if a.key != b.key:
        assert (ra < rb) == (a.key < b.key)
    ea = record.entry(ra, record.key_length(ra))
    eb = record.entry(rb, record.key_length(rb))
    assert (ea < eb) == ((a.next_time, a.key) < (b.next_time, b.key))
    assert record.entry_time(ea) == a.next_time
    assert record.entry_key(ea) == a.key.encode()
    assert record.created_time(ra, record.key_length(ra)) == a.created_time


@pytest.mark.parametrize("field", ["next_time", "last_timeout"])
def test_times_beyond_64_bits_are_refused_with_1004(field: str) -> None:
    plan = Plan(key="k", **{field: 1 << 63})
    with pytest.raises(ForsunPlanError) as caught:
        record.encode(plan)
    assert caught.value.code == ErrorCode.STORE_FAILED
    assert field in caught.value.message


ascii_or_not = st.text(st.sampled_from("ab~\x7f\x00é✓") | st.characters(max_codepoint=127),
                       max_size=140)


@given(st.dictionaries(ascii_or_not, ascii_or_not, max_size=4))
def test_the_ascii_params_shortcut_packs_what_the_general_path_packs(params) -> None:
    quick = record._ascii_params(params)
    if params and all(k.isascii() and v.isascii() and len(k) < 128 and len(v) < 128
                      for k, v in params.items()):
        assert quick == record._utf8_params(params)
    else:
        assert quick == b""
