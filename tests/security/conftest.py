from tests.security.fixtures import *  # noqa: F403
