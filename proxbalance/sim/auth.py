"""PVE authentication: API tokens and tickets with CSRF prevention tokens (HMAC-signed, wall-clock TTL)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from http.cookies import SimpleCookie

TICKET_TTL = 7200


class Auth:
    def __init__(self, user: str = "root@pam", token_name: str = "proxbalance", password: str | None = None):
        self.user = user
        self.token_name = token_name
        self.token_value = str(uuid.uuid4())
        self.password = password or secrets.token_urlsafe(12)
        self._key = secrets.token_bytes(32)

    @property
    def token_id(self) -> str:
        return f"{self.user}!{self.token_name}"

    def _sig(self, text: str) -> str:
        return base64.b64encode(hmac.new(self._key, text.encode(), hashlib.sha256).digest()).decode()

    def login(self, username: str, password: str, realm: str | None = None) -> dict | None:
        if realm and "@" not in username:
            username = f"{username}@{realm}"
        if username != self.user or not hmac.compare_digest(password.encode(), self.password.encode()):
            return None
        ts = f"{int(time.time()):08X}"
        plain = f"PVE:{username}:{ts}"
        return {"username": username, "ticket": f"{plain}::{self._sig(plain)}",
                "CSRFPreventionToken": f"{ts}:{self._sig(ts + ':' + username)}", "clustername": None}

    def check(self, environ: dict, write: bool) -> tuple[str | None, str]:
        """(user or None, reason) for one request."""
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("PVEAPIToken"):
            tok = header[len("PVEAPIToken"):].lstrip("= ")
            tid, _, secret = tok.rpartition("=")
            if tid == self.token_id and hmac.compare_digest(secret.encode(), self.token_value.encode()):
                return tid, ""
            return None, "invalid token value!"
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        if "PVEAuthCookie" not in cookie:
            return None, "No ticket"
        ticket = cookie["PVEAuthCookie"].value
        plain, _, sig = ticket.partition("::")
        parts = plain.split(":")
        if len(parts) != 3 or not hmac.compare_digest(sig.encode(), self._sig(plain).encode()):
            return None, "invalid ticket"
        if time.time() - int(parts[2], 16) > TICKET_TTL:
            return None, "ticket expired"
        user = parts[1]
        if write:
            csrf = environ.get("HTTP_CSRFPREVENTIONTOKEN", "")
            ts, _, csig = csrf.partition(":")
            if not csig or not hmac.compare_digest(csig.encode(), self._sig(ts + ":" + user).encode()):
                return None, "Permission denied - invalid csrf token"
        return user, ""
