"""Which provider, model, key and URL one AI call uses: settings, optionally overridden by the request.

The one rule that matters: a key from the settings is only ever sent to the URL from the settings. A request
that names its own ``base_url`` must bring its own ``api_key`` (or use none); the stored key, the stored URL
and any key in the process environment are never used for it. Every URL is checked with
:func:`proxbalance.netcheck.check_url` before anything connects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from proxbalance.ai.errors import AIRequestError
from proxbalance.config import Settings
from proxbalance.netcheck import check_url

PROVIDERS = ("openai", "anthropic", "ollama")
DEFAULT_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com",
                "ollama": "http://127.0.0.1:11434"}
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
#: a key travels in an HTTP header: visible ASCII only (anything else fails in the client library)
KEY_RE = re.compile(r"^[\x21-\x7e]*$")


@dataclass(frozen=True)
class Connection:
    provider: str
    model: str
    base_url: str  # checked, without a trailing slash
    api_key: str = field(repr=False)  # "" = none
    key_source: str  # "settings" | "request" | "none"
    url_source: str  # "settings" | "request" | "default"
    timeout: float
    max_retries: int
    max_output_tokens: int
    structured: bool

    def describe(self) -> dict:
        """What the answer may say about the connection (never the key)."""
        return {"provider": self.provider, "model": self.model, "base_url": self.base_url,
                "key_source": self.key_source}


def _stored(settings: Settings, provider: str) -> tuple[str, str, str]:
    if provider == "ollama":
        return settings["ai.ollama_host"], settings["ai.ollama_api_key"], settings["ai.ollama_model"]
    return (settings[f"ai.{provider}_base_url"], settings[f"ai.{provider}_api_key"],
            settings[f"ai.{provider}_model"])


def resolve(settings: Settings, *, provider: str | None = None, model: str | None = None,
            api_key: str | None = None, base_url: str | None = None) -> Connection:
    """The connection for one call. Request values (the keyword arguments) win over the settings."""
    provider = provider or settings["ai.provider"]
    if provider not in PROVIDERS:
        raise AIRequestError(f"provider must be one of {', '.join(PROVIDERS)}", details={"field": "provider"})
    stored_url, stored_key, stored_model = _stored(settings, provider)
    if base_url:
        url, url_source = check_url(base_url, field="base_url"), "request"
        key, key_source = (api_key, "request") if api_key else ("", "none")
    else:
        if stored_url:
            url, url_source = check_url(stored_url, field=f"ai.{provider}_base_url"), "settings"
        else:
            url, url_source = DEFAULT_URLS[provider], "default"
        key, key_source = (api_key, "request") if api_key else (stored_key, "settings" if stored_key else "none")
    if not KEY_RE.match(key or ""):
        field = "api_key" if key_source == "request" else f"ai.{provider}_api_key"
        raise AIRequestError(f"{field} must be visible ASCII characters (it is sent in an HTTP header)",
                             details={"field": field})
    model = model or stored_model
    if not MODEL_RE.match(model or ""):
        raise AIRequestError("model must be 1-200 characters of letters, digits and ._:/@+-",
                             details={"field": "model"})
    return Connection(provider=provider, model=model, base_url=url, api_key=key or "", key_source=key_source,
                      url_source=url_source, timeout=float(settings["ai.timeout_seconds"]),
                      max_retries=int(settings["ai.max_retries"]),
                      max_output_tokens=int(settings["ai.max_output_tokens"]),
                      structured=bool(settings["ai.structured_output"]))


def secrets_of(settings: Settings, conn: Connection | None = None) -> list[str]:
    """Every AI key we know of (to scrub them from provider messages)."""
    keys = [settings["ai.openai_api_key"], settings["ai.anthropic_api_key"], settings["ai.ollama_api_key"]]
    if conn is not None:
        keys.append(conn.api_key)
    return [k for k in keys if k]
