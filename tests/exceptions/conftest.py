import pytest

from tests.security.fixtures import catalogs  # noqa: F401


@pytest.fixture
def soc2(catalogs):  # noqa: F811
    """SOC 2 with the collectors' check-to-control mappings loaded (as ``load_catalogs``)."""
    from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry

    check_mappings_sync_from_registry()
    return catalogs["soc2-2017"]
