"""Fixtures for the skills tests: a controllable clock, a registry builder, a real Radicale server
and a tiny OpenAI-compatible server that answers with `tool_calls` first and a final answer after.

Test modules import what they use: `from fixtures_skills import radicale, make_registry, ...`.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from penny.config import PennyConfig
from penny.plugins.base import ManualClock
from penny.plugins.loading import build_plugins

DATA = Path(__file__).parent / "data"
BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 25 November 2026, 8 am in Berlin: the tests' "now".
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alert_engines(tmp_path: Path, llm):
    """Engines whose timers run on a manual clock (09:00 UTC), spoken by espeak, every utterance a command: for
    tests where a timer fires into live sessions. Returns (engines, clock); the plugins are started."""
    from datetime import timezone

    from penny.adapters.tts.factory import build_tts
    from penny.app.engines import Engines
    from penny.memory.store import MemoryStore

    cfg = PennyConfig.model_validate({"tts": {"provider": "espeak", "fallbacks": []},
                                      "wake": {"mode": "always_listening"}})
    clock = ManualClock(datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc))
    plugins = build_plugins(cfg, clock=clock, data_dir=tmp_path)
    engines = Engines(cfg, llm=llm, stt=None, tts=build_tts(cfg, cache=False), plugins=plugins,
                      memory=MemoryStore(tmp_path / "m.db"))
    plugins.start()
    return engines, clock


def make_config(**plugins) -> PennyConfig:
    cfg = PennyConfig()
    cfg.assistant.timezone = "Europe/Berlin"
    for section, values in plugins.items():
        for key, value in values.items():
            setattr(getattr(cfg.plugins, section), key, value)
    return cfg


def make_registry(tmp_path: Path, clock: ManualClock | None = None, **plugins):
    clock = clock or ManualClock(NOW)
    return build_plugins(make_config(**plugins), clock=clock, data_dir=tmp_path / "data"), clock


# ---------------------------------------------------------------- Radicale


class Radicale:
    def __init__(self, root: Path, user: str = "penny", password: str = "s3cret"):
        self.root, self.user, self.password = root, user, password
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def calendar_url(self, cal_id: str) -> str:
        return f"{self.url}{self.user}/{cal_id}/"

    def start(self) -> "Radicale":
        (self.root / "collections").mkdir(parents=True, exist_ok=True)
        (self.root / "users").write_text(f"{self.user}:{self.password}\n")
        config = self.root / "config"
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {self.root / 'users'}\nhtpasswd_encryption = plain\n"
            "delay = 0\n"
            f"[storage]\nfilesystem_folder = {self.root / 'collections'}\n"
            "[rights]\ntype = owner_only\n[logging]\nlevel = warning\n")
        with open(self.root / "radicale.log", "wb") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)],
                                         stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("radicale exited: " + (self.root / "radicale.log").read_text()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("radicale did not start within 30 s")

    def make_calendar(self, cal_id: str) -> str:
        import caldav

        client = caldav.DAVClient(url=self.url, username=self.user, password=self.password,
                                  enable_rfc6764=False)
        client.principal().make_calendar(name=cal_id, cal_id=cal_id)
        return self.calendar_url(cal_id)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


@pytest.fixture(scope="module")
def radicale(tmp_path_factory):
    pytest.importorskip("radicale")
    server = Radicale(tmp_path_factory.mktemp("radicale")).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- a tool-calling chat server


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    obj = {"id": "chatcmpl-skills", "object": "chat.completion.chunk", "created": int(time.time()),
           "model": "tool-model", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(obj)}\n\n".encode()


class ToolCallServer:
    """POST /v1/chat/completions: without a `tool` message in the request it streams one tool call
    (arguments split over two chunks, as real servers do); with one it streams a final answer that
    quotes the tool result. Every request body is kept in `requests`."""

    def __init__(self, tool_name: str, arguments: dict):
        self.tool_name, self.arguments = tool_name, arguments
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                body = json.dumps({"object": "list", "data": [{"id": "tool-model", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in outer._answer(body):
                    self.wfile.write(piece)
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _answer(self, body: dict):
        tool_msgs = [m for m in body["messages"] if m.get("role") == "tool"]
        if not tool_msgs:
            args = json.dumps(self.arguments)
            half = len(args) // 2
            yield _chunk({"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function",
                 "function": {"name": self.tool_name, "arguments": args[:half]}}]})
            yield _chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[half:]}}]})
            yield _chunk({}, "tool_calls")
            return
        said = tool_msgs[-1]["content"].split("\n")[0]
        for word in ["Here ", "you ", "go: ", said]:
            yield _chunk({"content": word})
        yield _chunk({}, "stop")

    def start(self) -> "ToolCallServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
