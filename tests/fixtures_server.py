"""A small, fast stand-in for penny.app.engines.Engines with the same surface the server uses.

Speech is "heard" by energy (any frame louder than -30 dBFS); the transcript of any utterance is
FAKE_HEARD; the reply echoes what was said. The same server tests run against the real Engines
(tests/test_server_real.py), so tests assert the protocol and shapes, not these canned words.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from penny.config import PennyConfig
from penny.core.events import (AudioChunk, Interrupted, ReplyAudio, ReplyDelta, ReplyDone, ReplyStarted,
                               SpeechEnded, SpeechStarted, Transcript, TurnTrace)
from penny.errors import ModelNotFound
from penny.memory.store import MemoryStore, Turn
from penny.server import protocol as P

FAKE_HEARD = "what time is it"
VOICE_RATE = 22050


def tone(seconds: float, rate: int = 16000, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class FakeLLM:
    def __init__(self):
        self.catalog = {"embedded": ["smollm2-135m"], "ollama": ["llama3.2:3b", "qwen2.5:1.5b"]}
        self.active = SimpleNamespace(name="embedded", model="smollm2-135m")

    async def list_models(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.catalog.items()}

    def set_model(self, name: str, backend: str | None = None) -> None:
        for b, models in self.catalog.items():
            if (backend is None or backend == b) and name in models:
                self.active = SimpleNamespace(name=b, model=name)
                return
        raise ModelNotFound(f"No backend serves a model called {name!r}.")


class FakeSTT:
    name = "fake-stt"

    async def transcribe(self, audio: AudioChunk) -> Transcript:
        await asyncio.sleep(0.01)
        return Transcript(FAKE_HEARD, audio_s=audio.duration_s, processing_s=0.01)

    async def score(self, audio: AudioChunk, texts: list[str], *, prefix: str = "") -> None:
        return None  # can't say: Penny keeps what it heard


class FakeTTS:
    name = "fake-tts"
    voice = "fake-voice"
    sample_rate = VOICE_RATE

    async def synthesize(self, text: str):
        for _ in range(2):
            await asyncio.sleep(0)
            yield AudioChunk((tone(0.1, VOICE_RATE) * 32767).astype(np.int16), VOICE_RATE)


class FakeAssistant:
    def __init__(self, memory: MemoryStore, delay: float = 0.0):
        self.memory = memory
        self.delay = delay

    async def reply(self, session_id: str, text: str, *, turn_id: str | None = None, trace=None):
        turn_id = turn_id or uuid.uuid4().hex[:8]
        parts = []
        done = False
        try:
            for word in f"You said: {text}.".split(" "):
                await asyncio.sleep(self.delay)
                if trace is not None:
                    trace.mark("first_token")
                parts.append(word + " ")
                yield ReplyDelta(turn_id, word + " ")
            done = True
        finally:
            self.memory.add_turn(Turn(session_id, turn_id, time.time(), text, "".join(parts).strip(),
                                      interrupted=not done))
        yield ReplyDone(turn_id, "".join(parts).strip())


class FakeVoiceSession:
    def __init__(self, engines: "FakeEngines", session_id: str, mode: str | None):
        self.engines = engines
        self.session_id = session_id
        self.mode = mode or engines.cfg.wake.mode
        self._out: asyncio.Queue = asyncio.Queue()
        self._speech: list[np.ndarray] | None = None
        self._quiet = 0.0
        self._t = 0.0
        self._turn: asyncio.Task | None = None
        self._turn_id = ""
        self.fed_s = 0.0
        self.closed = False

    async def feed(self, chunk: AudioChunk) -> None:
        x = chunk.as_float32()
        self._t += len(x) / 16000
        self.fed_s += len(x) / 16000
        if self.mode == "push_to_talk":
            if self._speech is not None:
                self._speech.append(x)
            return
        loud = len(x) and float(np.sqrt(np.mean(x ** 2))) > 0.03
        if loud:
            if self._speech is None:
                self._speech = []
                await self.interrupt()
                await self._out.put(SpeechStarted(self._t))
            self._speech.append(x)
            self._quiet = 0.0
        elif self._speech is not None:
            self._quiet += len(x) / 16000
            if self._quiet >= 0.3:
                await self._end()

    async def _end(self) -> None:
        audio = AudioChunk(np.concatenate(self._speech) if self._speech else np.zeros(0, np.float32), 16000)
        self._speech = None
        await self._out.put(SpeechEnded(self._t, audio))
        trace = TurnTrace(uuid.uuid4().hex[:8], self.session_id)
        trace.mark("speech_end")
        self._turn, self._turn_id = asyncio.create_task(self._hear(audio, trace)), trace.turn_id

    async def _hear(self, audio: AudioChunk, trace: TurnTrace) -> None:
        transcript = await self.engines.stt.transcribe(audio)
        trace.mark("transcript")
        await self._out.put(transcript)
        await self._reply(transcript.text, trace)

    async def push_to_talk(self, pressed: bool) -> None:
        if pressed:
            await self.interrupt()
            self._speech = []
            await self._out.put(SpeechStarted(self._t))
        elif self._speech is not None:
            await self._end()

    async def ask(self, text: str) -> None:
        await self.interrupt()
        trace = TurnTrace(uuid.uuid4().hex[:8], self.session_id)
        trace.mark("speech_end")
        trace.mark("transcript")
        self._turn, self._turn_id = asyncio.create_task(self._reply(text, trace)), trace.turn_id

    async def _reply(self, text: str, trace: TurnTrace) -> None:
        turn_id = trace.turn_id
        await self._out.put(ReplyStarted(turn_id, text))
        full = []
        try:
            async for e in self.engines.assistant.reply(self.session_id, text, turn_id=turn_id, trace=trace):
                if isinstance(e, ReplyDelta):
                    full.append(e.text)
                    await self._out.put(e)
            async for chunk in self.engines.tts.synthesize("".join(full)):
                trace.mark("first_audio")
                await self._out.put(ReplyAudio(turn_id, chunk))
                await asyncio.sleep(self.engines.audio_pause)
            trace.mark("turn_end")
            trace.backends.update(llm="embedded", stt="fake-stt", tts="fake-tts")
            await self._out.put(ReplyDone(turn_id, "".join(full).strip()))
            await self._out.put(trace)
        except asyncio.CancelledError:
            trace.interrupted = True
            trace.mark("turn_end")
            await self._out.put(ReplyDone(turn_id, "".join(full).strip(), interrupted=True))
            await self._out.put(trace)
            raise

    async def interrupt(self) -> None:
        task, self._turn = self._turn, None
        if task is not None and not task.done():
            await self._out.put(Interrupted(self._turn_id))  # as VoiceSession: the cut goes out first
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def events(self):
        while True:
            e = await self._out.get()
            if e is None:
                return
            yield e

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.interrupt()
            await self._out.put(None)


class FakeEngines:
    def __init__(self, cfg: PennyConfig | None = None):
        self.cfg = cfg or PennyConfig()
        self.llm = FakeLLM()
        self.stt = FakeSTT()
        self.tts = FakeTTS()
        self.memory = MemoryStore(":memory:")
        self.assistant = FakeAssistant(self.memory)
        self.plugins = None
        self.sessions: list[FakeVoiceSession] = []
        self.audio_pause = 0.0  # seconds between reply audio chunks (tests of barge-in raise it)

    @classmethod
    async def load(cls, cfg: PennyConfig) -> "FakeEngines":
        return cls(cfg)

    def new_session(self, session_id: str | None = None, *, mode: str | None = None) -> FakeVoiceSession:
        s = FakeVoiceSession(self, session_id or uuid.uuid4().hex[:12], mode)
        self.sessions.append(s)
        return s

    async def aclose(self) -> None:
        for s in self.sessions:
            await s.close()
        self.memory.close()


BASE = "http://127.0.0.1:8765"
WS = "ws://127.0.0.1:8765/ws"


# ---- a WebSocket client's side of docs/protocol.md (for tests with fake or real engines) ----
def mic_frames(samples: np.ndarray, frame: int = 320, rate: int = 16000):
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    for i, start in enumerate(range(0, len(pcm), frame)):
        yield P.pack_audio(P.KIND_MIC, rate, i, pcm[start:start + frame])


def receive(ws) -> dict | tuple:
    """The next message: a dict for JSON, ('audio', header fields, samples) for binary."""
    msg = ws.receive()
    if msg.get("bytes") is not None:
        data = msg["bytes"]
        kind, version, _, rate, stream = P.HEADER.unpack_from(data)
        return ("audio", kind, version, rate, stream, np.frombuffer(data[P.HEADER_BYTES:], "<i2"))
    if msg["type"] == "websocket.close":
        raise WebSocketDisconnect(msg.get("code", 1000))
    return json.loads(msg["text"])


def until(ws, kind: str, limit: int = 500) -> tuple[dict, list]:
    seen = []
    for _ in range(limit):
        m = receive(ws)
        seen.append(m)
        if isinstance(m, dict) and m["type"] == kind:
            return m, seen
    raise AssertionError(f"no {kind!r} in {[s if isinstance(s, dict) else s[0] for s in seen]}")


def hello(ws, **kw) -> dict:
    ws.send_json({"type": "hello", "protocol": P.PROTOCOL_VERSION, **kw})
    return until(ws, "hello")[0]


def home_config(tmp_path, monkeypatch, data: dict) -> PennyConfig:
    """`data` as a config, with Penny's data in an empty folder of the test's own."""
    monkeypatch.setenv("PENNY_HOME", str(tmp_path / "home"))
    return PennyConfig.model_validate(data)


def make_client(cfg, engines, base_url: str = BASE, **kw):
    from fastapi.testclient import TestClient

    from penny.server.app import create_app

    return TestClient(create_app(cfg, engines, **kw), base_url=base_url)


# Fixtures for a module that defines `cfg` (its config): fake engines and a client of the real app.
@pytest.fixture
def engines(cfg):
    return FakeEngines(cfg)


@pytest.fixture
def client(cfg, engines):
    with make_client(cfg, engines) as c:
        yield c
