"""The server on the real engines (Engines.load on the built-in defaults): the app's lifespan loads
the models once; WebSocket voice turn, transcribe, speak (round trip through STT), chat, models, health."""
from __future__ import annotations

import io
import json
import os
import re
import wave

import numpy as np
import pytest
from fastapi.testclient import TestClient

from fixtures_speech import load, silence, synth_piper
from penny.config import PennyConfig
from penny.server import protocol as P
from penny.server.app import create_app

pytestmark = pytest.mark.slow
BASE = "http://127.0.0.1:8765"


def words(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("PENNY_HOME",)}
    os.environ["PENNY_HOME"] = str(home)
    cfg = PennyConfig.model_validate({"wake": {"mode": "always_listening"}})
    try:
        with TestClient(create_app(cfg), base_url=BASE) as c:  # lifespan: Engines.load(cfg)
            yield c
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.parametrize("mode,said", [("always_listening", "What time is it?"),
                                       ("wake_word", "Hey Penny, what time is it?")])
def test_real_voice_turn_over_websocket(client, mode, said):
    audio = np.concatenate([silence(0.4), load(synth_piper(said)), silence(1.5)])
    pcm = (audio * 32767).astype(np.int16)
    with client.websocket_connect("ws://127.0.0.1:8765/ws", subprotocols=["penny.v1"]) as ws:
        ws.send_json({"type": "hello", "protocol": 1, "mode": mode})
        for i, start in enumerate(range(0, len(pcm), 640)):
            ws.send_bytes(P.pack_audio(P.KIND_MIC, 16000, i, pcm[start:start + 640]))
        seen, samples, trace = [], 0, None
        for _ in range(2000):
            msg = ws.receive()
            if msg.get("bytes") is not None:
                samples += (len(msg["bytes"]) - P.HEADER_BYTES) // 2
                continue
            m = json.loads(msg["text"])
            seen.append(m)
            if m["type"] == "turn.trace":
                trace = m
                break
    by_type = {m["type"]: m for m in seen}
    assert "time" in words(by_type["transcript"]["text"])
    assert by_type["reply.done"]["text"]
    assert samples > 16000 * 0.3
    assert by_type["audio.start"]["sample_rate"] == client.app.state.penny.engines.tts.sample_rate
    assert trace and {"transcript", "first_audio"} <= set(trace["ms"])
    assert 'penny_turns_total{channel="voice"' in client.get("/metrics").text


def test_real_speak_then_transcribe(client):
    r = client.post("/api/speak", json={"text": "The kitchen timer is done."})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as w:
        assert w.getnframes() / w.getframerate() > 0.5
    t = client.post("/api/transcribe", files={"file": ("speech.wav", r.content, "audio/wav")})
    assert t.status_code == 200, t.text
    assert "kitchen" in words(t.json()["text"]) or "timer" in words(t.json()["text"])


def test_real_chat_models_health(client):
    r = client.post("/api/chat", json={"text": "What time is it?", "session_id": "real-1"})
    assert r.status_code == 200
    assert "event: done" in r.text
    models = client.get("/api/models").json()
    assert models["active"]["backend"] and "embedded" in models["models"]
    health = client.get("/api/health")
    assert health.json()["checks"] and health.status_code in (200, 503)
    turns = client.get("/api/history", params={"session_id": "real-1"}).json()["turns"]
    assert turns and turns[0]["user_text"] == "What time is it?"
