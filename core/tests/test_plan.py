import pytest
from hypothesis import given
from hypothesis import strategies as st

from forsun.codec import decode_plan, encode_plan
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plan import MAX_KEY_BYTES, Plan, validate_plan


def test_defaults_follow_the_original():
    plan = Plan()
    assert (plan.second, plan.minute, plan.hour, plan.day, plan.month, plan.week) == \
        (0, -1, -1, -1, -1, -1)
    assert plan.action == "shell" and plan.params == {} and plan.count == 0


def test_dict_round_trip_uses_protocol_names():
    plan = Plan(key="a", second=5, is_time_out=True, params={"cmd": "ls"})
    data = plan.to_dict()
    assert data["second"] == 5 and data["is_time_out"] is True
    assert Plan.from_dict({**data, "unknown": 1}) == plan


@pytest.mark.parametrize(("change", "field"), [
    ({"key": ""}, "key"),
    ({"key": "a\nb"}, "key"),
    ({"key": "a\x00b"}, "key"),
    ({"key": "k" * (MAX_KEY_BYTES + 1)}, "key"),
    ({"second": 60}, "second"),
    ({"hour": 24}, "hour"),
    ({"month": 13}, "month"),
    ({"week": 8}, "week"),
    ({"count": -1}, "count"),
    ({"second": "5"}, "second"),
    ({"params": {"a": 1}}, "params"),
    ({"params": {"a": "\ud800"}}, "params"),
    ({"action": ""}, "action"),
])
def test_invalid_plans_name_the_field(change, field):
    plan = Plan(key="k", next_time=10)
    for name, value in change.items():
        setattr(plan, name, value)
    with pytest.raises(ForsunPlanError) as info:
        validate_plan(plan)
    assert info.value.code == ErrorCode.STORE_FAILED
    assert field in info.value.message


def test_delay_mode_accepts_any_int16_interval():
    validate_plan(Plan(key="k", is_time_out=True, second=3600, minute=100))


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
plans = st.builds(
    Plan,
    key=texts.filter(lambda k: k and not set(k) & {"\x00", "\r", "\n"}),
    second=st.integers(-1, 59), minute=st.integers(-1, 59), hour=st.integers(-1, 23),
    day=st.integers(-1, 31), month=st.integers(-1, 12), week=st.integers(-1, 7),
    is_time_out=st.booleans(), count=st.integers(0, 32767),
    current_count=st.integers(0, 1 << 30), status=st.integers(0, 2),
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


def test_the_original_error_module_still_imports():
    from forsun.error import ActionExecuteRetry, NotFoundPlanError, RequiredArgumentError

    assert NotFoundPlanError().code == ErrorCode.NOT_FOUND
    error = RequiredArgumentError("cmd")
    assert isinstance(error, ForsunPlanError) and error.code == 1007 and "cmd" in error.message
    assert issubclass(ActionExecuteRetry, Exception)
