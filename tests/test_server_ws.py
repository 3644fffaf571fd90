"""The WebSocket voice protocol: hello, audio in, events and audio out, barge-in, bad input, limits."""
from __future__ import annotations

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from fixtures_server import BASE, WS, hello, home_config, make_client, mic_frames, receive, tone, until
from penny.server import protocol as P
from penny.server.auth import Guard

TOKEN = "ws-token-0123456789abcdefghij"


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    return home_config(tmp_path, monkeypatch, {"server": {"max_frame_kb": 64}, "wake": {"mode": "always_listening"}})


def test_header_round_trip():
    pcm = (tone(0.02) * 32767).astype(np.int16)
    data = P.pack_audio(P.KIND_MIC, 16000, 7, pcm)
    assert len(data) == P.HEADER_BYTES + 2 * len(pcm)
    frame = P.unpack_audio(data)
    assert (frame.kind, frame.sample_rate, frame.stream) == (1, 16000, 7)
    assert np.array_equal(frame.pcm, pcm)
    chunk = P.to_chunk(P.unpack_audio(P.pack_audio(P.KIND_MIC, 48000, 0, np.zeros(960, np.int16))))
    assert chunk.sample_rate == 16000 and len(chunk.samples) == 320


def test_hello_describes_server(client):
    with client.websocket_connect(WS, subprotocols=["penny.v1"]) as ws:
        h = hello(ws, mode="push_to_talk")
        assert h["protocol"] == 1 and h["session_id"] and h["mode"] == "push_to_talk"
        assert h["audio"]["in"]["sample_rate"] == 16000 and h["audio"]["header_bytes"] == 12
        assert h["audio"]["out"]["sample_rate"] > 0 and h["llm"]["backend"] and h["voice"]["engine"]
        assert h["auth"] is False


def test_voice_turn_hands_free(client):
    with client.websocket_connect(WS) as ws:
        hello(ws, mode="always_listening")
        speech = np.concatenate([np.zeros(3200, np.float32), tone(0.6), np.zeros(16000, np.float32)])
        for frame in mic_frames(speech):
            ws.send_bytes(frame)
        transcript, _ = until(ws, "transcript")
        assert transcript["text"]
        start, _ = until(ws, "reply.start")
        audio_start, seen = until(ws, "audio.start")
        assert any(isinstance(m, dict) and m["type"] == "reply.delta" for m in seen)
        done, seen = until(ws, "reply.done")
        frames = [m for m in seen if isinstance(m, tuple)]
        assert frames, "reply audio frames"
        assert all(f[1] == P.KIND_REPLY and f[3] == audio_start["sample_rate"] and f[4] == audio_start["stream"]
                   for f in frames)
        assert sum(len(f[5]) for f in frames) > 0
        assert any(isinstance(m, dict) and m["type"] == "audio.end" for m in seen)
        assert done["turn_id"] == start["turn_id"] and done["interrupted"] is False
        trace, _ = until(ws, "turn.trace")
        assert trace["turn_id"] == start["turn_id"] and "transcript" in trace["ms"]
    metrics = client.get("/metrics").text
    assert 'penny_turns_total{channel="voice",interrupted="false"} 1.0' in metrics
    assert 'penny_stage_latency_seconds_count{stage="transcript"} 1.0' in metrics


def test_push_to_talk_and_typed_turns(client):
    with client.websocket_connect(WS) as ws:
        hello(ws, mode="push_to_talk")
        ws.send_json({"type": "start"})
        until(ws, "speech.start")
        for frame in mic_frames(tone(0.5)):
            ws.send_bytes(frame)
        ws.send_json({"type": "stop"})
        until(ws, "speech.end")
        assert until(ws, "transcript")[0]["text"]
        until(ws, "reply.done")
        ws.send_json({"type": "text", "text": "typed question"})
        start, _ = until(ws, "reply.start")
        assert start["user_text"] == "typed question"
        done, _ = until(ws, "reply.done")
        assert "typed question" in done["text"]


def test_interrupt_stops_audio_at_once(client, engines):
    engines.audio_pause = 0.3
    with client.websocket_connect(WS) as ws:
        hello(ws)
        ws.send_json({"type": "text", "text": "tell me a long story"})
        start, _ = until(ws, "audio.start")
        ws.send_json({"type": "interrupt"})
        stop, seen = until(ws, "audio.stop")
        assert stop["stream"] == start["stream"]
        assert until(ws, "interrupted")[0]["turn_id"] == start["turn_id"]
        done, seen = until(ws, "reply.done")
        assert done["interrupted"] is True
        trace, _ = until(ws, "turn.trace")
        assert trace["interrupted"] is True


def test_sessions_are_separate_conversations(client, engines):
    with client.websocket_connect(WS) as a, client.websocket_connect(WS) as b:
        ha, hb = hello(a), hello(b)
        assert ha["session_id"] != hb["session_id"]
        a.send_json({"type": "text", "text": "I am A"})
        b.send_json({"type": "text", "text": "I am B"})
        until(a, "reply.done")
        until(b, "reply.done")
    ta = client.get("/api/history", params={"session_id": ha["session_id"]}).json()["turns"]
    tb = client.get("/api/history", params={"session_id": hb["session_id"]}).json()["turns"]
    assert [t["user_text"] for t in ta] == ["I am A"] and [t["user_text"] for t in tb] == ["I am B"]


def test_session_resumes_by_id_unless_taken(client):
    with client.websocket_connect(WS) as a:
        sid = hello(a, session_id="kitchen")["session_id"]
        assert sid == "kitchen"
        with client.websocket_connect(WS) as b:
            assert hello(b, session_id="kitchen")["session_id"] != "kitchen"  # in use: a fresh one
    with client.websocket_connect(WS) as c:
        assert hello(c, session_id="kitchen")["session_id"] == "kitchen"


@pytest.mark.parametrize("bad", [
    "not json", "[1,2]", '{"no": "type"}', '{"type": "dance"}', '{"type": "text"}', '{"type": "text", "text": "  "}',
    '{"type": "mode", "mode": "loud"}', '{"type": "hello", "session_id": "../../x"}', '{"type": 3}'])
def test_bad_message_gets_error_and_connection_survives(client, bad):
    with client.websocket_connect(WS) as ws:
        hello(ws)
        ws.send_text(bad)
        err, _ = until(ws, "error")
        assert err["code"] == "protocol-error" and err["message"] and err["fatal"] is False
        ws.send_json({"type": "ping", "id": 1})
        assert until(ws, "pong")[0]["id"] == 1


@pytest.mark.parametrize("frame", [b"\x01", b"\x09\x01\x00\x00\x80>\x00\x00\x00\x00\x00\x00",
                                   P.HEADER.pack(1, 1, 0, 16000, 0) + b"\x00",  # odd byte count
                                   P.HEADER.pack(1, 9, 0, 16000, 0) + b"\x00\x00",  # future version
                                   P.HEADER.pack(1, 1, 0, 1000, 0) + b"\x00\x00"])  # silly rate
def test_bad_audio_frame_gets_error(client, frame):
    with client.websocket_connect(WS) as ws:
        hello(ws)
        ws.send_bytes(frame)
        assert until(ws, "error")[0]["code"] == "protocol-error"
        ws.send_json({"type": "ping"})
        until(ws, "pong")


def test_oversized_frame_closes_only_that_connection(client):
    with client.websocket_connect(WS) as other:
        hello(other)
        with client.websocket_connect(WS) as ws:
            hello(ws)
            ws.send_bytes(P.pack_audio(P.KIND_MIC, 16000, 0, np.zeros(40_000, np.int16)))  # 80 kB > 64 kB
            err, _ = until(ws, "error")
            assert err["code"] == "frame-too-large" and err["fatal"] is True
            with pytest.raises(WebSocketDisconnect) as closed:
                receive(ws)
            assert closed.value.code == 1009
        other.send_json({"type": "ping"})
        until(other, "pong")
    assert client.get("/api/models").status_code == 200


def test_flood_closes_connection(cfg, engines):
    with make_client(cfg, engines, limits={"msgs_per_s": 5, "msgs_burst": 20}) as c:
        with c.websocket_connect(WS) as ws:
            hello(ws)
            for i in range(60):
                ws.send_json({"type": "ping", "id": i})
            with pytest.raises(WebSocketDisconnect) as closed:
                until(ws, "never")
            assert closed.value.code == 1008
        assert 'penny_ws_closed_total{reason="rate-limit"} 1.0' in c.get("/metrics").text


def test_wrong_protocol_version_is_refused(client):
    with client.websocket_connect(WS) as ws:
        ws.send_json({"type": "hello", "protocol": 99})
        err, _ = until(ws, "error")
        assert err["code"] == "protocol-version"
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
        assert closed.value.code == 1002


def test_foreign_origin_refused(client):
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(WS, headers={"origin": "https://evil.example"}) as ws:
            ws.receive()
    assert refused.value.code == 1008
    with client.websocket_connect(WS, headers={"origin": BASE}) as ws:
        hello(ws)


def test_token_on_websocket(cfg, engines):
    guard = Guard(TOKEN, loopback_only=False)
    url = "ws://10.0.0.5:8765/ws"
    with make_client(cfg, engines, "http://10.0.0.5:8765", guard=guard) as c:
        for protocols in ([], ["penny.v1"], ["penny.v1", "penny-token.wrong"]):
            with pytest.raises(WebSocketDisconnect) as refused:
                with c.websocket_connect(url, subprotocols=protocols) as ws:
                    ws.receive()
            assert refused.value.code == 1008
        with c.websocket_connect(url, subprotocols=["penny.v1", "penny-token." + TOKEN]) as ws:
            assert ws.accepted_subprotocol == "penny.v1"
            assert hello(ws)["auth"] is True
        with c.websocket_connect(url, headers={"authorization": "Bearer " + TOKEN}) as ws:
            hello(ws)


def test_mode_switch_keeps_conversation(client):
    with client.websocket_connect(WS) as ws:
        h = hello(ws, mode="always_listening")
        ws.send_json({"type": "mode", "mode": "push_to_talk"})
        h2 = until(ws, "hello")[0]
        assert h2["mode"] == "push_to_talk" and h2["session_id"] == h["session_id"]


def test_audio_without_hello_opens_default_session(client):
    with client.websocket_connect(WS) as ws:
        ws.send_bytes(next(mic_frames(np.zeros(320, np.float32))))
        h = until(ws, "hello")[0]
        assert h["mode"] == "always_listening"  # the config's wake.mode
