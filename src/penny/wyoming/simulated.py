"""A simulated Wyoming satellite, for tests and the load benchmark: wyoming's own AsyncTcpServer and
AsyncEventHandler (never a re-implementation of the protocol), a "microphone" that streams given clips at
real-time pace, and a "speaker" that keeps every audio stream it is sent (and can write them to a WAV).

Two kinds, as rhasspy's wyoming-satellite: wake="satellite" (it hears its own wake word: `detection`, then
`run-pipeline` from asr, streams until Penny's `transcript`) or wake="penny" (`run-pipeline` from wake with
restart_on_end, streaming all the time). `silent=True`: it accepts the connection and never answers.
"""
from __future__ import annotations

import asyncio
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, Satellite
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import RunSatellite
from wyoming.server import AsyncEventHandler, AsyncServer, AsyncTcpServer
from wyoming.snd import Played
from wyoming.wake import Detection

RATE = 16000
FRAME_S = 0.02  # mic chunk: 20 ms, at real-time pace


def speech_end_s(samples: np.ndarray, rate: int = RATE, floor_db: float = -40.0) -> float:
    """Where the speech in a clip really ends (the last 10 ms frame above `floor_db`), in seconds."""
    hop = rate // 100
    frames = np.asarray(samples, np.float32)[: len(samples) // hop * hop].reshape(-1, hop)
    loud = np.flatnonzero(10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12) > floor_db)
    return float((loud[-1] + 1) * hop / rate) if loud.size else 0.0


@dataclass
class Stream:
    """One audio stream Penny sent (audio-start .. audio-stop)."""

    rate: int
    started: float  # time.monotonic()
    chunks: list[bytes] = field(default_factory=list)
    first_chunk: float | None = None
    stopped: float | None = None

    @property
    def seconds(self) -> float:
        return sum(len(c) for c in self.chunks) / 2 / self.rate

    def samples(self) -> np.ndarray:
        return np.frombuffer(b"".join(self.chunks), "<i2")


class _Handler(AsyncEventHandler):
    def __init__(self, sat: "SimSatellite", reader, writer):
        super().__init__(reader, writer)
        self.sat = sat
        self.mic: asyncio.Task | None = None

    async def handle_event(self, event: Event) -> bool:
        sat = self.sat
        sat.received.append((time.monotonic(), event.type, dict(event.data or {})))
        if sat.silent:
            return True
        if RunSatellite.is_type(event.type):
            sat.handler = self
            if sat.wake == "penny":
                await self.write_event(RunPipeline(start_stage=PipelineStage.WAKE, end_stage=PipelineStage.TTS,
                                                   restart_on_end=True).event())
                sat.streaming = True
            if self.mic is None:
                self.mic = asyncio.create_task(sat._mic(self))
            sat.ready.set()
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif Describe.is_type(event.type):
            await self.write_event(Info(satellite=Satellite(
                name=sat.name, description="simulated", installed=True, version="1",
                attribution=Attribution(name="penny", url="")), ).event())
        elif Transcript.is_type(event.type) or Error.is_type(event.type):
            if sat.wake == "satellite":
                sat.streaming = False  # back to its own wake word
            if Transcript.is_type(event.type):
                sat.transcripts.append(Transcript.from_event(event).text)
        elif AudioStart.is_type(event.type):
            sat.streams.append(Stream(AudioStart.from_event(event).rate, time.monotonic()))
        elif AudioChunk.is_type(event.type) and sat.streams:
            s = sat.streams[-1]
            s.first_chunk = s.first_chunk or time.monotonic()
            s.chunks.append(AudioChunk.from_event(event).audio)
        elif AudioStop.is_type(event.type) and sat.streams:
            s = sat.streams[-1]
            s.stopped = time.monotonic()
            asyncio.create_task(self._played(s))
        return True

    async def _played(self, s: Stream) -> None:
        """As a speaker would: `played` once the stream's audio has had time to play."""
        await asyncio.sleep(max(0.0, s.started + s.seconds - time.monotonic()))
        try:
            await self.write_event(Played().event())
        except (OSError, ConnectionError, RuntimeError):
            pass

    async def disconnect(self) -> None:
        if self.mic is not None:
            self.mic.cancel()


class SimSatellite:
    def __init__(self, name: str, wake: str = "satellite", *, silent: bool = False, noise_db: float = -70.0):
        self.name, self.wake, self.silent = name, wake, silent
        self.server = AsyncTcpServer("127.0.0.1", 0)
        self.port = 0
        self.handler: _Handler | None = None
        self.ready = asyncio.Event()  # Penny sent run-satellite
        self.streaming = False
        self.received: list[tuple[float, str, dict]] = []
        self.streams: list[Stream] = []
        self.transcripts: list[str] = []
        self.spoken: list[dict] = []  # each clip said: {"speech_end": monotonic time its speech really ended}
        self._queue: list[np.ndarray] = []
        self._noise = np.random.default_rng(len(name)).standard_normal(int(FRAME_S * RATE) * 50).astype(
            np.float32) * 10 ** (noise_db / 20)

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    async def start(self) -> "SimSatellite":
        await self.server.start(lambda r, w: _Handler(self, r, w))
        self.port = self.server._server.sockets[0].getsockname()[1]  # port 0: the one the OS chose
        return self

    async def stop(self) -> None:
        await self.server.stop()

    async def drop(self) -> None:
        """Hang up on Penny (a satellite that reboots, a Wi-Fi drop)."""
        self.ready.clear()
        self.handler = None
        await AsyncServer.stop(self.server)  # the base class closes every connection; the port stays open

    def types(self) -> list[str]:
        return [t for _, t, _ in self.received]

    async def say(self, samples: np.ndarray, tail_s: float = 1.2) -> dict:
        """Speak a 16 kHz clip into the microphone (after its wake word, for wake="satellite")."""
        handler = self.handler
        if handler is None:
            raise RuntimeError(f"{self.name}: Penny is not connected")
        if self.wake == "satellite":
            await handler.write_event(Detection(name="hey_penny").event())
            await handler.write_event(RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event())
            self.streaming = True
        clip = {"speech_end": None, "end_offset_s": speech_end_s(samples), "done": asyncio.Event()}
        self.spoken.append(clip)
        self._queue.append((np.concatenate([samples, np.zeros(int(tail_s * RATE), np.float32)]), clip))
        await clip["done"].wait()
        return clip

    async def _mic(self, handler: _Handler) -> None:
        """20 ms frames at real-time pace: queued clips, else quiet room noise; sent while streaming."""
        n = int(FRAME_S * RATE)
        await handler.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
        t_next, noise_at = time.monotonic(), 0
        current, pos = None, 0
        while True:
            if current is None and self._queue:
                current, pos = self._queue.pop(0), 0
            if current is not None:
                samples, clip = current
                frame = samples[pos:pos + n]
                if clip["speech_end"] is None and pos + n >= clip["end_offset_s"] * RATE:
                    clip["speech_end"] = time.monotonic()  # the true end of speech leaves the mic now
                pos += n
                if pos >= len(samples):
                    current = None
                    clip["done"].set()
            else:
                frame = self._noise[noise_at:noise_at + n]
                noise_at = (noise_at + n) % (len(self._noise) - n)
            if self.streaming:
                pcm16 = (np.clip(frame, -1, 1) * 32767).astype("<i2").tobytes()
                await handler.write_event(AudioChunk(rate=RATE, width=2, channels=1, audio=pcm16).event())
            t_next += FRAME_S
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))

    def first_audio_after(self, t: float) -> float | None:
        """When the first reply audio after time `t` arrived."""
        times = [s.first_chunk for s in self.streams if s.first_chunk is not None and s.first_chunk >= t]
        return min(times) if times else None

    def write_wav(self, path: Path) -> Path:
        """Everything Penny said to this satellite, stream after stream, as a WAV."""
        rate = self.streams[0].rate if self.streams else 22050
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
            for s in self.streams:
                w.writeframes(s.samples().tobytes())
        return Path(path)
