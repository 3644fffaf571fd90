"""How the Wyoming services start: `penny wyoming --uri ...` (a real process) and `penny serve` with
wyoming.enabled (the app's lifespan, here on the fake engines)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from wyoming.event import read_event, write_event
from wyoming.info import Describe, Info

from fixtures_server import FakeEngines, make_client
from fixtures_skills import free_port
from penny.config import PennyConfig


def describe(port: int) -> Info:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s, s.makefile("rwb") as f:
        write_event(Describe().event(), f)
        while (e := read_event(f)) is not None:
            if e.type == "info":
                return Info.from_event(e)
    raise AssertionError("no info")


def test_serve_starts_wyoming_when_enabled(tmp_path, monkeypatch):
    monkeypatch.setenv("PENNY_HOME", str(tmp_path))
    assert PennyConfig().wyoming.enabled is False and PennyConfig().wyoming.zeroconf is False  # nothing by default
    port = free_port()
    cfg = PennyConfig.model_validate({"wyoming": {"enabled": True, "uri": f"tcp://127.0.0.1:{port}"}})
    with make_client(cfg, FakeEngines(cfg)) as c:
        assert c.get("/api/health").status_code in (200, 503)
        info = describe(port)
        assert info.asr and info.tts and info.wake and info.handle
    with pytest.raises(OSError):  # stopped with the app
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.slow
def test_penny_wyoming_command(tmp_path):
    port = free_port()
    env = {**os.environ, "PENNY_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "penny", "wyoming", "--uri", f"tcp://127.0.0.1:{port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # the models load first; then the port opens
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        info = describe(port)
        assert info.asr[0].models[0].name == "tiny.en" and info.handle[0].name == "penny"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "Wyoming services are ready" in err
