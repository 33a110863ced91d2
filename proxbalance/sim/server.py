"""The HTTPS server: a small WSGI app speaking PVE's API (``/api2/json``) and the admin API (``/admin``),
served by werkzeug's threaded server with TLS; :class:`SimServer` is the public entry point."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

from werkzeug.serving import WSGIRequestHandler, make_server

from proxbalance.sim import api_admin, api_cluster, api_nodes, api_tasks, faults  # noqa: F401 (routes)
from proxbalance.sim.api_access import AccessAuth  # users, tokens, ACLs (registers its routes first)
from proxbalance.sim.ha import HAManager
from proxbalance.sim.pve_errors import PVEError
from proxbalance.sim.routing import Ctx, match, validate
from proxbalance.sim.scenarios import build, load_scenario
from proxbalance.sim.tasks import TaskManager
from proxbalance.sim.traces import Trace

HEADERS = [("Content-Type", "application/json;charset=UTF-8"), ("Cache-Control", "max-age=0"),
           ("Pragma", "no-cache"), ("Server", "pve-api-daemon/3.0")]


class DropConnection(Exception):
    """An ``api_fault`` with ``drop``: close the client's connection instead of answering."""


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


def _reason(message: str) -> str:
    line = (message.strip().splitlines() or [""])[0]
    return line.encode("latin-1", "replace").decode("latin-1")[:200]


class SimServer:
    """A simulated PVE cluster served over HTTPS. See docs/simulator.md."""

    def __init__(self, scenario: str = "demo", seed: int | None = 0, speed: float = 60.0, host: str = "127.0.0.1",
                 port: int = 0, stepped: bool = False, trace_path: str | None = None, state_dir: str | None = None):
        self.scenario = load_scenario(scenario)
        self.trace = Trace.load(trace_path)
        self.cluster = build(self.scenario, seed, self.trace, speed, stepped)
        self.seed = self.cluster.seed
        self.tasks = TaskManager(self.cluster)
        self.ha = HAManager(self.cluster, self.tasks)
        self.faults = faults.Faults(self.seed)
        self.auth = AccessAuth()
        self.resources_cache: dict = {}
        self.host, self.port = host, port
        self._state_dir = Path(state_dir) if state_dir else None
        self._tmp = None
        self._server = None
        self._thread = None
        self.fingerprint = ""
        self.ca_file = ""
        for f in self.scenario.faults:
            params = {k: v for k, v in f.items() if k not in ("at", "action")}
            self.cluster.schedule(self.cluster.clock.epoch + float(f["at"]),
                                  lambda at, a=f["action"], p=params: faults.apply(self, a, p, at))

    # ---- public API ----------------------------------------------------------------------------
    token_user = property(lambda self: self.auth.user)
    token_name = property(lambda self: self.auth.token_name)
    token_value = property(lambda self: self.auth.token_value)
    token_id = property(lambda self: self.auth.token_id)
    password = property(lambda self: self.auth.password)
    url = property(lambda self: f"https://{self.host}:{self.port}")
    api_url = property(lambda self: f"{self.url}/api2/json")
    admin_url = property(lambda self: f"{self.url}/admin")

    @property
    def token(self) -> str:
        return f"{self.auth.token_id}={self.auth.token_value}"

    def connection_settings(self) -> dict[str, object]:
        """The ``proxmox.*`` settings that point ProxBalance at this simulator (token auth, its CA)."""
        return {"proxmox.host": self.host, "proxmox.port": self.port, "proxmox.token_id": self.token_id,
                "proxmox.token_secret": self.token_value, "proxmox.ca_file": self.ca_file}

    def start(self) -> SimServer:
        if self._state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="proxbalance-sim-")
            self._state_dir = Path(self._tmp.name)
        from proxbalance.sim.tls import make_cert
        cert, key, self.fingerprint = make_cert(self._state_dir, self.host)
        self.ca_file = str(cert)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self._server = make_server(self.host, self.port, self, threaded=True, ssl_context=ctx,
                                   request_handler=_QuietHandler)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="proxbalance-sim", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        while self._thread and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def advance(self, seconds: float) -> float:
        return self.cluster.advance(seconds)

    def now(self) -> float:
        return self.cluster.sync()

    def fault(self, action: str, **params) -> dict:
        return faults.apply(self, action, params, self.cluster.sync())

    def state(self) -> dict:
        c = self.cluster
        return {"time": c.sync(), "elapsed": c.clock.elapsed(), "speed": c.clock.speed, "stepped": c.clock.stepped,
                "scenario": self.scenario.name, "seed": self.seed, "quorate": int(c.quorate),
                "nodes": {n.name: {"online": int(n.online), "maintenance": int(n.maintenance)} for n in c.nodes},
                "api_faults": len(self.faults.api), "fail_migrations": dict(c.fail_migrations)}

    # ---- WSGI --------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        try:
            status, body = self._dispatch(environ)
        except DropConnection:
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise ConnectionResetError("simulated dropped connection") from None  # werkzeug: connection_dropped
        except PVEError as exc:
            status = f"{exc.status} {_reason(exc.message)}"
            payload = {"data": None, "message": exc.message + "\n"}
            if exc.errors:
                payload["errors"] = exc.errors
            body = json.dumps(payload).encode()
        except Exception as exc:  # a bug in the simulator: answer like a PVE internal error
            status = f"500 {_reason(repr(exc))}"
            body = json.dumps({"data": None, "message": repr(exc) + "\n"}).encode()
        headers = list(HEADERS)
        if len(body) > 4096 and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = body.gzipped() if isinstance(body, api_cluster.Raw) else gzip.compress(body, 1)
            headers.append(("Content-Encoding", "gzip"))
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def _params(self, environ) -> dict:
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            raw = environ["wsgi.input"].read(length)
            if environ.get("CONTENT_TYPE", "").startswith("application/json"):
                try:
                    data = json.loads(raw or b"{}")
                except ValueError as exc:
                    raise PVEError(400, f"JSON decode error: {exc}") from None
                params.update({k: v for k, v in data.items()})
            else:
                params.update(parse_qsl(raw.decode(), keep_blank_values=True))
        return params

    def _dispatch(self, environ) -> tuple[str, bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/admin"):
            user, reason = self.auth.check(environ, method != "GET")
            if user is None:
                raise PVEError(401, reason)
            code, data = api_admin.handle(self, method, path.rstrip("/"), self._params(environ))
            return f"{code} {'OK' if code == 200 else 'Error'}", json.dumps({"data": data}).encode()
        if not path.startswith("/api2/json/"):
            raise PVEError(501, f"Method '{method} {path}' not implemented")
        sub = path[len("/api2/json"):].rstrip("/") or "/"
        params = self._params(environ)
        if sub == "/access/ticket" and method == "POST":
            res = self.auth.login(params.get("username", ""), params.get("password", ""), params.get("realm"))
            if res is None:
                raise PVEError(401, "authentication failure")
            return "200 OK", json.dumps({"data": res}).encode()
        user, reason = self.auth.check(environ, method != "GET")
        if user is None:
            raise PVEError(401, reason)
        latency, err = self.faults.for_path(sub)
        if latency:
            time.sleep(latency)
        if err is not None and err.drop == "before":
            raise DropConnection()
        if err is not None and not err.drop:
            raise PVEError(err.status, err.message)
        found = match(method, sub)
        if not found:
            raise PVEError(501, f"Method '{method} {path}' not implemented")
        fn, path_params, spec = found
        p = validate({**params, **path_params}, spec)
        result = fn(Ctx(self, user, self.cluster.sync()), p)
        if err is not None:  # drop == "after": done, but the answer never leaves
            raise DropConnection()
        if isinstance(result, api_cluster.Raw):
            return "200 OK", result
        return "200 OK", json.dumps({"data": result}, separators=(",", ":")).encode()
