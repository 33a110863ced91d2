"""Local HTTP servers speaking each AI provider's wire protocol, for the official clients to talk to.

``FakeProvider("openai" | "anthropic" | "ollama")`` serves on 127.0.0.1 (threaded ``http.server``):
OpenAI ``POST /v1/chat/completions`` and ``GET /v1/models``; Anthropic ``POST /v1/messages`` and
``GET /v1/models``; Ollama ``POST /api/chat`` and ``GET /api/tags``. ``answer`` is what the model says
(a dict is sent as structured output / a tool call, a str as plain text). ``script`` is consumed one entry
per request before the normal answer: ``{"status": 429, "headers": {...}, "json": {...}}`` answers with
that, ``{"delay": s}`` sleeps first. Every request is recorded in ``requests`` (method, path, headers, body).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeProvider:
    def __init__(self, kind: str, answer: dict | str | None = None, models: list[str] | None = None):
        self.kind = kind
        self.answer = answer if answer is not None else {"analysis": "ok", "recommendations": [],
                                                         "predicted_issues": []}
        self.models = models or {"openai": ["gpt-test", "gpt-other"], "anthropic": ["claude-test"],
                                 "ollama": ["llama3.1:latest"]}[kind]
        self.script: list[dict] = []
        self.requests: list[dict] = []
        self.reject_schema = False  # answer 400 to requests that carry a schema / tools
        self.refuse = False  # the model refuses (OpenAI ``refusal``, Anthropic ``stop_reason: refusal``)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._handle(self, None)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                fake._handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def base_url(self) -> str:
        root = f"http://127.0.0.1:{self.port}"
        return root + "/v1" if self.kind == "openai" else root

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- protocol ------------------------------------------------------------------------------------

    def _send(self, h, status: int, payload, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        try:
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _handle(self, h, body) -> None:
        with self._lock:
            self.requests.append({"method": h.command, "path": h.path, "headers": dict(h.headers.items()),
                                  "body": body})
            step = self.script.pop(0) if self.script else {}
        if step.get("delay"):
            time.sleep(step["delay"])
        if "status" in step:
            return self._send(h, step["status"], step.get("json", {"error": {"message": "scripted"}}),
                              step.get("headers"))
        path = h.path.split("?")[0]
        if h.command == "GET":
            return self._send(h, 200, self._models()) if path in ("/v1/models", "/api/tags") else \
                self._send(h, 404, {"error": {"message": f"no route {path}"}})
        wants_schema = bool(body and (body.get("response_format") or body.get("tools") or body.get("format")))
        if self.reject_schema and wants_schema:
            return self._send(h, 400, {"error": {"message": "response_format / tools not supported",
                                                 "type": "invalid_request_error"}})
        route = {"/v1/chat/completions": self._openai, "/v1/messages": self._anthropic, "/api/chat": self._ollama}
        fn = route.get(path)
        if fn is None:
            return self._send(h, 404, {"error": {"message": f"no route {path}"}})
        return self._send(h, 200, fn(body, wants_schema))

    def _text(self) -> str:
        return self.answer if isinstance(self.answer, str) else json.dumps(self.answer)

    def _models(self) -> dict:
        if self.kind == "openai":
            return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "local"}
                                               for m in self.models]}
        if self.kind == "anthropic":
            return {"data": [{"type": "model", "id": m, "display_name": m.title(), "created_at": "2025-01-01T00:00:00Z"}
                             for m in self.models], "has_more": False, "first_id": self.models[0],
                    "last_id": self.models[-1]}
        return {"models": [{"name": m, "model": m, "modified_at": "2025-01-01T00:00:00Z", "size": 4_000_000_000,
                            "digest": "0" * 64, "details": {"format": "gguf", "family": "llama"}}
                           for m in self.models]}

    def _openai(self, body, _schema) -> dict:
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": None if self.refuse else self._text(),
                                         "refusal": "I can't help with that." if self.refuse else None}}],
                "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}}

    def _anthropic(self, body, schema) -> dict:
        if schema and isinstance(self.answer, dict):
            content = [{"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"], "input": self.answer}]
            stop = "tool_use"
        else:
            content, stop = [{"type": "text", "text": self._text()}], "end_turn"
        if self.refuse:
            content, stop = [], "refusal"
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"),
                "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": 1200, "output_tokens": 300}}

    def _ollama(self, body, _schema) -> dict:
        return {"model": body.get("model"), "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": self._text()}, "done": True, "done_reason": "stop",
                "prompt_eval_count": 1200, "eval_count": 300}
