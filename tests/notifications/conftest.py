from tests.reviews.fixtures import catalogs, media_root, users  # noqa: F401
from tests.tasks.fixtures import demo, owner  # noqa: F401
