"""LLM test fixtures: the real embedded llama_cpp.server, and fake OpenAI-compatible servers for faults.

Fixtures (registered through tests/conftest.py):
  embedded_llm_server  (session) base_url of a real llama_cpp.server running the bundled SmolLM2
  fake_llm_server      factory: make(mode="ok", text=..., ...) -> FakeLLMServer in a thread
  fake_llm_process     factory: make(mode="ok", ...) -> (Popen, base_url), a fake server in a child process
                       (kill it with SIGKILL to reproduce a server dying mid-stream)
  refused_url          a base URL where nothing listens
Modes: ok, http500, hang (accepts, never answers), malformed (bad SSE JSON after the first token),
drop (connection reset after `drop_after` tokens), truncated (clean close without finish_reason),
notools (HTTP 400 when a request carries `tools`, like an Ollama model without function calling).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

MODES = ("ok", "http500", "hang", "malformed", "drop", "truncated", "notools")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sse(obj) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj)
    payload = f"data: {data}\n\n".encode()
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def _chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class FakeLLMServer:
    """A small OpenAI-compatible HTTP/1.1 server on 127.0.0.1, run on its own event loop thread."""

    def __init__(self, mode: str = "ok", text: str = "Hello from the fake server.", *,
                 models: tuple[str, ...] = ("fake-model",), delay: float = 0.0, drop_after: int = 2,
                 tool_calls: list[dict] | None = None, port: int | None = None) -> None:
        assert mode in MODES, mode
        self.mode, self.text, self.models, self.delay = mode, text, list(models), delay
        self.drop_after, self.tool_calls = drop_after, tool_calls or []
        self.port = port or free_port()
        self.requests: list[tuple[str, str, dict | None]] = []  # (method, path, json body)
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[dict]:
        return [body for _, path, body in self.requests if path.endswith("/chat/completions")]

    def start(self) -> "FakeLLMServer":
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown():
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._thread = None

    def serve_forever(self) -> None:  # used by the child-process variant
        self.start()
        self._thread.join()

    # ---- HTTP ----
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _one_request(self, reader, writer) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, path, _ = line.decode().split(" ", 2)
        headers = {}
        while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
            k, _, v = h.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        raw = await reader.readexactly(int(headers.get("content-length", 0) or 0))
        body = json.loads(raw) if raw else None
        self.requests.append((method, path, body))
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "http500":
            await self._json(writer, 500, {"error": {"message": "internal error (fake)", "type": "server_error"}})
        elif method == "GET" and path == "/v1/models":
            await self._json(writer, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "fake", "created": 0} for m in self.models]})
        elif method == "POST" and path == "/v1/chat/completions":
            if self.mode == "notools" and body.get("tools"):
                await self._json(writer, 400, {"error": {"message": "model does not support tools"}})
            elif body.get("stream"):
                await self._stream(writer, body)
                return False
            else:
                await self._json(writer, 200, {"id": "x", "object": "chat.completion", "created": 0,
                                               "model": body.get("model"), "choices": [{
                                                   "index": 0, "finish_reason": "stop",
                                                   "message": {"role": "assistant", "content": self.text}}]})
        else:
            await self._json(writer, 404, {"error": {"message": f"no route {method} {path}"}})
        return True

    async def _json(self, writer, status: int, obj) -> None:
        data = json.dumps(obj).encode()
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                     .encode() + data)
        await writer.drain()

    async def _stream(self, writer, body) -> None:
        model = body.get("model") or self.models[0]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n")
        writer.write(_sse(_chunk(model, {"role": "assistant", "content": ""})))
        pieces = [w + " " for w in self.text.split(" ")]
        pieces[-1] = pieces[-1][:-1]
        for i, piece in enumerate(pieces):
            if self.mode == "drop" and i == self.drop_after:
                writer.transport.abort()  # like a killed process: the connection is reset mid-body
                return
            if self.mode == "malformed" and i == 1:
                writer.write(_sse('{"choices": [{"delta": {"content": "oops"'))
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                return
            writer.write(_sse(_chunk(model, {"content": piece})))
            await writer.drain()
            if self.delay:
                await asyncio.sleep(self.delay)
        for n, call in enumerate(self.tool_calls):  # each tool call in two fragments, as real servers do
            args = json.dumps(call["arguments"])
            writer.write(_sse(_chunk(model, {"tool_calls": [{"index": n, "id": f"call_{n}", "type": "function",
                                                             "function": {"name": call["name"], "arguments": args[:5]}}]})))
            writer.write(_sse(_chunk(model, {"tool_calls": [{"index": n, "function": {"arguments": args[5:]}}]})))
        if self.mode != "truncated":
            writer.write(_sse(_chunk(model, {}, "tool_calls" if self.tool_calls else "stop")))
            writer.write(_sse("[DONE]"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def wait_for_models(base_url: str, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base_url}/models did not answer in {timeout_s} s")


def start_fake_server_process(mode: str = "ok", text: str = "Hello from the fake server.", delay: float = 0.0
                              ) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, mode, str(port), str(delay), text],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    wait_for_models(base_url, 20, proc)
    return proc, base_url


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)


@pytest.fixture
def fake_llm_server():
    servers: list[FakeLLMServer] = []

    def make(mode: str = "ok", text: str = "Hello from the fake server.", **kw) -> FakeLLMServer:
        server = FakeLLMServer(mode, text, **kw).start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def fake_llm_process():
    procs: list[subprocess.Popen] = []

    def make(mode: str = "ok", text: str = "Hello from the fake server.", delay: float = 0.0):
        proc, url = start_fake_server_process(mode, text, delay)
        procs.append(proc)
        return proc, url

    yield make
    for p in procs:
        kill(p)


@pytest.fixture
def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture(scope="session")
def embedded_llm_server():
    """A real llama_cpp.server with the bundled SmolLM2 on a free 127.0.0.1 port; yields its base_url."""
    from penny.adapters.llm.embedded import EmbeddedServer, server_missing
    from penny.errors import ModelNotFound
    from penny.models import smollm2_gguf

    if server_missing():
        pytest.skip(server_missing())
    try:
        path = smollm2_gguf()
    except ModelNotFound as exc:
        pytest.skip(str(exc))
    server = EmbeddedServer(path, n_ctx=1024, n_threads=2, startup_timeout_s=120)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


if __name__ == "__main__":  # child-process fake server: MODE PORT DELAY TEXT
    mode, port, delay, text = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    FakeLLMServer(mode, text, delay=delay, port=port).serve_forever()


def real_turn_config(tmp, base_url: str, mode: str):
    """Penny's config for a test with the real engines behind a fake LLM server: its own memory and TTS cache
    under `tmp`, no "One moment." filler (one audio story per turn)."""
    from penny.config import PennyConfig

    return PennyConfig.model_validate({
        "llm": {"provider": "openai_compatible", "base_url": base_url, "model": "fake-model"},
        "memory": {"path": str(tmp / "memory.db")},
        "tts": {"cache": {"dir": str(tmp / "tts-cache")}},
        "wake": {"mode": mode},
        "assistant": {"filler_after_ms": 0},
    })


class LLMStub:
    """What every LLM has besides `stream` (core/contracts.py): nothing to start, nothing to close."""

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class StubChild:
    """A backend with a start() like the embedded one, counting starts; it always says `text`."""

    name, model, supports_tools = "embedded", "tiny", False

    def __init__(self, text: str = "stub"):
        self.text, self.starts = text, 0

    async def start(self):
        self.starts += 1

    async def list_models(self):
        return [self.model]

    async def stream(self, messages, tools=None, **kw):
        from penny.core.events import TextDelta

        yield TextDelta(self.text)

    async def aclose(self):
        pass


class RecordingLLM(LLMStub):
    """An LLM that answers "Paris is the capital." and keeps every message list it was sent."""

    name, model, supports_tools = "recording", "rec-1", False

    def __init__(self):
        self.calls: list[list[dict]] = []

    async def stream(self, messages, tools=None):
        from penny.core.events import TextDelta

        self.calls.append(messages)
        for w in ("Paris ", "is ", "the ", "capital."):
            yield TextDelta(w)
