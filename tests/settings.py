"""Test settings: the real settings module, with fast and isolated overrides.

The suite runs on whatever DATABASE_URL / REDIS_URL say (scripts/run_tests.sh points them at
the local PostgreSQL and Redis when those are reachable) and on SQLite with the embedded
queue otherwise. Queues run jobs in-process by default even on a real Redis; tests that need
a real worker start one explicitly.
"""

import os
import tempfile

os.environ.setdefault("PIXAUDIT_ENV", "test")
os.environ.setdefault("PIXAUDIT_VAR_DIR", tempfile.mkdtemp(prefix="pixaudit-test-var-"))

from pixaudit.settings import *  # noqa: E402,F403
from pixaudit.settings import RQ_QUEUES, STORAGES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    **STORAGES,
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    },
}
# Worker processes a test starts for jobs that enqueue further jobs (an organisation run's
# listing job fans out account jobs) keep their queues on Redis.
if os.environ.get("PIXAUDIT_TEST_WORKER_ASYNC") != "1":
    for _queue in RQ_QUEUES.values():
        _queue["ASYNC"] = False

# The local fixture servers of collector tests speak plain HTTP on 127.0.0.1.
PIXAUDIT_ALLOW_HTTP_LOOPBACK = True
