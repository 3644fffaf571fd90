"""One async adapter for any OpenAI-compatible `/v1/chat/completions` server.

LM Studio, Ollama, llama.cpp, vLLM, OpenAI and the embedded llama_cpp.server all speak this.
Built on the official `openai` SDK (AsyncOpenAI with base_url, no SDK retries: the fallback
chain decides what to do next). Every failure becomes a `BackendError` with a short `kind`:
refused, timeout, http-NNN, model-not-found, malformed, disconnected.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import aclosing, contextmanager, suppress
from typing import AsyncIterator

import anyio
import httpx

try:  # openai >= 3 talks through httpx2; older SDKs through httpx
    import httpx2 as _hx
except ImportError:  # pragma: no cover
    _hx = httpx

from penny.adapters.llm.base import Message
from penny.adapters.llm.continuing import OverlapFilter, ThinkFilter, continuation  # noqa: F401 (re-exported)
from penny.adapters.llm.urls import normalize_base_url
from penny.core.events import TextDelta, ToolCall
from penny.errors import LLMUnavailable

log = logging.getLogger(__name__)
__all__ = ["BackendError", "OpenAICompatLLM", "OverlapFilter", "ThinkFilter", "continuation"]
NO_KEY = "sk-no-key-required"  # local servers ignore the key, the SDK insists on one
_TIMEOUTS = (asyncio.TimeoutError, TimeoutError, httpx.TimeoutException, _hx.TimeoutException)
_NETWORK = (httpx.TransportError, _hx.TransportError, anyio.EndOfStream, anyio.BrokenResourceError,
            anyio.ClosedResourceError, ConnectionError)
_CONNECT = (httpx.ConnectError, _hx.ConnectError, ConnectionRefusedError)


class BackendError(LLMUnavailable):
    """One backend failed one request. `kind` says how; the chain moves on."""

    code = "llm-backend-failed"

    def __init__(self, backend: str, kind: str, message: str, **kw):
        super().__init__(f"{backend}: {message}", **kw)
        self.backend = backend
        self.kind = kind


class OpenAICompatLLM:
    def __init__(self, name: str, base_url: str, model: str | None = None, *, api_key: str | None = None,
                 temperature: float = 0.6, max_tokens: int = 512, timeout_s: float = 15.0,
                 connect_timeout_s: float = 3.0, first_token_timeout_s: float | None = None,
                 total_timeout_s: float | None = None, supports_tools: bool = True) -> None:
        self.name = name
        self.base_url = normalize_base_url(base_url)
        self.model = model or ""
        self.api_key = api_key or NO_KEY
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self.first_token_timeout_s = first_token_timeout_s or timeout_s
        self.total_timeout_s = total_timeout_s or max(120.0, timeout_s * 8)
        self.supports_tools = supports_tools
        self._client = None

    def set_model(self, name: str) -> None:
        self.model = name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.base_url} model={self.model!r}>"

    @property
    def client(self):
        if self._client is None:
            from openai import AsyncOpenAI

            for noisy in ("httpx", "httpx2", "openai"):  # one INFO line per request drowns the chat
                if logging.getLogger(noisy).level == logging.NOTSET:
                    logging.getLogger(noisy).setLevel(logging.WARNING)

            self._client = AsyncOpenAI(
                base_url=self.base_url, api_key=self.api_key, max_retries=0,
                timeout=_hx.Timeout(self.timeout_s, connect=self.connect_timeout_s))
        return self._client

    async def start(self) -> None:
        return None  # a server someone else runs: nothing to start

    async def prepare(self) -> None:
        """Import the SDK and build the client off the event loop. The import takes ~1 s, several while
        Whisper and Piper load: inside a timed model list it made a loopback server look down at startup."""
        if self._client is None:
            await asyncio.to_thread(lambda: self.client)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # ---- models ----
    async def list_models(self, timeout_s: float | None = None) -> list[str]:
        """Model ids from GET {base}/models. Raises BackendError."""
        t = timeout_s or self.timeout_s
        try:
            page = await asyncio.wait_for(
                self.client.with_options(timeout=_hx.Timeout(t, connect=self.connect_timeout_s)).models.list(), t)
            return [m.id for m in page.data]
        except Exception as exc:
            raise self._error(exc, "listing models") from exc

    # ---- chat ----
    async def stream(self, messages: list[Message], tools: list[dict] | None = None, *,
                     max_tokens: int | None = None) -> AsyncIterator[TextDelta | ToolCall]:
        """Stream one answer. A server that rejects `tools` (HTTP 400/422 before any output, e.g. an
        Ollama model without function calling) is asked again without them, and remembered."""
        sent_tools = bool(tools and self.supports_tools)
        started = False
        try:
            async for ev in self._stream_once(messages, tools, max_tokens):
                started = True
                yield ev
            return
        except BackendError as exc:
            if started or not sent_tools or exc.kind not in ("http-400", "http-422"):
                raise
            log.warning("%s rejected tools (%s); asking without them from now on", self.name, exc.message)
            self.supports_tools = False
        async for ev in self._stream_once(messages, None, max_tokens):
            yield ev

    async def _stream_once(self, messages: list[Message], tools: list[dict] | None,
                           max_tokens: int | None) -> AsyncIterator[TextDelta | ToolCall]:
        clock = _Deadlines(self)
        calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        finished = False
        think = ThinkFilter()
        with self._errors("streaming"):
            if not self.model:  # none configured: use the first model the server lists
                listed = await self.list_models()
                if not listed:
                    raise BackendError(self.name, "model-not-found", f"{self.base_url} lists no models")
                self.model = listed[0]
            kwargs = dict(model=self.model, messages=messages, stream=True,
                          temperature=self.temperature, max_tokens=max_tokens or self.max_tokens)
            if tools and self.supports_tools:
                kwargs["tools"] = tools
            chunks = self._chunks(self.client.chat.completions.create(**kwargs), clock)
            async with aclosing(chunks):  # closed at once when the listener stops (barge-in)
                async for chunk in chunks:
                    if getattr(chunk, "choices", None) is None:
                        raise ValueError(f"a chunk without choices: {chunk!r:.120}")
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta is not None and delta.content:
                            clock.alive()
                            text = think.feed(delta.content)
                            if text:
                                yield TextDelta(text)
                        if delta is not None and getattr(delta, "reasoning_content", None):
                            clock.alive()  # thinking: alive, not spoken
                        for tc in (delta.tool_calls or []) if delta is not None else []:
                            clock.alive()
                            slot = calls.setdefault(tc.index or 0, ["", "", ""])
                            slot[0] = tc.id or slot[0]
                            if tc.function is not None:
                                slot[1] = tc.function.name or slot[1]
                                slot[2] += tc.function.arguments or ""
                        if choice.finish_reason:
                            finished = True
            if not finished:
                raise ValueError("the stream ended before the answer finished (no finish_reason)")
            if rest := think.flush():
                yield TextDelta(rest)
        for index in sorted(calls):
            cid, name, args = calls[index]
            yield ToolCall(id=cid or f"call_{uuid.uuid4().hex[:12]}", name=name, arguments=args or "{}")

    async def complete(self, prompt: str, *, max_tokens: int | None = None, stop: list[str] | None = None
                       ) -> AsyncIterator[TextDelta]:
        """Stream a raw text completion of `prompt` (POST /completions). The embedded model continues a
        partial answer this way: its prompt ends inside the assistant's turn, after the words said."""
        clock, finished = _Deadlines(self), False
        with self._errors("completing"):
            request = self.client.completions.create(
                model=self.model, prompt=prompt, stream=True, temperature=self.temperature,
                max_tokens=max_tokens or self.max_tokens, stop=stop)
            chunks = self._chunks(request, clock)
            async with aclosing(chunks):
                async for chunk in chunks:
                    for choice in chunk.choices:
                        if choice.text:
                            clock.alive()
                            yield TextDelta(choice.text)
                        finished = finished or bool(choice.finish_reason)
            if not finished:
                raise ValueError("the stream ended before the answer finished (no finish_reason)")

    @contextmanager
    def _errors(self, doing: str):
        """Any failure inside becomes a BackendError naming this backend."""
        try:
            yield
        except BackendError:
            raise
        except Exception as exc:
            raise self._error(exc, doing) from exc

    @staticmethod
    async def _chunks(request, clock: "_Deadlines") -> AsyncIterator:
        """The chunks of one streamed request within `clock`'s deadlines; the stream is always closed."""
        stream = None
        try:
            stream = await clock.wait(request)
            it = stream.__aiter__()
            while True:
                try:
                    chunk = await clock.wait(it.__anext__())
                except StopAsyncIteration:
                    return
                yield chunk
        finally:
            if stream is not None:
                with suppress(Exception):  # the connection may already be gone
                    await stream.close()

    def _error(self, exc: BaseException, doing: str) -> BackendError:
        import openai

        where = f"{self.base_url} ({doing})"
        if isinstance(exc, (*_TIMEOUTS, openai.APITimeoutError)):
            return BackendError(self.name, "timeout", f"no answer from {where} in time")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            body = str(getattr(exc, "message", exc))[:200]
            if status == 404 and "model" in body.lower():
                return BackendError(self.name, "model-not-found", f"model '{self.model}' not found at {where}: {body}")
            if status in (401, 403):
                return BackendError(self.name, f"http-{status}", f"{where} refused the API key: {body}")
            return BackendError(self.name, f"http-{status}", f"{where} answered HTTP {status}: {body}")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, _TIMEOUTS):
                return BackendError(self.name, "timeout", f"no answer from {where} in time")
            if isinstance(cause, _CONNECT) or cause is None:
                return BackendError(self.name, "refused", f"cannot connect to {where}")
            return BackendError(self.name, "disconnected", f"connection to {where} failed: {cause}")
        if isinstance(exc, _NETWORK):
            return BackendError(self.name, "disconnected", f"{where} dropped the connection: {exc}")
        if isinstance(exc, (ValueError, KeyError, AttributeError, TypeError, openai.APIError)):
            return BackendError(self.name, "malformed", f"malformed stream from {where}: {exc}"[:300])
        return BackendError(self.name, "error", f"{where} failed: {type(exc).__name__}: {exc}"[:300])


class _Deadlines:
    """One request's clock: a first-token deadline, then one per sign of life, and a total."""

    def __init__(self, llm: OpenAICompatLLM):
        start = time.monotonic()
        self.total, self.next, self.gap = start + llm.total_timeout_s, start + llm.first_token_timeout_s, llm.timeout_s

    def alive(self) -> None:
        self.next = time.monotonic() + self.gap

    async def wait(self, awaitable):
        return await _before(awaitable, self.next, self.total)


async def _before(awaitable, deadline: float, total_deadline: float):
    """Await with the nearer of two monotonic deadlines."""
    remaining = min(deadline, total_deadline) - time.monotonic()
    if remaining <= 0:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise asyncio.TimeoutError()
    return await asyncio.wait_for(awaitable, remaining)
