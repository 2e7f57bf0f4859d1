"""The conformance suite must catch stores and actions that break their contract.

Each class below breaks one rule of the reference store or action. The test writes a test
module subclassing the suite for every one of them and runs, with pytest in a child
process, the tests guarding each rule and one unrelated test (this file is copied next to
the module as ``broken_plugins.py`` so that it, and the crash test's own child, can import
these classes). The guarding tests must fail and the unrelated one must pass.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import attrs
import pytest

from forsun.action.base import ActionError
from forsun.testing.reference import FileReferenceStore, ReferenceAction, ReferenceStore

# -- broken stores -----------------------------------------------------------------------


class ForgetfulStore(FileReferenceStore):
    """Loses its data whenever it is opened again."""

    async def open(self):
        self.path.write_bytes(b"")
        await super().open()


class BufferedStore(FileReferenceStore):
    """Declares ``durable`` but keeps its journal in memory until close()."""

    def __init__(self, options):
        super().__init__(options)
        self._pending = []

    def _write(self, data):
        self._pending.append(data)

    async def close(self):
        if self._fd is not None:
            with self._sync():
                super()._write(b"".join(self._pending))
        await super().close()


class KeyOrderStore(ReferenceStore):
    """Orders due and claimed plans by key, ignoring their due second."""

    async def due(self, start, end):
        return sorted(await super().due(start, end), key=lambda plan: plan.key)

    async def claim(self, up_to, *, node, lease_until, limit=10_000):
        claimed = await super().claim(up_to, node=node, lease_until=lease_until, limit=limit)
        return sorted(claimed, key=lambda plan: plan.key)


class RegexPrefixStore(ReferenceStore):
    """Treats the key prefix as a regular expression."""

    async def keys(self, prefix=""):
        return [key for key in await super().keys() if re.match(prefix, key)]


class DoubleClaimStore(ReferenceStore):
    """Forgets a lease as soon as it hands the occurrence out."""

    async def claim(self, up_to, *, node, lease_until, limit=10_000):
        claimed = await super().claim(up_to, node=node, lease_until=lease_until, limit=limit)
        await self.release(node)
        return claimed


class UncheckedStore(ReferenceStore):
    """Stores whatever it is given."""

    async def put_many(self, plans):
        self._commit([{"put": attrs.asdict(plan)} for plan in plans])


class OverwritingStore(ReferenceStore):
    """Reschedules without checking that the stored plan is still the claimed one."""

    async def reschedule(self, claimed, successor):
        if successor is None:
            self._commit([{"drop": claimed.key}])
        else:
            self._commit([{"put": successor.to_dict()}])


class MisreportingStore(ReferenceStore):
    """Reports every rescheduled plan as still claimed, replaced or removed ones too."""

    async def reschedule(self, claimed, successor):
        await super().reschedule(claimed, successor)
        return True


class DeafStore(ReferenceStore):
    """Takes every heartbeat for one that lasts forever: a silent node keeps its claims."""

    async def heartbeat(self, node, alive_until):
        return await super().heartbeat(node, float("inf"))


# -- broken actions ----------------------------------------------------------------------


class BlockingAction(ReferenceAction):
    """Waits with time.sleep, blocking the event loop."""

    async def execute(self, firing):
        time.sleep(float(firing.params.get("sleep") or 0))
        await super().execute(attrs.evolve(firing, params={**firing.params, "sleep": "0"}))


class UnvalidatedAction(ReferenceAction):
    """Accepts plans without the params it needs."""

    required_params = ()


class NeverRetryAction(ReferenceAction):
    """Never asks for a retry."""

    async def execute(self, firing):
        try:
            await super().execute(firing)
        except ActionError as exc:
            raise ActionError(str(exc)) from exc


class ClockStampAction(ReferenceAction):
    """Hands over the current second instead of the due second."""

    async def execute(self, firing):
        await super().execute(attrs.evolve(firing, ts=int(time.time())))


class DirectWriteAction(ReferenceAction):
    """Does its blocking write on the event loop instead of through run_blocking."""

    async def run_blocking(self, func, *args, **kwargs):
        return func(*args, **kwargs)


# -- what the suite must catch -----------------------------------------------------------

STORE_PASSES = "test_put_then_get_round_trips_every_field"
ACTION_PASSES = "test_ok_params_are_valid"

#: broken class -> (tests that must fail, a test that must pass)
CAUGHT = {
    "ForgetfulStore": (["test_data_survives_close_and_reopen",
                        "test_in_flight_occurrences_survive_close_and_reopen",
                        "test_acknowledged_writes_survive_sigkill"], STORE_PASSES),
    "BufferedStore": (["test_acknowledged_writes_survive_sigkill"],
                      "test_data_survives_close_and_reopen"),
    "KeyOrderStore": (["test_due_over_a_range_in_due_order",
                       "test_claim_takes_due_plans_in_due_order"], STORE_PASSES),
    "RegexPrefixStore": (["test_keys_prefix_is_literal_text[.]",
                          "test_keys_prefix_is_literal_text[*]",
                          "test_keys_prefix_is_literal_text[+]",
                          "test_keys_prefix_is_literal_text[[]"],
                         "test_keys_are_sorted_and_filtered_by_prefix"),
    "DoubleClaimStore": (["test_claim_never_returns_a_leased_occurrence_again",
                          "test_concurrent_claims_share_out_each_occurrence_once",
                          "test_expired_lease_is_claimed_again"], STORE_PASSES),
    "UncheckedStore": ([f"test_bad_input_is_rejected_with_1004_and_changes_nothing[{case}]"
                        for case in ("empty-key", "key-with-newline", "param-value-int",
                                     "second-60", "count-negative")], STORE_PASSES),
    "OverwritingStore": (["test_reschedule_leaves_a_replaced_plan_alone",
                          "test_reschedule_leaves_a_removed_plan_alone"],
                         "test_reschedule_puts_the_successor"),
    "MisreportingStore": (["test_reschedule_leaves_a_replaced_plan_alone",
                           "test_reschedule_leaves_a_removed_plan_alone",
                           "test_reschedule_many_reports_which_plans_were_still_claimed"],
                          "test_reschedule_puts_the_successor"),
    "DeafStore": (["test_a_silent_nodes_claims_are_taken_over",
                   "test_a_taken_over_node_claims_nothing_until_it_heartbeats"],
                  "test_a_live_nodes_claims_are_kept"),
    "BlockingAction": (["test_execution_does_not_block_the_event_loop",
                        "test_timeout_stops_the_execution"], ACTION_PASSES),
    "UnvalidatedAction": (["test_missing_required_param_is_rejected_with_1007"],
                          "test_execute_delivers_the_key_and_due_second"),
    "NeverRetryAction": (["test_failure_can_ask_for_a_retry"],
                         "test_failure_is_reported_without_retry"),
    "ClockStampAction": (["test_execute_delivers_the_key_and_due_second",
                          "test_a_retry_attempt_delivers_like_the_first",
                          "test_concurrent_executions_are_all_delivered"], ACTION_PASSES),
    "DirectWriteAction": (["test_blocking_client_runs_in_the_thread_pool"],
                          "test_execute_delivers_the_key_and_due_second"),
}

STORE_CLASS = '''
class Test{name}(StoreConformance):
    bulk_size = 1000

    @pytest.fixture
    def store_factory(self, tmp_path):
        return StoreFactory("broken_plugins:{name}",
                            {{"reference_store_file": str(tmp_path / "journal")}})
'''

ACTION_CLASS = '''
class Test{name}(ActionConformance):
    @pytest.fixture
    def action(self):
        return broken_plugins.{name}(make_options())

    @pytest.fixture
    def target(self, tmp_path):
        return ReferenceTarget(tmp_path / "deliveries")
'''

HEADER = '''
import pytest

import broken_plugins
from forsun.testing import ActionConformance, StoreConformance, StoreFactory, make_options
from forsun.testing.reference import ReferenceTarget


class TestForgotTheFactory(StoreConformance):
    pass
'''


OUTCOMES = {"failure": "failed", "error": "error", "skipped": "skipped"}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """``{(class, test): (outcome, message)}`` of the suite run on every broken class;
    outcome is "passed", "failed", "error" or "skipped"."""
    workdir = tmp_path_factory.mktemp("selftest")
    shutil.copy(__file__, workdir / "broken_plugins.py")
    source = [HEADER]
    for name in CAUGHT:
        template = STORE_CLASS if name.endswith("Store") else ACTION_CLASS
        source.append(template.format(name=name))
    (workdir / "test_broken.py").write_text("\n".join(source))
    selected = [f"test_broken.py::TestForgotTheFactory::{STORE_PASSES}"]
    for name, (must_fail, must_pass) in CAUGHT.items():
        selected += [f"test_broken.py::Test{name}::{test}" for test in [*must_fail, must_pass]]
    report = workdir / "report.xml"
    env = dict(os.environ, PYTHONPATH=str(workdir))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "forsun.testing.fixtures", "-p",
         "no:cacheprovider", "-q", "--tb=line", f"--junitxml={report}", *selected],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=240)
    assert report.exists(), run.stdout + run.stderr
    results = {}
    for case in ET.parse(report).iter("testcase"):
        outcome, text = "passed", ""
        for child in case:
            if child.tag in OUTCOMES:
                outcome, text = OUTCOMES[child.tag], f"{child.get('message')}\n{child.text}"
        results[(case.get("classname").rpartition(".")[2], case.get("name"))] = (outcome, text)
    return results


@pytest.mark.parametrize("broken", list(CAUGHT))
def test_the_suite_catches(outcomes, broken):
    must_fail, must_pass = CAUGHT[broken]
    cls = f"Test{broken}"
    got = {test: outcome for (c, test), (outcome, _) in outcomes.items() if c == cls}
    assert got.get(must_pass) == "passed", f"{cls}::{must_pass}: {got.get(must_pass)}"
    for test in must_fail:
        assert got.get(test) == "failed", (
            f"{cls}::{test}: {got.get(test)}; not passed: "
            f"{sorted(t for t, outcome in got.items() if outcome != 'passed')}")


def test_a_missing_factory_fixture_says_it_must_be_overridden(outcomes):
    got = [result for (cls, _), result in outcomes.items() if cls == "TestForgotTheFactory"]
    assert got, "no test of TestForgotTheFactory ran"
    for outcome, text in got:
        assert outcome == "error"
        assert "must override the store_factory fixture" in text
