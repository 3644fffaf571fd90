"""Audio sinks that do not need a sound card: a WAV file, and a push sink for the network.

Each sink resamples at its edge: chunks arrive at the voice's rate (22.05 kHz for Piper) and leave
at the sink's rate, through one streaming soxr resampler per input rate (no clicks between chunks).
"""
from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Awaitable, Callable

import numpy as np

from penny.core.events import AudioChunk
from penny.core.pcm import EdgeResampler, to_mono_float32


def to_int16(samples: np.ndarray) -> np.ndarray:
    # Rounds and scales by 32768, unlike pcm.to_int16 (truncates, 32767): the exact inverse of
    # pcm.to_float, so samples that came from int16 go back to the same int16 values.
    if samples.dtype == np.int16:
        return samples
    return np.clip(np.rint(to_mono_float32(samples) * 32768.0), -32768, 32767).astype("<i2")


class WavFileSink:
    """Writes 16-bit mono PCM to `path` at `sample_rate`; the header is final after close()."""

    echo_cancelled = True  # a file cannot be heard by Penny's microphone

    def __init__(self, path: str | Path, sample_rate: int = 22050):
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(self.path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.sample_rate)
        self._resampler = EdgeResampler(self.sample_rate)
        self.frames_written = 0

    async def write(self, chunk: AudioChunk) -> None:
        self._write(self._resampler.process(chunk))

    def _write(self, samples: np.ndarray) -> None:
        if samples.size and self._wav is not None:
            self._wav.writeframes(to_int16(samples).tobytes())
            self.frames_written += int(samples.size)

    async def drain(self) -> None:
        self._write(self._resampler.flush())

    async def stop(self) -> None:
        self._resampler.reset()

    async def close(self) -> None:
        if self._wav is not None:
            await self.drain()
            self._wav.close()
            self._wav = None

    @property
    def duration_s(self) -> float:
        return self.frames_written / self.sample_rate

    async def __aenter__(self) -> "WavFileSink":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


Send = Callable[[AudioChunk], Awaitable[None]]


class PushSink:
    """Hands resampled chunks to `send` (the web server's WebSocket writer).

    `stop()` drops anything in flight: a write that started before stop() and resumes after it
    sends nothing. `on_stop` (optional) tells the client to flush its own playback buffer.
    `max_chunk_ms` splits long chunks so a stop takes effect between pieces.
    """

    echo_cancelled = True  # the far end plays it: a browser cancels its own echo (getUserMedia echoCancellation)

    def __init__(self, send: Send, sample_rate: int = 22050, *, on_stop: Callable[[], Awaitable[None]] | None = None,
                 max_chunk_ms: int | None = None, as_int16: bool = False):
        self.send = send
        self.sample_rate = int(sample_rate)
        self.on_stop = on_stop
        self.max_chunk = int(self.sample_rate * max_chunk_ms / 1000) if max_chunk_ms else None
        self.as_int16 = as_int16
        self._resampler = EdgeResampler(self.sample_rate)
        self._generation = 0
        self._closed = False
        self.samples_sent = 0

    async def write(self, chunk: AudioChunk) -> None:
        await self._send(self._resampler.process(chunk))

    async def _send(self, samples: np.ndarray) -> None:
        gen = self._generation
        step = self.max_chunk or max(1, samples.size)
        for start in range(0, samples.size, step):
            if gen != self._generation or self._closed:
                return  # stopped meanwhile
            piece = samples[start:start + step]
            await self.send(AudioChunk(to_int16(piece) if self.as_int16 else piece, self.sample_rate))
            self.samples_sent += int(piece.size)

    async def drain(self) -> None:
        await self._send(self._resampler.flush())

    async def stop(self) -> None:
        self._generation += 1
        self._resampler.reset()
        if self.on_stop is not None:
            await self.on_stop()

    async def close(self) -> None:
        self._closed = True
        await asyncio.sleep(0)
