"""The benchmark's WebSocket-path arithmetic (benchmarks/ws_path.py): exact figures from made-up times, and a
fake server over a real socket that answers a known time after the frame holding the end of speech."""
from __future__ import annotations

import asyncio
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import ws_path  # noqa: E402
from benchmarks.corpus import Clip, Request  # noqa: E402

REPLY_AFTER_S = 0.25  # the fake server's "pipeline": reply audio this long after the end frame arrives
VAD_LATE_S = 0.05  # its endpointer puts the end of speech this much after the true one


def make_clip(speech_start: float = 0.1, speech_s: float = 0.21, total_s: float = 0.6) -> Clip:
    audio = np.zeros(int(total_s * 16000), np.float32)
    a, b = int(speech_start * 16000), int((speech_start + speech_s) * 16000)
    audio[a:b] = 0.3 * np.sin(np.arange(b - a) / 5.0)
    return Clip(Request("tiny-1", "What time is it?", "local", "piper"), audio, speech_start, speech_s)


def test_true_end_is_the_sample_not_the_frame():
    # 0.31 s lies in frame 15 (0.30-0.32 s): that frame leaves 10 ms after the sample was spoken.
    assert ws_path.true_end_wall(100.0, 15, 0.31) == pytest.approx(99.99)
    frame = ws_path.encode_mic_frame(np.array([1, -2], np.int16), 7)
    assert struct.unpack("<BBHII", frame[:12]) == (1, 1, 0, 16000, 7) and frame[12:] == b"\x01\x00\xfe\xff"


def test_finish_splits_client_figure_into_server_and_transport():
    seen = ws_path._Turns()
    t_end = 1000.0  # the true end of speech, client clock
    seen.on_text({"type": "speech.end", "t": 0.36})  # endpointer 50 ms late (true end 0.31 s)
    seen.on_text({"type": "reply.start", "turn_id": "a"})
    seen.on_text({"type": "audio.start", "turn_id": "a", "stream": 3})
    filler = struct.pack("<BBHII", 2, 1, 0, 22050, 3) + b"\0\0" * 2205
    seen.on_audio(filler, t_end + 1.3)  # a filler before the reply's own audio
    # Server clock = client clock: its end of speech at t_end + 0.05 (VAD) + 0.002 (inbound), first audio 0.4 s on.
    seen.on_text({"type": "stage", "turn_id": "a", "stage": "tts", "phase": "first", "t": t_end + 1.452})
    seen.on_audio(filler, t_end + 1.455)
    seen.on_text({"type": "reply.done", "turn_id": "a", "text": "It is noon."})
    seen.on_text({"type": "turn.trace", "turn_id": "a", "ms": {"first_audio": 1400.0}, "intent": "clock"})
    rec = ws_path.finish(ws_path.WSTurn("x", "local", 0.21), seen, t_end, t_end + 0.01, 0.31)
    assert rec.error is None and rec.path == "local" and rec.reply == "It is noon."
    assert rec.vad_end_offset_ms == pytest.approx(50.0)
    assert rec.first_audio_ms == pytest.approx(1455.0)  # the reply's frame, not the filler's
    assert rec.first_sound_ms == pytest.approx(1300.0)
    assert rec.server_first_audio_ms == pytest.approx(1450.0)
    assert rec.inbound_ms == pytest.approx(2.0)
    assert rec.outbound_ms == pytest.approx(3.0)
    assert rec.end_sent_ms == pytest.approx(10.0)
    assert rec.audio_frames == 2 and rec.reply_audio_s == pytest.approx(0.2)


def test_summary_compares_same_requests_and_leaves_out_cache_hits():
    inproc = [{"request_id": r, "mode": m, "path": "local", "ms": {"first_audio": fa}, "vad_end_offset_ms": 40.0,
               "first_sound_ms": fa} for r, m, fa in (("a", "streaming", 400.0), ("a", "sequential", 2000.0),
                                                     ("b", "streaming", 500.0), ("c", "streaming", 600.0))]
    ws = [{"request_id": "a", "path": "local", "first_audio_ms": 450.0, "first_sound_ms": 450.0},
          {"request_id": "b", "path": "local", "first_audio_ms": 560.0, "first_sound_ms": 560.0},
          {"request_id": "c", "path": "local", "first_audio_ms": 100.0, "repeat_reply": True},
          {"request_id": "w", "path": "local", "first_audio_ms": 1.0, "warmup": True}]
    sm = ws_path.summarize(ws, inproc)
    assert [p["request_id"] for p in sm["pairs"]] == ["a", "b"]
    assert sm["in_process"]["median"] == pytest.approx(490.0)  # (440 + 540) / 2: first_audio + VAD offset
    assert sm["websocket"]["median"] == pytest.approx(505.0)
    assert sm["gap_of_medians_ms"] == pytest.approx(15.0)
    assert sm["gap_pairwise"]["median"] == pytest.approx(15.0)  # 10 and 20
    assert sm["repeat_reply"] == ["c"]


async def _fake_server(handler):
    from websockets.asyncio.server import serve

    server = await serve(handler, "127.0.0.1", 0, subprotocols=["penny.v1"])
    return server, server.sockets[0].getsockname()[1]


def test_against_a_fake_server_that_answers_after_a_known_delay():
    clip = make_clip()
    end_sample = int(clip.speech_end_s * 16000)  # in frame 15 (samples 4800-5119)
    frame_end_s = (end_sample // 320 + 1) * 320 / 16000
    got: dict = {}

    async def handler(ws):
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["protocol"] == 1
        await ws.send(json.dumps({"type": "hello", "protocol": 1}))
        samples, answered = 0, False
        async for m in ws:
            assert isinstance(m, bytes) and struct.unpack("<BBHII", m[:12])[:4] == (1, 1, 0, 16000)
            assert len(m) == 12 + 640  # 20 ms frames of 320 samples, as the page sends
            samples += (len(m) - 12) // 2
            if answered or samples <= end_sample:
                continue
            answered = True
            t_recv = time.perf_counter()
            got["t_recv"] = t_recv
            await asyncio.sleep(REPLY_AFTER_S)
            # The server's wall time of its (late) end of speech, as VoiceSession._wall maps it.
            speech_end_wall = t_recv - (frame_end_s - clip.speech_end_s) + VAD_LATE_S
            await ws.send(json.dumps({"type": "speech.end", "t": clip.speech_end_s + VAD_LATE_S}))
            await ws.send(json.dumps({"type": "reply.start", "turn_id": "t1", "user_text": "what time is it"}))
            await ws.send(json.dumps({"type": "audio.start", "turn_id": "t1", "stream": 1}))
            t_fa = time.perf_counter()
            await ws.send(json.dumps({"type": "stage", "turn_id": "t1", "stage": "tts", "phase": "first",
                                      "t": t_fa}))
            await ws.send(struct.pack("<BBHII", 2, 1, 0, 22050, 1) + b"\0\0" * 2205)
            await ws.send(json.dumps({"type": "reply.done", "turn_id": "t1", "text": "It is noon."}))
            await ws.send(json.dumps({"type": "turn.trace", "turn_id": "t1", "intent": "clock",
                                      "ms": {"first_audio": round((t_fa - speech_end_wall) * 1000, 3)}}))

    async def go():
        server, port = await _fake_server(handler)
        try:
            return await ws_path.run_clip(f"ws://127.0.0.1:{port}/ws", clip, tail_s=0.1, turn_timeout_s=10)
        finally:
            server.close()
            await server.wait_closed()

    rec = asyncio.run(go())
    assert rec.error is None and rec.path == "local" and rec.turns == 1, rec
    assert rec.vad_end_offset_ms == pytest.approx(VAD_LATE_S * 1000, abs=0.1)
    # The end sample is 10 ms before its frame is complete; the server waited REPLY_AFTER_S after that frame.
    least = (REPLY_AFTER_S + frame_end_s - clip.speech_end_s) * 1000
    assert least - 1 <= rec.first_audio_ms < least + 1000  # the upper bound only catches a wrong sign or unit
    assert rec.server_first_audio_ms >= least - 1
    # The identity the split rests on: client figure = inbound + server pipeline + outbound.
    assert rec.first_audio_ms == pytest.approx(rec.server_first_audio_ms + rec.inbound_ms + rec.outbound_ms, abs=0.3)
    assert rec.inbound_ms >= -0.5 and rec.outbound_ms >= -0.5
    assert rec.end_sent_ms == pytest.approx((frame_end_s - clip.speech_end_s) * 1000, abs=0.1)
