"""The Redis store's record (:mod:`forsun_store_redis.codec`): exact round trips, and a
ValueError for bytes that are no record."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from forsun.plan import Plan
from forsun_store_redis.codec import decode_plan, encode_plan

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
plans = st.builds(
    Plan,
    key=texts.filter(lambda k: k and not set(k) & {"\x00", "\r", "\n"}),
    second=st.integers(-1, 59), minute=st.integers(-1, 59), hour=st.integers(-1, 23),
    day=st.integers(-1, 31), month=st.integers(-1, 12), week=st.integers(-1, 7),
    is_time_out=st.booleans(), count=st.integers(0, 32767),
    current_count=st.integers(0, 1 << 30), status=st.integers(-1, 2),
    next_time=st.integers(0, 1 << 40), last_timeout=st.integers(0, 1 << 40),
    created_time=st.floats(0, 1e11), action=texts.filter(bool),
    params=st.dictionaries(texts, texts, max_size=5),
)


@given(plans)
def test_codec_round_trips_every_valid_plan(plan):
    assert decode_plan(encode_plan(plan)) == plan


@given(st.binary(max_size=80))
def test_codec_rejects_garbage_with_value_error(data):
    try:
        plan = decode_plan(data)
    except ValueError as exc:
        assert "plan record" in str(exc)
    else:
        assert isinstance(plan, Plan)
