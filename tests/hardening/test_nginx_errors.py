"""nginx's own 413/502/504 answers are the API's JSON error shape (error_page in nginx/proxbalance.conf)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

from tests.test_deploy import free_port, need, nginx_config


def _call(url: str, data: bytes | None = None) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("Content-Type", "")


def test_nginx_errors_are_json(tmp_path):
    nginx = need("nginx")
    listen, dead = free_port(), free_port()
    mute = socket.socket()  # accepts connections and never answers: nginx times out (504)
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    conf = nginx_config(tmp_path, listen, dead)
    site = (tmp_path / "site.conf").read_text()
    site = site.replace("location = /metrics {", "location = /metrics {\n        proxy_pass "
                        f"http://127.0.0.1:{mute.getsockname()[1]};\n        proxy_read_timeout 1s;\n"
                        "    }\n    location = /metrics-unused {")
    (tmp_path / "site.conf").write_text(site)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{listen}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        status, body, ctype = _call(f"{base}/api/health")  # the app is down
        assert status == 502 and body["error"]["code"] == "bad_gateway" and body["success"] is False
        assert ctype.startswith("application/json") and len(body["request_id"]) == 32
        status, body, _ = _call(f"{base}/api/keys", data=b"x" * (3 * 1024 * 1024))  # above client_max_body_size
        assert status == 413 and body["error"]["code"] == "payload_too_large"
        status, body, _ = _call(f"{base}/metrics")
        assert status == 504 and body["error"]["code"] == "gateway_timeout"
    finally:
        proc.terminate()
        proc.wait(10)
        mute.close()
