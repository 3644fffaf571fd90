"""The offline default brain: `llama_cpp.server` as a child process, spoken to over HTTP.

The child runs on a free 127.0.0.1 port in its own process group, with a watchdog thread that
exits when Penny (its parent) disappears, so no orphans survive a crash or `kill -9`. It is
stopped on exit (atexit, SIGTERM, Ctrl-C), and restarted once if it dies.
"""
from __future__ import annotations

import asyncio
import atexit
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from contextlib import aclosing
from pathlib import Path
from typing import AsyncIterator

import httpx

from penny.adapters.llm.base import Message
from penny.adapters.llm.openai_compat import BackendError, OpenAICompatLLM, OverlapFilter, continuation
from penny.core.events import TextDelta, ToolCall
from penny.errors import LLMUnavailable, ModelNotFound

log = logging.getLogger(__name__)
_LIVE: "weakref.WeakSet[EmbeddedServer]" = weakref.WeakSet()

# Runs in the child: exit when the parent dies, then hand over to llama_cpp.server's main.
_LAUNCHER = """
import os, sys, threading, time, runpy
parent = int(sys.argv.pop(1))
def watch():
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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


def server_missing() -> str | None:
    """Why llama_cpp.server cannot run here, or None."""
    for mod in ("llama_cpp", "uvicorn", "sse_starlette", "starlette_context", "fastapi"):
        if importlib.util.find_spec(mod) is None:
            return f"Python package '{mod}' is missing: .venv/bin/pip install 'llama-cpp-python[server]'"
    return None


class EmbeddedServer:
    """One llama_cpp.server child process. Sync start/stop (cheap), async astart for the event loop."""

    def __init__(self, model_path: str | os.PathLike, *, n_ctx: int = 2048, n_threads: int | None = None,
                 startup_timeout_s: float = 60.0, host: str = "127.0.0.1", alias: str | None = None) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self.startup_timeout_s = startup_timeout_s
        self.host = host
        self.alias = alias or self.model_path.stem
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"penny-llama-server-{os.getpid()}-{id(self):x}.log"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), "--model", str(self.model_path),
                "--model_alias", self.alias, "--host", self.host, "--port", str(self.port),
                "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
                "--n_threads_batch", str(self.n_threads), "--verbose", "False"]

    def _spawn(self) -> None:
        missing = server_missing()
        if missing:
            raise LLMUnavailable(f"The embedded model cannot run: {missing}",
                                 spoken="My built-in language model isn't installed.")
        if not self.model_path.is_file():
            raise ModelNotFound(f"The embedded model file {self.model_path} does not exist.")
        self.stop()
        self.port = free_port(self.host)
        logf = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            logf.close()
        _LIVE.add(self)
        _install_exit_handlers()
        log.info("embedded LLM: starting %s on port %s (pid %s)", self.model_path.name, self.port, self.proc.pid)

    def _probe(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _died(self) -> LLMUnavailable:
        code = self.proc.returncode if self.proc else None
        self.stop()
        return LLMUnavailable(f"The embedded model server exited (code {code}) while starting: {self.log_tail()}",
                              spoken="My built-in language model didn't start.")

    def start(self) -> str:
        """Start and wait until /v1/models answers. Returns base_url."""
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise self._died()
            if self._probe():
                return self.base_url
            time.sleep(0.2)
        self.stop()
        raise LLMUnavailable(f"The embedded model server did not answer within {self.startup_timeout_s:.0f} s.",
                             spoken="My built-in language model didn't start.")

    async def astart(self) -> str:
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout_s
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise self._died()
                try:
                    if (await client.get(f"{self.base_url}/models")).status_code == 200:
                        return self.base_url
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        self.stop()
        raise LLMUnavailable(f"The embedded model server did not answer within {self.startup_timeout_s:.0f} s.",
                             spoken="My built-in language model didn't start.")

    def stop(self, grace_s: float = 3.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            proc.wait()
        _LIVE.discard(self)

    def log_tail(self, chars: int = 400) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""


def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop(grace_s=1.0)


_handlers_installed = False


def _install_exit_handlers() -> None:
    """atexit always; SIGTERM/SIGHUP become a normal exit (so atexit runs) where nobody else handles them."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _exit_on_signal)


def _exit_on_signal(signum, frame) -> None:
    _stop_all()
    raise SystemExit(128 + signum)


def fit_context(messages: list[Message], n_ctx: int, max_tokens: int) -> list[Message]:
    """Drop the oldest turns (never the system prompt or the last message) so the prompt plus the
    answer fit a small n_ctx; ~3 characters a token is a conservative guess."""
    budget = max(n_ctx - max_tokens, n_ctx // 4) * 3
    head = list(messages[:1]) if messages and messages[0].get("role") == "system" else []
    rest = list(messages[len(head):])
    while len(rest) > 1 and sum(len(str(m.get("content") or "")) for m in head + rest) > budget:
        rest.pop(0)
    return head + rest


# Measured with SmolLM2-135M: without these it drifts into French or rambles; with them it answers
# "The capital of France is Paris." (temperature 0.3).
PRIMER: list[Message] = [
    {"role": "user", "content": "What is the capital of Spain?"},
    {"role": "assistant", "content": "The capital of Spain is Madrid."},
    {"role": "user", "content": "How many days are in a week?"},
    {"role": "assistant", "content": "There are seven days in a week."},
]


def with_primer(messages: list[Message], primer: list[Message]) -> list[Message]:
    """The primer goes after the system prompt, before the real conversation."""
    if not primer:
        return messages
    head = [m for m in messages[:1] if m.get("role") == "system"]
    return [*head, *primer, *messages[len(head):]]


class EmbeddedLLM:
    """An LLM backed by a lazily started EmbeddedServer; restarts it once if it dies."""

    supports_tools = False  # SmolLM2 through llama_cpp.server's chat template: no function calling

    def __init__(self, model_path: str | None = None, *, n_ctx: int = 2048, n_threads: int | None = None,
                 startup_timeout_s: float = 60.0, name: str = "embedded", primer: bool = True,
                 **llm_kwargs) -> None:
        self.name = name
        self.primer = PRIMER if primer else []
        self._model_path_cfg = model_path
        self._server_kw = dict(n_ctx=n_ctx, n_threads=n_threads, startup_timeout_s=startup_timeout_s)
        self._llm_kwargs = llm_kwargs
        self.server: EmbeddedServer | None = None
        self.client: OpenAICompatLLM | None = None
        self._lock = asyncio.Lock()
        self._restarted = False

    @property
    def model_path(self) -> Path:
        return default_model_path(self._model_path_cfg)

    @property
    def model(self) -> str:
        try:
            return Path(self._model_path_cfg).stem if self._model_path_cfg else self.model_path.stem
        except ModelNotFound:
            return "SmolLM2-135M-Instruct.Q4_1"

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
                log.warning("embedded LLM server died (%s); restarting it once", self.server.log_tail(200))
            self.server = EmbeddedServer(self.model_path, alias=self.model, **self._server_kw)
            await self.server.astart()
            if self.client is not None:
                await self.client.aclose()
            self.client = OpenAICompatLLM(self.name, self.server.base_url, self.model,
                                          supports_tools=self.supports_tools, **self._llm_kwargs)

    async def list_models(self, timeout_s: float | None = None) -> list[str]:
        """What the server serves; without starting it, the model it would load."""
        if self.server is None or not self.server.running or self.client is None:
            return [self.model]
        return await self.client.list_models(timeout_s)

    async def stream(self, messages: list[Message], tools: list[dict] | None = None, **kw
                     ) -> AsyncIterator[TextDelta | ToolCall]:
        messages = with_primer(messages, self.primer)
        messages = fit_context(messages, self._server_kw["n_ctx"],
                               kw.get("max_tokens") or self._llm_kwargs.get("max_tokens", 512))
        said = ""
        for attempt in (0, 1):
            await self.start()
            overlap = OverlapFilter(said)
            try:
                async with aclosing(self.client.stream(continuation(messages, said), tools, **kw)) as events:
                    async for ev in events:
                        if isinstance(ev, TextDelta):
                            text = overlap.feed(ev.text)
                            if not text:
                                continue
                            said += text
                            ev = TextDelta(text)
                        yield ev
                self._restarted = False  # a healthy turn: allow one restart again next time
                return
            except BackendError:
                if attempt or (self.server is not None and self.server.running):
                    raise
                # the server died under us: start() restarts it once, then the answer goes on

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.server is not None:
            server, self.server = self.server, None
            await asyncio.to_thread(server.stop)  # SIGTERM, then a short wait: off the event loop
