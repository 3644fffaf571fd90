"""Penny as Wyoming services, driven by the real `wyoming` client against the real server on a free port:
describe/info, asr, tts (whole and streamed), wake (phrase and openWakeWord), handle, and bad input."""
from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import pytest_asyncio
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.intent import Recognize
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop
from wyoming.wake import Detect, Detection

from fixtures_speech import concat_with_silence, silence, synth_piper
from penny.app.engines import Engines
from penny.config import PennyConfig
from penny.core.pcm import resample
from penny.plugins.base import ManualClock
from penny.wyoming.server import WyomingService

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
NOW = datetime(2026, 11, 25, 15, 7, tzinfo=ZoneInfo("Europe/Berlin"))  # the tests' "now": 3:07 pm
WAIT = 120.0  # a hang guard for reads, never a measure


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wyoming")
    cfg = PennyConfig.model_validate({"llm": {"provider": "embedded"}, "memory": {"path": str(tmp / "memory.db")},
                                      "tts": {"cache": {"dir": str(tmp / "tts-cache")}},
                                      "assistant": {"timezone": "Europe/Berlin"}})
    engines = await Engines.load(cfg, data_dir=tmp / "data", clock=ManualClock(NOW))
    svc = await WyomingService(engines, "tcp://127.0.0.1:0", body_timeout_s=1.0).start()
    yield svc
    await svc.stop()
    await engines.aclose()


def client(svc) -> AsyncTcpClient:
    return AsyncTcpClient("127.0.0.1", svc.port, read_timeout=WAIT)


def pcm_bytes(x: np.ndarray, width: int, channels: int) -> bytes:
    x = np.clip(x, -1, 1)
    if width == 1:
        a = (x * 127 + 128).astype(np.uint8)
    elif width == 2:
        a = (x * 32767).astype("<i2")
    else:
        a = (x * (2**31 - 1)).astype("<i4")
    return np.repeat(a[:, None], channels, axis=1).tobytes()


async def send_audio(c, x: np.ndarray, rate: int = 16000, width: int = 2, channels: int = 1, chunk: int = 1024):
    await c.write_event(AudioStart(rate, width, channels).event())
    for i in range(0, len(x), chunk):
        await c.write_event(AudioChunk(rate, width, channels, pcm_bytes(x[i:i + chunk], width, channels)).event())
    await c.write_event(AudioStop().event())


async def read_until(c, *types: str) -> list[Event]:
    seen = []
    while True:
        e = await c.read_event()
        assert e is not None, f"connection closed; saw {[s.type for s in seen]}"
        seen.append(e)
        if e.type in types:
            return seen


def words(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", " ", text.lower())


async def transcribe(svc, x, **fmt) -> list[Event]:
    async with client(svc) as c:
        await c.write_event(Transcribe(language="en").event())
        await send_audio(c, x, **fmt)
        return await read_until(c, "transcript")


# ---- describe ----
async def test_describe_lists_every_service(service):
    async with client(service) as c:
        await c.write_event(Describe().event())
        info = Info.from_event((await read_until(c, "info"))[-1])
    penny = importlib.metadata.version("penny")
    assert [len(info.asr), len(info.tts), len(info.wake), len(info.handle)] == [1, 1, 1, 1]
    for program in (info.asr[0], info.tts[0], info.wake[0], info.handle[0]):
        assert program.installed and program.version == penny and program.attribution.name == "Penny"
        assert program.name and program.description
    assert info.asr[0].models[0].name == "tiny.en" and info.asr[0].models[0].languages == ["en"]
    assert info.asr[0].models[0].version == importlib.metadata.version("faster-whisper")
    assert info.asr[0].supports_transcript_streaming and info.tts[0].supports_synthesize_streaming
    voice = info.tts[0].voices[0]
    assert voice.name == "en_US-joe-medium" and voice.languages == ["en_US"] and voice.installed
    wake = {m.name: m for m in info.wake[0].models}
    assert wake["hey_penny"].phrase == "Hey Penny" and "hey_jarvis" in wake and all(m.languages for m in wake.values())
    assert info.handle[0].models[0].languages == ["en"]


# ---- asr ----
async def test_transcribe_synthesized_speech(service):
    events = await transcribe(service, concat_with_silence([synth_piper("Set a timer for five minutes.")],
                                                           lead_s=0.3, tail_s=0.3))
    types = [e.type for e in events]
    final = Transcript.from_event(events[-1])
    assert "timer" in words(final.text) and ("five" in words(final.text) or "5" in final.text), final.text
    assert types.index("transcript-start") < types.index("transcript-stop") < types.index("transcript")
    streamed = "".join(e.data["text"] for e in events if e.type == "transcript-chunk")
    assert streamed.strip() == final.text and final.language == "en"


@pytest.mark.parametrize("rate,width,channels", [(48000, 2, 2), (22050, 4, 1), (8000, 1, 1)])
async def test_transcribe_resamples_any_format(service, rate, width, channels):
    x = resample(concat_with_silence([synth_piper("What is the weather tomorrow?")], lead_s=0.3, tail_s=0.3),
                 16000, rate)
    text = Transcript.from_event((await transcribe(service, x, rate=rate, width=width, channels=channels))[-1]).text
    assert "weather" in words(text), (rate, width, channels, text)


# ---- tts ----
def audio_of(events: list[Event]) -> tuple[int, np.ndarray]:
    start = next(AudioStart.from_event(e) for e in events if e.type == "audio-start")
    pcm = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
    return start.rate, np.frombuffer(pcm, "<i2").astype(np.float32) / 32768


async def test_synthesize_speaks_the_text(service):
    async with client(service) as c:
        await c.write_event(Synthesize(text="The kitchen timer is done. Time to eat.").event())
        events = await read_until(c, "audio-stop")
    rate, x = audio_of(events)
    assert [e.type for e in events].count("audio-start") == 1 and rate == 22050
    assert len(x) / rate > 1.0 and float(np.sqrt(np.mean(x ** 2))) > 0.01  # seconds of real signal
    heard = Transcript.from_event((await transcribe(service, x, rate=rate))[-1]).text  # and it is those words
    assert "kitchen" in words(heard) or "timer" in words(heard), heard


async def test_synthesize_streaming_sends_each_sentence_when_ready(service):
    async with client(service) as c:
        await c.write_event(SynthesizeStart().event())
        await c.write_event(SynthesizeChunk(text="The first sentence is here. ").event())
        await c.write_event(SynthesizeChunk(text="And the second").event())
        # The first sentence's audio comes while the text is still open (no synthesize-stop yet).
        first = await read_until(c, "audio-stop")
        await c.write_event(SynthesizeChunk(text=" one ends the stream.").event())
        await c.write_event(Synthesize(text="The first sentence is here. And the second one ends the stream.").event())
        await c.write_event(SynthesizeStop().event())
        rest = await read_until(c, "synthesize-stopped")
    assert [e.type for e in rest].count("audio-start") == 1  # the second sentence; the compat `synthesize` ignored
    (r1, a1), (r2, a2) = audio_of(first), audio_of(rest)
    assert r1 == r2 == 22050 and len(a1) / r1 > 0.8 and len(a2) / r2 > 0.8
    heard = Transcript.from_event((await transcribe(service, a2, rate=r2))[-1]).text
    assert "second" in words(heard) or "stream" in words(heard), heard


# ---- wake ----
async def detect(service, x, names=None) -> list[Event]:
    async with client(service) as c:
        await c.write_event(Detect(names=names).event())
        await send_audio(c, x)
        return await read_until(c, "not-detected", "detection")


@pytest.mark.parametrize("names,said,expected", [
    (None, "Hey Penny, what time is it?", "hey_penny"),
    (None, "What is the weather tomorrow?", None),
    (["hey_jarvis"], "Hey Jarvis", "hey_jarvis"),
    (["hey_jarvis"], "Turn on the kitchen lights.", None),
])
async def test_wake_word(service, names, said, expected):
    x = concat_with_silence([synth_piper(said)], lead_s=1.0, tail_s=1.0)
    last = (await detect(service, x, names))[-1]
    if expected is None:
        assert last.type == "not-detected"
    else:
        hit = Detection.from_event(last)
        assert last.type == "detection" and hit.name == expected and 500 < hit.timestamp <= len(x) / 16


# ---- handle ----
async def test_handle_what_time_is_it(service):
    async with client(service) as c:
        await c.write_event(Transcript(text="What time is it?", context={"conversation_id": "kitchen-1"}).event())
        answer = Handled.from_event((await read_until(c, "handled", "not-handled"))[-1])
    assert "3:07" in answer.text, answer.text
    assert answer.context["conversation_id"] == "kitchen-1"
    turns = service.engines.memory.turns("wyoming-kitchen-1")
    assert [t.user_text for t in turns] == ["What time is it?"]  # one conversation, kept by its id


async def test_recognize_is_answered_too(service):
    async with client(service) as c:
        await c.write_event(Recognize(text="what's the time").event())
        last = (await read_until(c, "handled", "not-handled"))[-1]
    assert last.type == "handled" and "3:07" in last.data["text"]


# ---- bad input: a log line, that connection dropped, the rest keep working ----
async def raw(service, data: bytes, close_write: bool = False) -> list[Event]:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(data)
    await writer.drain()
    if close_write:
        writer.write_eof()
    events = []
    while (e := await asyncio.wait_for(async_read_event(reader), WAIT)) is not None:
        events.append(e)
    writer.close()
    return events  # the server closed the connection: the loop ended


def header(**event) -> bytes:
    return json.dumps(event).encode() + b"\n"


CHUNK = {"rate": 16000, "width": 2, "channels": 1}


@pytest.mark.parametrize("data,code,logged", [
    (b"{this is not json\n", "bad-event", "malformed event header"),
    (b'["a list"]\n', "bad-event", "malformed event header"),
    (header(type="audio-chunk", data=CHUNK, payload_length=1000) + b"x" * 10, "bad-length", "did not come within"),
    (header(type="audio-chunk", data=CHUNK, payload_length=10**9), "too-large", "announces 1000000000 bytes"),
    (header(type="audio-start", data={"rate": 16000, "width": 3, "channels": 1}), "bad-audio", "sample width 3"),
    (header(type="audio-start", data={"rate": 0, "width": 2, "channels": 1}), "bad-audio", "sample rate 0"),
    (header(type="audio-start", data=CHUNK) + header(type="audio-chunk", data=CHUNK, payload_length=3) + b"abc",
     "bad-audio", "not whole frames"),
    (header(type="detect", data={"names": ["hey_nobody"]}), "model-not-found", "'hey_nobody' was not found"),
])
async def test_bad_input_is_refused_and_logged(service, caplog, data, code, logged):
    caplog.set_level(logging.WARNING, logger="penny.wyoming")
    events = await raw(service, data)
    assert [Error.from_event(e).code for e in events if e.type == "error"] == [code]
    assert any(logged in r.getMessage() and "connection dropped" in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records]


async def test_lying_length_then_close_and_mid_stream_disconnect_are_logged(service, caplog):
    caplog.set_level(logging.WARNING, logger="penny.wyoming")
    await raw(service, header(type="audio-chunk", data=CHUNK, payload_length=1000) + b"x" * 10, close_write=True)
    async with client(service) as c:
        await c.write_event(Transcribe().event())
        await c.write_event(AudioStart(16000, 2, 1).event())
        await c.write_event(AudioChunk(16000, 2, 1, pcm_bytes(silence(0.5), 2, 1)).event())
    for _ in range(200):  # the server notices the close on its own schedule
        messages = " | ".join(r.getMessage() for r in caplog.records)
        if "mid-stream" in messages:
            break
        await asyncio.sleep(0.05)
    assert "closed after 10 of the 1000 bytes" in messages
    assert "disconnected mid-stream, after 0.5 s of audio" in messages


async def test_a_stuck_client_does_not_hold_up_the_others(service):
    stuck = asyncio.create_task(raw(service, header(type="audio-chunk", data=CHUNK, payload_length=5000) + b"x"))
    x = concat_with_silence([synth_piper("Turn on the kitchen lights.")], lead_s=0.3, tail_s=0.3)
    results = await asyncio.gather(transcribe(service, x), transcribe(service, x), stuck)
    assert all("kitchen" in words(Transcript.from_event(r[-1]).text) for r in results[:2])
    assert [e.type for e in results[2]] == ["error"]
    async with client(service) as c:  # and the server still answers afterwards
        await c.write_event(Describe().event())
        assert (await read_until(c, "info"))[-1].type == "info"
