from tests.api.helpers import *  # noqa: F403
from tests.security.fixtures import *  # noqa: F403
