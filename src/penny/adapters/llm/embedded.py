"""The offline default brain: `llama_cpp.server` as a child process (child.py), spoken to over HTTP.

Long conversations stay fast: the prompt is cut to the context so llama.cpp's prompt cache stays valid
(budget.py), and the child is restarted between turns if its memory grows past `max_rss_mb`. If the
child dies mid-answer it is restarted at once (under a second) and the answer goes on from the words
already said (the prompt ends inside the assistant's turn: template.py), after a `BackendFailed` notice.
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import aclosing
from pathlib import Path
from typing import AsyncIterator

from penny.adapters.llm.base import Message
from penny.adapters.llm.budget import PromptBudget, fit_context  # noqa: F401 (fit_context: re-exported)
from penny.adapters.llm.child import EmbeddedServer, free_port, server_missing  # noqa: F401 (re-exported)
from penny.adapters.llm.continuing import OverlapFilter, continuation
from penny.adapters.llm.openai_compat import BackendError, OpenAICompatLLM
from penny.adapters.llm.template import read_template
from penny.core.events import BackendFailed, TextDelta, ToolCall
from penny.errors import LLMUnavailable, ModelNotFound

log = logging.getLogger(__name__)
__all__ = ["EmbeddedLLM", "EmbeddedServer", "PRIMER", "default_model_path", "fit_context", "free_port",
           "server_missing", "with_primer"]


def default_model_path(configured: str | None = None) -> Path:
    """The configured GGUF, or the bundled SmolLM2 (found without importing its package)."""
    if configured:
        p = Path(configured).expanduser()
        if not p.is_file():
            raise ModelNotFound(f"The embedded model file {p} does not exist.",
                                hint="Fix llm.embedded.model_path, or remove it to use the bundled SmolLM2.")
        return p
    from penny.models import smollm2_gguf

    return smollm2_gguf()


# Measured with SmolLM2-135M: without these it drifts into French or rambles; with them it answers
# "The capital of France is Paris." (temperature 0.3). No question the benchmarks ask: the primer once held
# "the capital of Spain" and "days in a week", and the model then answered those two from it.
PRIMER: list[Message] = [
    {"role": "user", "content": "What is the capital of Canada?"},
    {"role": "assistant", "content": "The capital of Canada is Ottawa."},
    {"role": "user", "content": "How many sides does a triangle have?"},
    {"role": "assistant", "content": "A triangle has three sides."},
]


def with_primer(messages: list[Message], primer: list[Message]) -> list[Message]:
    """The primer goes after the system prompt, before the real conversation."""
    if not primer:
        return messages
    head = [m for m in messages[:1] if m.get("role") == "system"]
    return [*head, *primer, *messages[len(head):]]


class EmbeddedLLM:
    """An LLM backed by a lazily started EmbeddedServer; restarts it if it dies (once per bad turn)."""

    supports_tools = False  # SmolLM2 through llama_cpp.server's chat template: no function calling
    prefills = True  # a trailing assistant message is continued, not answered
    caches_prompt = True  # llama.cpp keeps the last prompt's state: Assistant.prepare reads the next one ahead
    spoken_failure = "My built-in language model stopped working."

    def __init__(self, model_path: str | None = None, *, n_ctx: int = 2048, n_threads: int | None = None,
                 startup_timeout_s: float = 60.0, name: str = "embedded", primer: bool = True,
                 max_rss_mb: float | None = None, history_tokens: int | None = 512, cache_mb: int = 0,
                 **llm_kwargs) -> None:
        self.name = name
        self.primer = PRIMER if primer else []
        self.max_rss_mb = max_rss_mb  # restart the child between turns when it grows past this
        self._model_path_cfg = model_path
        self._server_kw = dict(n_ctx=n_ctx, n_threads=n_threads, startup_timeout_s=startup_timeout_s,
                               cache_mb=cache_mb)
        self._llm_kwargs = llm_kwargs
        self.budget = PromptBudget(n_ctx, llm_kwargs.get("max_tokens", 512), history_tokens)
        self.server: EmbeddedServer | None = None
        self.client: OpenAICompatLLM | None = None
        self._lock = asyncio.Lock()
        self._restarted = False
        self._recycling: asyncio.Task | None = None
        self.restarts: list[dict] = []  # {"why", "s"}: every restart, with how long it took

    @property
    def model_path(self) -> Path:
        return default_model_path(self._model_path_cfg)

    @property
    def model(self) -> str:
        try:
            return Path(self._model_path_cfg).stem if self._model_path_cfg else self.model_path.stem
        except ModelNotFound:
            return "SmolLM2-135M-Instruct.Q4_1"

    @property
    def pid(self) -> int | None:
        return self.server.proc.pid if self.server is not None and self.server.running else None

    def set_model(self, name: str) -> None:
        """Switch to another GGUF file (a path, or a name next to the current one); restarts on next use."""
        if name == self.model:
            return
        path = Path(name).expanduser()
        if path.suffix != ".gguf" and (self.model_path.parent / f"{name}.gguf").is_file():
            path = self.model_path.parent / f"{name}.gguf"
        self._model_path_cfg = str(default_model_path(str(path)))  # raises ModelNotFound
        if self.server is not None:
            self.server.stop()
            self.server = None

    async def start(self) -> None:
        async with self._lock:
            if self.server is not None and self.server.running:
                return
            if self.server is not None:  # it died
                if self._restarted:
                    raise LLMUnavailable("The embedded model server died again after a restart: "
                                         + self.server.log_tail(), spoken="My built-in language model crashed.")
                self._restarted = True
                log.warning("embedded LLM server died (%s); restarting it", self.server.log_tail(200))
            await self._launch()

    async def _launch(self) -> None:
        self.server = EmbeddedServer(self.model_path, alias=self.model, **self._server_kw)
        await self.server.astart()
        if self.client is not None:
            await self.client.aclose()
        self.client = OpenAICompatLLM(self.name, self.server.base_url, self.model,
                                      supports_tools=self.supports_tools, **self._llm_kwargs)

    async def restart(self, why: str) -> float:
        """Stop the child and start a fresh one; returns the seconds it took."""
        t0 = time.monotonic()
        async with self._lock:
            if self.server is not None:
                server, self.server = self.server, None
                await asyncio.to_thread(server.stop, 1.0)
            await self._launch()
        took = time.monotonic() - t0
        self.restarts.append({"why": why, "s": round(took, 3)})
        log.info("embedded LLM restarted (%s) in %.2f s", why, took)
        return took

    async def list_models(self, timeout_s: float | None = None) -> list[str]:
        """What the server serves; without starting it, the model it would load."""
        if self.server is None or not self.server.running or self.client is None:
            return [self.model]
        return await self.client.list_models(timeout_s)

    async def _crashed(self) -> bool:
        """After a failed request: is the child dead or deaf? (SIGKILL closes its sockets a moment before
        the process can be reaped, so `running` alone is not enough.)"""
        server = self.server
        for _ in range(10):
            if server is None or not server.running:
                return True
            await asyncio.sleep(0.02)
        return not await asyncio.to_thread(server.healthy, 2.0)

    def _source(self, messages: list[Message], partial: str, tools, kw) -> AsyncIterator:
        if not partial:
            return self.client.stream(messages, tools, **kw)
        template = read_template(str(self.model_path))
        if template is None:  # no template to continue inside the answer: ask in words
            return self.client.stream(continuation(messages, partial), tools, **kw)
        max_tokens = kw.get("max_tokens") or self._llm_kwargs.get("max_tokens", 512)
        left = max(16, max_tokens - len(partial) // 4)
        return self.client.complete(template.render(messages, partial), max_tokens=left, stop=template.stop)

    async def stream(self, messages: list[Message], tools: list[dict] | None = None, **kw
                     ) -> AsyncIterator[TextDelta | ToolCall | BackendFailed]:
        prefix = ""
        if messages and messages[-1].get("role") == "assistant":  # continue this partial answer
            prefix, messages = str(messages[-1].get("content") or ""), messages[:-1]
        # The primer goes in after the cut, so a dropped block of history never takes it along: it keeps the
        # model brief, and the prompt's cached prefix (system prompt + primer) survives the cut.
        messages = with_primer(self.budget.fit(messages), self.primer)
        if self._recycling is not None:
            await asyncio.shield(self._recycling)  # a restart for memory between turns: let it finish
        said = ""
        for attempt in (0, 1):
            await self.start()
            partial = prefix + said
            overlap = OverlapFilter(partial if read_template(str(self.model_path)) is None else "")
            try:
                async with aclosing(self._source(messages, partial, tools, kw)) as events:
                    async for ev in events:
                        if isinstance(ev, TextDelta):
                            text = overlap.feed(ev.text)
                            if not text:
                                continue
                            said += text
                            ev = TextDelta(text)
                        yield ev
                if rest := overlap.flush():
                    said += rest
                    yield TextDelta(rest)
                self._restarted = False  # a healthy turn: allow a restart again next time
                self._check_memory()
                return
            except BackendError as exc:
                if attempt or not await self._crashed():
                    raise
                why = f"{exc.kind} mid-answer" if said or prefix else exc.kind
                t0 = time.monotonic()
                await self.start()  # the restart; raises if it died again right after one
                took = time.monotonic() - t0
                self.restarts.append({"why": why, "s": round(took, 3)})
                if said or prefix:
                    yield BackendFailed(frm=self.name, to=self.name, reason=f"{why}; restarted in {took:.1f} s")

    def _check_memory(self) -> None:
        """Between turns: restart a child that grew past max_rss_mb (in the background)."""
        if not self.max_rss_mb or self.server is None or self._recycling is not None:
            return
        rss = self.server.rss_mb()
        if rss is None or rss <= self.max_rss_mb:
            return
        log.warning("embedded LLM uses %.0f MB (limit %.0f MB): restarting it between turns", rss, self.max_rss_mb)

        async def recycle():
            try:
                await self.restart(f"memory {rss:.0f} MB > {self.max_rss_mb:.0f} MB")
            except Exception as exc:  # the next turn starts it again, or reports why not
                log.warning("embedded LLM restart for memory failed: %s", exc)
            finally:
                self._recycling = None

        self._recycling = asyncio.get_running_loop().create_task(recycle())

    async def aclose(self) -> None:
        if self._recycling is not None:
            await asyncio.gather(self._recycling, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.server is not None:
            server, self.server = self.server, None
            await asyncio.to_thread(server.stop)  # SIGTERM, then a short wait: off the event loop
