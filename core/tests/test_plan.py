import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plan import MAX_KEY_BYTES, PLAN_FIELDS, Plan, evolved, validate_plan


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
    assert list(data) == [field.name for field in attrs.fields(Plan)]
    assert data["params"] == plan.params and data["params"] is not plan.params


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


def test_the_original_error_module_still_imports():
    from forsun.error import ActionExecuteRetry, NotFoundPlanError, RequiredArgumentError

    assert NotFoundPlanError().code == ErrorCode.NOT_FOUND
    error = RequiredArgumentError("cmd")
    assert isinstance(error, ForsunPlanError) and error.code == 1007 and "cmd" in error.message
    assert issubclass(ActionExecuteRetry, Exception)


anything = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 40), 1 << 40),
                     st.floats(allow_nan=False), st.text(max_size=5))
odd_texts = st.text(max_size=12)  # any character: NUL, CR, LF, lone surrogates, non-ASCII
maybe_bad_plans = st.builds(
    Plan,
    key=st.one_of(odd_texts, anything), action=st.one_of(odd_texts, anything),
    second=st.one_of(st.integers(-2, 62), st.integers(-(1 << 16), 1 << 16), anything),
    minute=st.integers(-2, 61), hour=st.integers(-2, 25), day=st.integers(-1, 32),
    month=st.integers(-1, 13), week=st.one_of(st.integers(-1, 8), anything),
    is_time_out=st.booleans(), count=st.one_of(st.integers(-2, 1 << 16), anything),
    current_count=st.integers(-(1 << 16), 1 << 16), status=st.integers(-1, 3),
    next_time=st.one_of(st.integers(0, 1 << 40), anything),
    last_timeout=st.one_of(st.integers(0, 1 << 40), anything),
    params=st.one_of(st.dictionaries(st.one_of(odd_texts, anything),
                                     st.one_of(odd_texts, anything), max_size=3), anything),
)


@given(maybe_bad_plans)
def test_the_fast_path_accepts_only_what_the_field_by_field_check_accepts(plan):
    from forsun.plan import _accepted_by_fast_path, _check_fields
    if _accepted_by_fast_path(plan):
        _check_fields(plan)


@given(maybe_bad_plans)
def test_a_refusal_names_a_field_at_fault(plan):
    """validate_plan refuses with 1004 naming a field; that field, set to a valid value,
    is not refused any more (another one may be)."""
    try:
        validate_plan(plan)
    except ForsunPlanError as exc:
        assert exc.code == ErrorCode.STORE_FAILED
        field = exc.message.partition(":")[0].partition("[")[0]
        assert field in attrs.fields_dict(Plan)
        repaired = attrs.evolve(plan, **{field: getattr(Plan(key="k"), field)})
        try:
            validate_plan(repaired)
        except ForsunPlanError as again:
            assert again.message.partition(":")[0].partition("[")[0] != field


valid_texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
int16 = st.integers(-(1 << 15), (1 << 15) - 1)


def fixed(low, high):
    return st.one_of(st.just(-1), st.integers(low, high))


valid_plans = st.builds(
    Plan,
    key=valid_texts.filter(lambda k: k and not set(k) & {"\x00", "\r", "\n"}),
    second=fixed(0, 59), minute=fixed(0, 59), hour=fixed(0, 23), day=fixed(1, 31),
    month=fixed(1, 12), week=fixed(0, 7), is_time_out=st.booleans(),
    count=st.integers(0, (1 << 15) - 1), current_count=int16, status=st.integers(0, 2),
    next_time=st.integers(0, 1 << 40), last_timeout=st.integers(0, 1 << 40),
    action=valid_texts.filter(bool), params=st.dictionaries(valid_texts, valid_texts, max_size=5),
)


@given(st.one_of(valid_plans,
                 st.builds(attrs.evolve, valid_plans, is_time_out=st.just(True),
                           second=int16, minute=int16, hour=int16, day=int16, month=int16,
                           week=int16)))
def test_every_valid_plan_passes_and_an_ascii_one_by_the_fast_path(plan):
    from forsun.plan import _accepted_by_fast_path
    validate_plan(plan)
    text = "".join([plan.key, *plan.params, *plan.params.values()])
    assert _accepted_by_fast_path(plan) == text.isascii()


@given(valid_plans, st.dictionaries(st.sampled_from(PLAN_FIELDS), st.integers() | st.text()))
def test_evolved_copies_as_attrs_evolve_does(plan, changes):
    before = attrs.evolve(plan)
    copy = evolved(plan, **changes)
    assert copy == attrs.evolve(plan, **changes) and copy is not plan
    assert plan == before


def test_validated_list_checks_plain_lists_and_trusts_the_services_marker():
    from forsun.plan import ValidatedPlans, validated_list
    bad = Plan(key="", next_time=10)
    with pytest.raises(ForsunPlanError, match="key"):
        validated_list([Plan(key="ok"), bad])
    with pytest.raises(ForsunPlanError, match="key"):
        validated_list(iter([bad]))
    trusted = ValidatedPlans([bad])
    assert validated_list(trusted) is trusted
    assert validated_list((Plan(key="ok"),)) == [Plan(key="ok")]
