from tests.reviews.fixtures import catalogs, media_root, people, users  # noqa: F401
