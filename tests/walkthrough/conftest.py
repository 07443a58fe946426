"""Fixtures for the new-user walkthrough tests (issue 12): the reviews fixtures."""

from tests.reviews.fixtures import catalogs, media_root, people, users  # noqa: F401
