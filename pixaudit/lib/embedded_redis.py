"""An in-process Redis for the embedded default (no ``REDIS_URL``).

django-rq resolves a queue's connection through ``USE_REDIS_CACHE`` by reading the cache's
``_client`` attribute; this "cache" exists only to hand it a fakeredis server shared by the
whole process. Queues are configured ``ASYNC: False`` in that mode, so every job runs at once,
in the enqueuing process, after the surrounding transaction commits.
"""

from __future__ import annotations

import fakeredis
from django.core.cache.backends.base import BaseCache

_SERVER = fakeredis.FakeServer()


class EmbeddedRedisCache(BaseCache):
    """Not a cache: a holder of the process-wide fakeredis client for django-rq."""

    def __init__(self, location: str, params: dict) -> None:
        super().__init__(params)
        self._client = fakeredis.FakeRedis(server=_SERVER)
