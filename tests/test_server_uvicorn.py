"""Limits over real sockets: uvicorn + the websockets library, as `penny serve` runs them (fake engines)."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import httpx
import numpy as np
import pytest
import uvicorn
import websockets

from fixtures_server import FakeEngines
from penny.config import PennyConfig
from penny.server import protocol as P
from penny.server.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    import os

    os.environ.setdefault("PENNY_HOME", str(tmp_path_factory.mktemp("home")))
    cfg = PennyConfig.model_validate({"server": {"max_frame_kb": 32, "max_upload_mb": 0.25},
                                      "wake": {"mode": "always_listening"}})
    port = free_port()
    app = create_app(cfg, FakeEngines(cfg))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws_max_size=cfg.server.max_frame_kb * 1024 + 4096))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


async def _recv_json(ws, kind: str, limit: int = 200) -> dict:
    for _ in range(limit):
        m = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(m, str) and json.loads(m)["type"] == kind:
            return json.loads(m)
    raise AssertionError(kind)


def test_oversized_frames_and_floods_over_a_real_socket(live):
    async def go():
        url = f"ws://{live}/ws"
        async with websockets.connect(url) as bystander:
            await bystander.send(json.dumps({"type": "hello", "protocol": 1}))
            await _recv_json(bystander, "hello")
            # Just over the limit: our own check answers with an error event, then 1009.
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send(P.pack_audio(P.KIND_MIC, 16000, 0, np.zeros(17_000, np.int16)))
                err = await _recv_json(ws, "error")
                assert err["code"] == "frame-too-large"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd.code == 1009
            # Far over: the WebSocket library refuses it before buffering it.
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send(b"\x01" * (2 * 1024 * 1024))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    for _ in range(10):
                        await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd.code == 1009
            # A flood of small messages.
            async with websockets.connect(url) as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    for i in range(5000):
                        await ws.send('{"type": "ping"}')
                    for _ in range(6000):
                        await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            # The other connection and the server carry on.
            await bystander.send(json.dumps({"type": "ping", "id": 7}))
            assert (await _recv_json(bystander, "pong"))["id"] == 7

    asyncio.run(go())
    assert httpx.get(f"http://{live}/api/models").status_code == 200
    metrics = httpx.get(f"http://{live}/metrics").text
    assert 'penny_ws_closed_total{reason="rate-limit"} 1.0' in metrics
    assert 'penny_ws_closed_total{reason="frame-too-large"} 1.0' in metrics


def test_upload_limit_over_a_real_socket(live):
    r = httpx.post(f"http://{live}/api/transcribe", content=b"\0" * (300 * 1024),
                   headers={"content-type": "audio/wav"})
    assert r.status_code == 413

    def body():
        for _ in range(40):
            yield b"\0" * 16384

    r = httpx.post(f"http://{live}/api/transcribe", content=body(), headers={"content-type": "audio/wav"})
    assert r.status_code == 413
    assert httpx.get(f"http://{live}/api/models").status_code == 200
