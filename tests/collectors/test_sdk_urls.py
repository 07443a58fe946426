"""resource_url: URLs named as resources carry no credentials or tokens, in one normal form."""

from __future__ import annotations

import pytest

from collectors.urls import resource_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v1/items", "https://api.example.com/v1/items"),
        ("HTTPS://Api.Example.COM:443/v1?token=s3cret#top", "https://api.example.com/v1"),
        ("http://admin:hunter2@intranet.example:80", "http://intranet.example/"),
        ("https://hooks.example/x?sig=abc&sv=2024", "https://hooks.example/x"),
        ("http://127.0.0.1:8443/health", "http://127.0.0.1:8443/health"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("  https://example.com/Case/Kept  ", "https://example.com/Case/Kept"),
    ],
)
def test_drops_credentials_query_and_fragment_by_default(url: str, expected: str) -> None:
    assert resource_url(url) == expected


def test_query_kept_on_request_sorted_or_filtered() -> None:
    url = "https://example.com/list?b=2&token=x&a=1"
    assert resource_url(url, keep_query=True) == "https://example.com/list?a=1&b=2&token=x"
    assert resource_url(url, keep_query=("a", "b")) == "https://example.com/list?a=1&b=2"
    assert resource_url(url, keep_query="b") == "https://example.com/list?b=2"


def test_credentials_kept_on_request_are_the_user_name_only() -> None:
    url = "https://deploy:t0ken@git.example.com/repo.git"
    assert resource_url(url, keep_credentials=True) == "https://deploy@git.example.com/repo.git"


@pytest.mark.parametrize("bad", ["example.com/path", "/relative", "https:///no-host", ""])
def test_anything_but_an_absolute_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an absolute URL"):
        resource_url(bad)
