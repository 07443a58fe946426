from tests.security.fixtures import catalogs, soc2  # noqa: F401
