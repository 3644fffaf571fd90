"""`penny serve` as a subprocess for the benchmark's WebSocket pass (benchmarks/ws_path.py): a free loopback
port, the benchmark's isolated config in a file, its own PENNY_HOME, ready once /api/health answers."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _penny_command() -> list[str]:
    exe = Path(sys.executable).parent / "penny"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "penny"]


class Server:
    """`penny serve` in a subprocess on a free loopback port, with `cfg` written to a file in `tmp`."""

    def __init__(self, cfg, tmp: Path, *, ready_timeout_s: float = 300.0):
        self.tmp = tmp
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.ready_timeout_s = ready_timeout_s
        self.config_file = tmp / "penny_config.json"
        self.config_file.write_text(cfg.model_dump_json(indent=1), encoding="utf-8")
        self.log_file = tmp / "serve.log"
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    async def start(self) -> "Server":
        import httpx

        home = self.tmp / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PENNY_")}  # the config file says it all
        env.update(PENNY_HOME=str(home), PYTHONUNBUFFERED="1")
        cmd = _penny_command() + ["--config", str(self.config_file), "serve", "--host", "127.0.0.1",
                                  "--port", str(self.port)]
        t0 = time.perf_counter()
        with self.log_file.open("w") as out:
            self.proc = subprocess.Popen(cmd, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = t0 + self.ready_timeout_s
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"penny serve exited ({self.proc.returncode}):\n{self.log_tail()}")
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"penny serve was not ready in {self.ready_timeout_s:.0f}s:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    r = await http.get(f"{self.base}/api/health")  # answers once the models are loaded
                    if r.status_code in (200, 503):
                        self.health = {"status": r.status_code, "healthy": r.json().get("healthy")}
                        break
                await asyncio.sleep(0.5)
        self.startup_s = round(time.perf_counter() - t0, 1)
        return self

    def cpu_s(self) -> float | None:
        """CPU seconds of the server and its children (the LLM server) so far."""
        import psutil

        try:
            me = psutil.Process(self.proc.pid)
            procs = [me] + me.children(recursive=True)
        except psutil.Error:
            return None
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


async def warm_llm(base: str) -> dict:
    """The server's first LLM request (slower than later ones), over /api/chat, timed and not counted."""
    import httpx

    t0 = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=120) as http:
            r = await http.post(f"{base}/api/chat", json={"text": "Say hello.", "session_id": "bench-warmup",
                                                          "stream": False})
        return {"status": r.status_code, "total_ms": round((time.perf_counter() - t0) * 1000.0, 1)}
    except Exception as exc:
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
