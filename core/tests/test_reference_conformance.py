"""The conformance suite on the reference store and action, which follow the contracts;
and the key generation the suite leaves to the service."""

import pytest

from forsun import hookimpl
from forsun.options import Options
from forsun.plugins import collect_options, get_plugin_manager
from forsun.service import Service
from forsun.testing import ActionConformance, StoreConformance, StoreFactory, make_options
from forsun.testing.reference import ReferenceAction, ReferenceStore, ReferenceTarget


class TestReferenceStore(StoreConformance):
    @pytest.fixture
    def store_factory(self):
        return StoreFactory("forsun.testing.reference:ReferenceStore")


class TestFileReferenceStore(StoreConformance):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return StoreFactory("forsun.testing.reference:FileReferenceStore",
                            {"reference_store_file": str(tmp_path / "journal")})


class TestReferenceAction(ActionConformance):
    @pytest.fixture
    def action(self):
        return ReferenceAction(make_options())

    @pytest.fixture
    def target(self, tmp_path):
        return ReferenceTarget(tmp_path / "deliveries")


class ReferencePlugin:
    """Registers the reference store and action like any plugin would."""

    @hookimpl
    def register_stores(self, register):
        register("reference", ReferenceStore)

    @hookimpl
    def register_actions(self, register):
        register("reference", ReferenceAction)


@pytest.fixture
async def service(tmp_path):
    pm = get_plugin_manager(only=["forsun.core_options", ReferencePlugin()])
    declared = [opt for opts in collect_options(pm).values() for opt in opts]
    service = Service(Options(declared, {"driver": "reference"}), pm)
    await service.store.open()
    yield service
    await service.store.close()


async def test_the_service_gives_each_keyless_plan_a_unique_key(service, tmp_path, make_plan):
    # Stores refuse empty keys (1004, see StoreConformance); generating keys is the service's.
    template = make_plan("", params={"path": str(tmp_path / "out")}, action="reference")
    single = [await service.create(template) for _ in range(50)]
    bulk = await service.create_many([template] * 500)
    keys = [plan.key for plan in single + bulk]
    assert all(keys)
    assert len(set(keys)) == len(keys)
    assert await service.store.keys() == sorted(keys)
    assert template.key == "", "create must not change the caller's plan"
