from tests.reviews.fixtures import catalogs, media_root, users  # noqa: F401
