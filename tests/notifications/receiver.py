"""A webhook receiver on 127.0.0.1 that checks pixaudit's signatures like a real one would."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pixaudit.notifications.signing import SignatureError, verify


class Receiver:
    """``url``, ``accepted`` (parsed bodies), ``rejected`` (reasons); ``fail_next`` answers 503."""

    def __init__(self, secret: str = ""):
        self.secret = secret
        self.accepted: list[dict] = []
        self.rejected: list[str] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.seen: dict[str, float] = {}
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.raw.append((dict(self.headers.items()), body))
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    return self._answer(503)
                if receiver.secret:
                    try:
                        verify(secret=receiver.secret, headers=self.headers, body=body,
                               seen=receiver.seen)  # fmt: skip
                    except SignatureError as exc:
                        receiver.rejected.append(str(exc))
                        return self._answer(401)
                receiver.accepted.append(json.loads(body))
                return self._answer(204)

            def _answer(self, code: int):
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
