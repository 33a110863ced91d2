"""Real local receivers for notification tests: an HTTP endpoint (apprise ``json://``) and an SMTP server
(aiosmtpd, apprise ``mailto://``). Each records what it received."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpReceiver:
    """POSTs are recorded as ``(path, headers, json body)``; ``status`` is what it answers."""

    def __init__(self, status: int = 200):
        self.received: list[tuple[str, dict, dict]] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append((self.path, dict(self.headers), json.loads(body or b"{}")))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "hook", user: str = "pb", password: str = "hook-secret") -> str:
        return f"json://{user}:{password}@127.0.0.1:{self.port}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """Messages are recorded as parsed ``email.message.EmailMessage`` objects."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
                outer.messages.append(message_from_bytes(envelope.content, policy=default_policy))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self, to: str = "admin@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=proxbalance@example.com&to={to}"

    @staticmethod
    def text(message) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    def close(self) -> None:
        self.controller.stop()
