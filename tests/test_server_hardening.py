"""Issue 16 on the real server app: cheap inputs stay cheap, errors never echo large inputs, an over-long
typed turn gets an error, /api/health reuses the loaded models, /api/transcribe is bounded."""
from __future__ import annotations

import asyncio
import io
import json
import wave

import numpy as np
import pytest

from fixtures_server import home_config, make_client, tone
from penny.server import api

WS = "ws://127.0.0.1:8765/ws"


def wav_bytes(samples: np.ndarray, rate: int = 16000, channels: int = 1) -> bytes:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(pcm, channels).tobytes())
    return buf.getvalue()


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    return home_config(tmp_path, monkeypatch, {"wake": {"mode": "push_to_talk"}})


# ---- 422 replies never echo the input ----
@pytest.mark.parametrize("body", [
    json.dumps({"text": "x" * 100_000}),  # too long
    json.dumps({"text": "hi", "session_id": "bad/" + "y" * 100_000}),  # pattern and length
    '{"text": "' + "z" * 100_000,  # not JSON at all
])
def test_422_names_the_fields_without_echoing_100_kb(client, body):
    r = client.post("/api/chat", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert len(r.content) < 2000, len(r.content)
    for run in ("x" * 200, "y" * 200, "z" * 200):
        assert run not in r.text
    out = r.json()
    assert out["error"]["code"] == "invalid-request" and out["error"]["message"]
    assert out["detail"] and all(set(d) == {"loc", "msg", "type"} for d in out["detail"])


def test_422_still_says_which_field(client):
    r = client.post("/api/chat", json={"text": "x" * 5000})
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["body", "text"] and "4000" in detail[0]["msg"]
    assert "text:" in r.json()["error"]["message"]


# ---- WebSocket: an over-long typed turn is refused, not cut ----
def test_ws_overlong_text_gets_an_error_and_no_reply(client, engines):
    with client.websocket_connect(WS, subprotocols=["penny.v1"]) as ws:
        ws.send_json({"type": "hello", "protocol": 1})
        assert json.loads(ws.receive_text())["type"] == "hello"
        ws.send_json({"type": "text", "text": "w" * 4001})
        err = json.loads(ws.receive_text())
        assert err["type"] == "error" and err["code"] == "text-too-long" and err["fatal"] is False
        assert "4000" in err["message"] and "4001" in err["message"] and "w" * 50 not in err["message"]
        ws.send_json({"type": "ping", "id": 1})  # the connection carries on, and nothing was answered
        pong = json.loads(ws.receive_text())
        assert (pong["type"], pong["id"]) == ("pong", 1)
        ws.send_json({"type": "text", "text": "  " + "v" * 4000 + "  "})  # 4000 after trimming: fine
        msg = json.loads(ws.receive_text())
        assert msg["type"] == "reply.start" and len(msg["user_text"]) == 4000


# ---- /api/transcribe: bounded length and concurrency ----
def test_transcribe_refuses_audio_over_the_length_cap(client, monkeypatch):
    monkeypatch.setattr(api, "MAX_TRANSCRIBE_S", 1.0)
    r = client.post("/api/transcribe", content=wav_bytes(tone(1.5)), headers={"content-type": "audio/wav"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "audio-too-long"
    r = client.post("/api/transcribe", content=wav_bytes(tone(0.5)), headers={"content-type": "audio/wav"})
    assert r.status_code == 200


def test_transcribe_says_busy_when_the_stt_slot_stays_taken(client, monkeypatch):
    state = client.app.state.penny
    monkeypatch.setattr(api, "STT_WAIT_S", 0.2)
    client.portal.call(state.stt_slot.acquire)  # another upload is being decoded
    try:
        r = client.post("/api/transcribe", content=wav_bytes(tone(0.5)), headers={"content-type": "audio/wav"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "busy" and r.headers["retry-after"]
    finally:
        state.stt_slot.release()
    r = client.post("/api/transcribe", content=wav_bytes(tone(0.5)), headers={"content-type": "audio/wav"})
    assert r.status_code == 200


def test_transcribe_slot_is_held_until_the_decode_ends(cfg, engines):
    """One decode at a time: two parallel uploads never run STT at once."""
    running, peak = 0, 0

    async def slow(audio):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        from penny.core.events import Transcript
        return Transcript("x", audio_s=audio.duration_s, processing_s=0.05)

    engines.stt.transcribe = slow
    import concurrent.futures as cf

    with make_client(cfg, engines) as c, cf.ThreadPoolExecutor(4) as pool:
        body = wav_bytes(tone(0.3), 8000, channels=2)
        codes = list(pool.map(lambda _: c.post("/api/transcribe", content=body,
                                                headers={"content-type": "audio/wav"}).status_code, range(4)))
    assert codes == [200] * 4 and peak == 1


# ---- /api/health reuses the loaded engines ----
def test_health_does_not_load_a_second_whisper_or_voice(client, monkeypatch):
    import penny.adapters.stt.factory as stt_factory
    import penny.adapters.tts.factory as tts_factory

    def boom(*a, **k):
        raise AssertionError("health loaded a second model")

    monkeypatch.setattr(stt_factory, "build_stt", boom)
    monkeypatch.setattr(tts_factory, "build_engine", boom)
    body = client.get("/api/health").json()
    rows = {c["component"]: c for c in body["checks"]}
    assert rows["stt"]["status"] == "ok" and "fake-stt" in rows["stt"]["detail"]
    assert rows["tts"]["status"] == "ok" and "loaded" in rows["tts"]["detail"]
    assert rows["config"]["status"] == "ok"


def test_health_fails_when_an_engine_is_missing(client):
    client.app.state.penny.engines.stt = None
    r = client.get("/api/health")
    assert r.status_code == 503
    assert {c["component"]: c["status"] for c in r.json()["checks"]}["stt"] == "fail"

