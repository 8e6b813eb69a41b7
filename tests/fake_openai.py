"""A real OpenAI-compatible HTTP server on 127.0.0.1 whose replies each test scripts.

It speaks ``POST /v1/chat/completions`` both as one JSON body and as a server-sent
event stream (``data: {chunk}`` lines ending with ``data: [DONE]``), the way llama.cpp,
vLLM and LM Studio do, and records every request body it receives::

    with FakeOpenAI(lambda request: "It flew 1,100 km [1].") as server:
        settings = settings.replace(llm_base_url=server.url)
        ...
        server.requests[-1]["messages"]

Given ``embed`` (texts -> vectors), it also serves embeddings, as a GPU embedding server
would: ``POST /v1/embeddings`` (OpenAI's protocol, float or base64 vectors) and Ollama's
``POST /api/embed``::

    with FakeOpenAI(embed=lambda texts: model.encode(texts).tolist()) as server:
        ...  # RAG_EMBEDDINGS=openai:all-MiniLM-L6-v2, RAG_EMBEDDINGS_BASE_URL=server.url
        server.embedded  # every text it embedded, in order
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    """What the server answers one request with."""

    text: str = ""
    status: int = 200  # anything else answers with an OpenAI-style error body
    delay: float = 0.0  # seconds to wait before the response starts
    words_per_chunk: int = 2  # streamed replies arrive in pieces this many words long


Script = Callable[[dict[str, Any]], "Reply | str"]


def is_streaming(request: dict[str, Any]) -> bool:
    """Whether a recorded request asked for a streamed reply."""
    return bool(request.get("stream"))


def last_user_text(request: dict[str, Any]) -> str:
    """The content of the last user message of a recorded request."""
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    return _content(users[-1]) if users else ""


def system_text(request: dict[str, Any]) -> str:
    """The content of the system messages of a recorded request."""
    roles = ("system", "developer")
    return "\n".join(_content(m) for m in request.get("messages", []) if m.get("role") in roles)


def _content(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def _pieces(text: str, words_per_chunk: int) -> list[str]:
    """Split ``text`` into pieces that concatenate back to it exactly."""
    tokens = text.split(" ")
    out = []
    for i in range(0, len(tokens), words_per_chunk):
        piece = " ".join(tokens[i : i + words_per_chunk])
        out.append(piece if i == 0 else " " + piece)
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (timeouts) or close idle keep-alive connections are expected.
        pass


class FakeOpenAI:
    """The server; start it with ``with`` (or :meth:`start`) and point a client at :attr:`url`."""

    def __init__(
        self,
        script: Script | str = "",
        embed: Callable[[list[str]], list[list[float]]] | None = None,
    ) -> None:
        self.script: Script = (lambda _req: script) if isinstance(script, str) else script
        self.embed = embed
        self.embed_status = 200  # set to 500 (or any error) to make embedding requests fail
        self.embedded: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL an OpenAI client takes (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        """The base URL an Ollama client takes."""
        return f"http://127.0.0.1:{self.port}"

    def reply(self, script: Script | str) -> None:
        """Answer the following requests with ``script`` (a fixed text or a function)."""
        self.script = (lambda _req: script) if isinstance(script, str) else script

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes handlers that are sleeping through a delay
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _answer(self, request: dict[str, Any]) -> Reply:
        self.requests.append(request)
        reply = self.script(request)
        return Reply(reply) if isinstance(reply, str) else reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                route = self.path.rstrip("/")
                if route.endswith(("/v1/embeddings", "/api/embed")) and server.embed:
                    self._embeddings(body, ollama=route.endswith("/api/embed"))
                    return
                if not route.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server._answer(body)
                if reply.delay and server._closing.wait(reply.delay):
                    return
                if reply.status != 200:
                    error = {"message": "scripted failure", "type": "server_error", "code": None}
                    self._json(reply.status, {"error": error})
                elif is_streaming(body):
                    self._stream(body, reply)
                else:
                    self._json(200, _completion(body, reply.text))

            def _embeddings(self, body: dict[str, Any], ollama: bool) -> None:
                texts = body.get("input", [])
                texts = [texts] if isinstance(texts, str) else texts
                if not all(isinstance(t, str) for t in texts):  # token ids: not for this model
                    self._json(400, {"error": {"message": "input must be strings"}})
                    return
                if server.embed_status != 200:
                    error = {"message": "scripted failure", "type": "server_error"}
                    self._json(server.embed_status, {"error": error})
                    return
                assert server.embed is not None
                vectors = server.embed(list(texts))
                server.embedded.extend(texts)
                model = body.get("model", "")
                if ollama:
                    self._json(200, {"model": model, "embeddings": vectors})
                    return
                as_base64 = body.get("encoding_format") == "base64"
                data = [
                    {
                        "object": "embedding",
                        "index": i,
                        "embedding": _base64(v) if as_base64 else v,
                    }
                    for i, v in enumerate(vectors)
                ]
                usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
                self._json(200, {"object": "list", "data": data, "model": model, "usage": usage})

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, request: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                events = [_chunk(request, {"role": "assistant", "content": ""}, None)]
                events += [
                    _chunk(request, {"content": piece}, None)
                    for piece in _pieces(reply.text, reply.words_per_chunk)
                ]
                events.append(_chunk(request, {}, "stop"))
                for event in events:
                    self._send_chunk(f"data: {json.dumps(event)}\n\n".encode())
                    time.sleep(0.005)  # separate network writes, like a real model
                self._send_chunk(b"data: [DONE]\n\n")
                self._send_chunk(b"")

            def _send_chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler


def _base64(vector: list[float]) -> str:
    """A vector as OpenAI's base64 encoding: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _completion(request: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(request: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model", "fake-model"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
