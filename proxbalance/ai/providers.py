"""The three providers through their official Python clients: ``openai`` (also any OpenAI-compatible server
through ``base_url``), ``anthropic`` and ``ollama``.

``complete(conn, system, user, secrets) -> Completion`` asks for the answer of :data:`answer.SCHEMA`:
OpenAI's ``response_format`` JSON schema, Anthropic's forced tool call, Ollama's ``format`` schema. A server
that rejects the schema (400/422) is asked once more in plain text, parsed tolerantly. ``list_models(conn,
secrets)`` lists model ids. The clients are imported lazily: without the ``proxbalance[ai]`` extra the
error is a clear 503. OpenAI's and Anthropic's clients retry 429/5xx/connection errors themselves
(exponential backoff, honouring ``Retry-After``); Ollama's is wrapped in :func:`transport.with_retries`.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any

from proxbalance.ai import transport
from proxbalance.ai.answer import SCHEMA
from proxbalance.ai.connection import Connection
from proxbalance.ai.errors import AINotInstalledError, AIRefusedError
from proxbalance.ai.transport import PLACEHOLDER_KEY, request_guard

TOOL = "submit_cluster_analysis"


@dataclass
class Completion:
    raw: dict | str  # the parsed tool input / structured object, or the text to parse tolerantly
    usage: dict = field(default_factory=dict)  # input_tokens, output_tokens as the provider counted them
    structured: bool = True  # False when the schema was rejected and plain text was asked for
    truncated: bool = False  # the answer stopped at max_output_tokens


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise AINotInstalledError(f"the {name!r} client is not installed: pip install 'proxbalance[ai]'",
                                  details={"provider": name}) from None


def _schema_rejected(exc: BaseException) -> bool:
    return getattr(exc, "status_code", None) in (400, 422)


# --- OpenAI and compatible servers ------------------------------------------------------------------------

def _openai(conn: Connection):
    openai = _import("openai")
    cred = {"Authorization": f"Bearer {conn.api_key}"} if conn.api_key else {}
    http = openai.DefaultHttpxClient(follow_redirects=False, event_hooks={"request": [request_guard(cred)]})
    client = openai.OpenAI(api_key=conn.api_key or PLACEHOLDER_KEY, base_url=conn.base_url, organization="",
                           project="", admin_api_key="", timeout=conn.timeout, max_retries=conn.max_retries,
                           http_client=http)
    return openai, client


def _openai_complete(conn: Connection, system: str, user: str, secrets: list[str]) -> Completion:
    openai, client = _openai(conn)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    tokens = ({"max_completion_tokens": conn.max_output_tokens} if conn.url_source == "default"
              else {"max_tokens": conn.max_output_tokens})
    fmt = {"type": "json_schema", "json_schema": {"name": TOOL, "schema": SCHEMA, "strict": True}}
    structured = conn.structured
    try:
        try:
            resp = client.chat.completions.create(model=conn.model, messages=messages, temperature=0.2,
                                                  **({"response_format": fmt} if structured else {}), **tokens)
        except openai.APIStatusError as exc:
            if not (structured and _schema_rejected(exc)):
                raise
            structured = False
            resp = client.chat.completions.create(model=conn.model, messages=messages, temperature=0.2, **tokens)
    except openai.OpenAIError as exc:
        raise (transport.sdk_errors(conn, exc, secrets, openai) or exc) from None
    finally:
        client.close()
    if not resp.choices:
        raise AIRefusedError("openai answered without a choice", details={"provider": "openai"})
    choice = resp.choices[0]
    if getattr(choice.message, "refusal", None):
        raise transport.refused(conn, None, f"the model refused: {choice.message.refusal}", secrets)
    usage = {"input_tokens": getattr(resp.usage, "prompt_tokens", None),
             "output_tokens": getattr(resp.usage, "completion_tokens", None)} if resp.usage else {}
    return Completion(choice.message.content or "", usage, structured, choice.finish_reason == "length")


def _openai_models(conn: Connection, secrets: list[str]) -> list[dict]:
    openai, client = _openai(conn)
    try:
        return [{"id": m.id, "owned_by": getattr(m, "owned_by", None)} for m in client.models.list()]
    except openai.OpenAIError as exc:
        raise (transport.sdk_errors(conn, exc, secrets, openai) or exc) from None
    finally:
        client.close()


# --- Anthropic --------------------------------------------------------------------------------------------

def _anthropic(conn: Connection):
    anthropic = _import("anthropic")
    cred = {"x-api-key": conn.api_key} if conn.api_key else {}
    http = anthropic.DefaultHttpxClient(follow_redirects=False, event_hooks={"request": [request_guard(cred)]})
    client = anthropic.Anthropic(api_key=conn.api_key or PLACEHOLDER_KEY, base_url=conn.base_url,
                                 timeout=conn.timeout, max_retries=conn.max_retries, http_client=http)
    return anthropic, client


def _anthropic_complete(conn: Connection, system: str, user: str, secrets: list[str]) -> Completion:
    anthropic, client = _anthropic(conn)
    base = {"model": conn.model, "max_tokens": conn.max_output_tokens, "system": system,
            "messages": [{"role": "user", "content": user}]}
    tools = {"tools": [{"name": TOOL, "description": "Submit the cluster analysis and suggested migrations.",
                        "input_schema": SCHEMA}], "tool_choice": {"type": "tool", "name": TOOL}}
    structured = conn.structured
    try:
        try:
            resp = client.messages.create(**base, **(tools if structured else {}))
        except anthropic.APIStatusError as exc:
            if not (structured and _schema_rejected(exc)):
                raise
            structured = False
            resp = client.messages.create(**base)
    except anthropic.AnthropicError as exc:
        raise (transport.sdk_errors(conn, exc, secrets, anthropic) or exc) from None
    finally:
        client.close()
    if resp.stop_reason == "refusal":
        raise transport.refused(conn, None, "the model refused to answer", secrets)
    usage = {"input_tokens": resp.usage.input_tokens, "output_tokens": resp.usage.output_tokens}
    truncated = resp.stop_reason == "max_tokens"
    for block in resp.content:
        if block.type == "tool_use" and isinstance(block.input, dict):
            return Completion(block.input, usage, True, truncated)
    text = "".join(getattr(b, "text", "") for b in resp.content if b.type == "text")
    return Completion(text, usage, False, truncated)


def _anthropic_models(conn: Connection, secrets: list[str]) -> list[dict]:
    anthropic, client = _anthropic(conn)
    try:
        return [{"id": m.id, "name": getattr(m, "display_name", None)} for m in client.models.list()]
    except anthropic.AnthropicError as exc:
        raise (transport.sdk_errors(conn, exc, secrets, anthropic) or exc) from None
    finally:
        client.close()


# --- Ollama -----------------------------------------------------------------------------------------------

def _ollama(conn: Connection):
    ollama = _import("ollama")
    cred = {"Authorization": f"Bearer {conn.api_key}"} if conn.api_key else {}
    client = ollama.Client(host=conn.base_url, timeout=conn.timeout, follow_redirects=False,
                           event_hooks={"request": [request_guard(cred)]})
    return ollama, client


def _ollama_call(conn: Connection, secrets: list[str], fn):
    ollama = _import("ollama")
    httpx = _import("httpx")

    def retriable(exc: BaseException) -> bool:
        if isinstance(exc, ollama.ResponseError):
            return exc.status_code == 429 or exc.status_code >= 500
        return isinstance(exc, (ConnectionError, httpx.TransportError)) and not isinstance(exc, httpx.TimeoutException)

    try:
        return transport.with_retries(fn, retriable, conn.max_retries)
    except httpx.TimeoutException as exc:
        raise transport.unavailable(conn, exc, secrets, timed_out=True) from None
    except ollama.ResponseError as exc:
        if exc.status_code == 429:
            raise transport.unavailable(conn, exc, secrets, rate_limited=True) from None
        if exc.status_code >= 500:
            raise transport.unavailable(conn, exc, secrets) from None
        raise transport.refused(conn, exc.status_code, str(exc.error), secrets) from None
    except (ConnectionError, httpx.TransportError) as exc:
        raise transport.unavailable(conn, exc, secrets) from None


def _ollama_complete(conn: Connection, system: str, user: str, secrets: list[str]) -> Completion:
    ollama, client = _ollama(conn)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    options = {"num_predict": conn.max_output_tokens, "temperature": 0.2}
    state = {"structured": conn.structured}

    def call():
        try:
            return client.chat(model=conn.model, messages=messages, options=options, stream=False,
                               format=SCHEMA if state["structured"] else None)
        except ollama.ResponseError as exc:
            if not (state["structured"] and _schema_rejected(exc)):
                raise
            state["structured"] = False
            return client.chat(model=conn.model, messages=messages, options=options, stream=False)

    resp = _ollama_call(conn, secrets, call)
    usage = {"input_tokens": resp.get("prompt_eval_count"), "output_tokens": resp.get("eval_count")}
    return Completion(resp.message.content or "", usage, state["structured"], resp.get("done_reason") == "length")


def _ollama_models(conn: Connection, secrets: list[str]) -> list[dict]:
    _, client = _ollama(conn)
    resp = _ollama_call(conn, secrets, client.list)
    return [{"id": m.model, "size": m.size} for m in resp.models]


_COMPLETE = {"openai": _openai_complete, "anthropic": _anthropic_complete, "ollama": _ollama_complete}
_MODELS = {"openai": _openai_models, "anthropic": _anthropic_models, "ollama": _ollama_models}


def complete(conn: Connection, system: str, user: str, secrets: list[str]) -> Completion:
    return _COMPLETE[conn.provider](conn, system, user, secrets)


def list_models(conn: Connection, secrets: list[str]) -> list[dict]:
    return _MODELS[conn.provider](conn, secrets)


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)
