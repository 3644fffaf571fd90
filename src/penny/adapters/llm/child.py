"""The embedded model's child process: `llama_cpp.server` on a free 127.0.0.1 port.

The child runs in its own process group, with a watchdog thread that exits when Penny (its parent)
disappears, so no orphans survive a crash or `kill -9`. It is stopped on exit (atexit, SIGTERM, Ctrl-C).
Its memory is capped: logits are kept for the last token only (`logits_all` would keep n_ctx x n_vocab
floats, 400 MB for SmolLM2 at n_ctx 2048, filled as conversations grow); the prompt cache (`cache_mb`:
llama.cpp states of recent conversations, so switching between sessions does not re-read a whole
history) is bounded; and `rss_mb()` lets the owner restart it between turns if it grows anyway.
"""
from __future__ import annotations

import asyncio
import atexit
import functools
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
from pathlib import Path

import httpx

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
import ctypes, llama_cpp
from llama_cpp.llama_cache import LlamaRAMCache
def save_state(self):
    # A cached prompt state (one per conversation) needs the last token's logits only: without logits_all
    # the rest is never read, and copying it costs n_batch x n_vocab floats (50 MB) per save. One copy of
    # the KV data (llama.cpp writes the used cells only: ~23 kB a token for SmolLM2), not three.
    size = llama_cpp.llama_state_get_size(self._ctx.ctx)
    buf = (ctypes.c_uint8 * int(size))()
    n = int(llama_cpp.llama_state_get_data(self._ctx.ctx, buf, size))
    if n > int(size):
        raise RuntimeError("Failed to copy llama state data")
    scores = self._scores if self._logits_all else self._scores[-1:]
    return llama_cpp.llama.LlamaState(scores=scores.copy(), input_ids=self.input_ids.copy(), n_tokens=self.n_tokens,
                                      llama_state=bytes(memoryview(buf)[:n]), llama_state_size=n, seed=self._seed)
llama_cpp.Llama.save_state = save_state
_set = LlamaRAMCache.__setitem__
def cache_set(self, key, value):
    # The state a turn started from is superseded by the one saved after it (same conversation, longer):
    # drop it, so the cache holds one state per conversation instead of filling with stale ones and
    # evicting (least recently used = the next conversation in turn) the live state of another session.
    # Dropped only when the new state shares all but a little of it, so another conversation that merely
    # shares the system prompt keeps its state: dropping costs at most that little re-read later.
    key = tuple(key)
    for k in [k for k in self.cache_state if k != key]:
        shared = llama_cpp.Llama.longest_token_prefix(k, key)
        if len(k) - shared <= max(64, len(k) // 4):
            del self.cache_state[k]
    _set(self, key, value)
LlamaRAMCache.__setitem__ = cache_set
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def loopback_down(host: str = "127.0.0.1", timeout_s: float = 0.5) -> str | None:
    """Why Penny cannot talk to a child on `host` (loopback down, no such address), or None. Takes
    milliseconds: a listener of our own, then a connection to it."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
            srv.bind((host, 0))
            srv.listen(1)
            with socket.create_connection(srv.getsockname(), timeout=timeout_s):
                return None
    except OSError as exc:
        return f"cannot connect to {host} ({exc.strerror or exc}); is the loopback interface down?"


def _child_env() -> dict:
    """glibc: a fixed mmap threshold, so freed prompt-state buffers go back to the system (the default
    threshold grows with them and keeps them on the heap), and few arenas for the server's threads."""
    env = dict(os.environ)
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(256 * 1024))
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


def server_missing() -> str | None:
    """Why llama_cpp.server cannot run here, or None."""
    for mod in ("llama_cpp", "uvicorn", "sse_starlette", "starlette_context", "fastapi"):
        if importlib.util.find_spec(mod) is None:
            return f"Python package '{mod}' is missing: .venv/bin/pip install 'llama-cpp-python[server]'"
    return None


def rss_mb(pid: int) -> float | None:
    """Resident memory of one process in MiB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:
        return None


class EmbeddedServer:
    """One llama_cpp.server child process. Sync start/stop (cheap), async astart for the event loop."""

    def __init__(self, model_path: str | os.PathLike, *, n_ctx: int = 2048, n_threads: int | None = None,
                 startup_timeout_s: float = 60.0, host: str = "127.0.0.1", alias: str | None = None,
                 n_batch: int = 256, cache_mb: int = 0) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self.n_batch = min(n_batch, n_ctx)
        self.cache_mb = cache_mb  # >0: llama.cpp keeps prompt states of recent conversations in RAM
        self.startup_timeout_s = startup_timeout_s
        self.host = host
        self.alias = alias or self.model_path.stem
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.started_s: float | None = None  # how long the last start took, spawn to first answer
        self.log_path = Path(tempfile.gettempdir()) / f"penny-llama-server-{os.getpid()}-{id(self):x}.log"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float | None:
        return rss_mb(self.proc.pid) if self.running else None

    def command(self) -> list[str]:
        return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), "--model", str(self.model_path),
                "--model_alias", self.alias, "--host", self.host, "--port", str(self.port),
                "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
                "--n_threads_batch", str(self.n_threads), "--n_batch", str(self.n_batch),
                "--n_ubatch", str(self.n_batch), "--logits_all", "False", "--verbose", "False",
                *(("--cache", "True", "--cache_type", "ram", "--cache_size", str(self.cache_mb << 20))
                  if self.cache_mb > 0 else ())]

    def _spawn(self) -> None:
        missing = server_missing()
        if missing:
            raise LLMUnavailable(f"The embedded model cannot run: {missing}",
                                 spoken="My built-in language model isn't installed.")
        if not self.model_path.is_file():
            raise ModelNotFound(f"The embedded model file {self.model_path} does not exist.")
        down = loopback_down(self.host)
        if down:  # fail in milliseconds instead of waiting out the start-up timeout
            raise LLMUnavailable(f"The embedded model cannot start: {down}",
                                 spoken="My built-in language model can't start: this computer's "
                                        "local network is down.")
        self.stop()
        self.port = free_port(self.host)
        from penny.private import open_private

        logf = open_private(self.log_path, "wb")  # 600: the server's log may quote prompts
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=logf, env=_child_env(),
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            logf.close()
        self._t0 = time.monotonic()
        _LIVE.add(self)
        _install_exit_handlers()
        log.info("embedded LLM: starting %s on port %s (pid %s)", self.model_path.name, self.port, self.proc.pid)

    def _died(self) -> LLMUnavailable:
        code = self.proc.returncode if self.proc else None
        self.stop()
        return LLMUnavailable(f"The embedded model server exited (code {code}) while starting: {self.log_tail()}",
                              spoken="My built-in language model didn't start.")

    def _timed_out(self) -> LLMUnavailable:
        self.stop()
        return LLMUnavailable(f"The embedded model server did not answer within {self.startup_timeout_s:.0f} s: "
                              f"{self.log_tail()}", spoken="My built-in language model didn't start.")

    def _ready(self) -> str:
        self.started_s = time.monotonic() - self._t0
        log.info("embedded LLM: ready in %.2f s", self.started_s)
        return self.base_url

    def start(self) -> str:
        """Start and wait until /v1/models answers. Returns base_url."""
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise self._died()
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return self._ready()
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise self._timed_out()

    async def astart(self) -> str:
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout_s
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise self._died()
                try:
                    if (await client.get(f"{self.base_url}/models")).status_code == 200:
                        return self._ready()
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise self._timed_out()

    def healthy(self, timeout_s: float = 1.0) -> bool:
        """Alive and answering (a process can outlive its sockets for a moment after SIGKILL)."""
        if not self.running:
            return False
        try:
            return httpx.get(f"{self.base_url}/models", timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

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
        self.log_path.unlink(missing_ok=True)  # a failed start already quoted it; left, one file per start piled up

    def log_tail(self, chars: int = 400) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""


def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop(grace_s=1.0)


@functools.cache  # once per process
def _install_exit_handlers() -> None:
    """atexit always; SIGTERM/SIGHUP become a normal exit (so atexit runs) where nobody else handles them."""
    atexit.register(_stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _exit_on_signal)


def _exit_on_signal(signum, frame) -> None:
    _stop_all()
    raise SystemExit(128 + signum)
