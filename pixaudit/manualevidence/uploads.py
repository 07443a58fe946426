"""An upload handler that enforces the manual evidence size limit while the body streams.

Installed first in ``request.upload_handlers`` by the upload view (before anything reads
``request.POST``): it counts the file's bytes as they arrive and stops the upload the moment
the limit is passed, so an oversized file is never read whole or stored.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class LimitedUploadHandler(FileUploadHandler):
    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.upload_too_large = True
            # Drain the rest of the body without keeping it, so the error page is delivered.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
