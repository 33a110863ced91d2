"""A real HTTP server with a FIXED number of request threads (like gunicorn's gthread worker), for tests
where thread starvation is the point."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from werkzeug.serving import BaseWSGIServer


class FixedPoolServer(BaseWSGIServer):
    """werkzeug's server, but each request runs on one of ``threads`` pool threads (queued when all busy)."""

    def __init__(self, host: str, port: int, app, threads: int = 4):
        super().__init__(host, port, app)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")

    def process_request(self, request, client_address):
        self.pool.submit(self._handle, request, client_address)

    def _handle(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def serve(app, threads: int = 4) -> tuple[FixedPoolServer, str]:
    server = FixedPoolServer("127.0.0.1", 0, app, threads=threads)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def stop(server: FixedPoolServer) -> None:
    server.shutdown()
    server.server_close()
    server.pool.shutdown(wait=False, cancel_futures=True)
