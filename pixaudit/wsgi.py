"""WSGI entry point (``gunicorn pixaudit.wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixaudit.settings")
application = get_wsgi_application()

# The embedded default (no REDIS_URL): serve the in-process queues in background threads so
# that pages never wait for a job (pixaudit.lib.embedded_worker).
from pixaudit.lib.embedded_worker import embedded_worker_start, embedded_worker_wanted  # noqa: E402

if embedded_worker_wanted():
    embedded_worker_start()
