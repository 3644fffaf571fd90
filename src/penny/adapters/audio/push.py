"""PushSource: PCM arriving over a network (the web server pushes it) as an AudioSource.

`push()` takes int16 little-endian PCM bytes (split anywhere, even mid-sample) or a numpy
array (int16, or float32 in [-1, 1]) at `sample_rate`; `frames()` yields 16 kHz mono
frames of `frame_ms`; `end()` finishes the stream. Safe to call push()/end() from another
thread once frames() is being consumed. The buffer is bounded: if the consumer stalls for
more than `max_buffer_s`, the oldest audio is dropped (and counted in `dropped_s`).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import threading
from typing import AsyncIterator

import numpy as np

from penny.core.events import AudioChunk
from penny.core.pcm import RATE, StreamResampler
from penny.errors import AudioInputError

log = logging.getLogger(__name__)


class PushSource:
    sample_rate = RATE

    def __init__(self, sample_rate: int = RATE, frame_ms: int = 32, channels: int = 1,
                 max_buffer_s: float = 30.0):
        if channels < 1:
            raise AudioInputError("channels must be at least 1")
        self.in_rate = int(sample_rate)
        self.channels = channels
        self.frame_samples = max(1, RATE * frame_ms // 1000)
        self.max_buffer_samples = int(max_buffer_s * RATE)
        self.dropped_s = 0.0
        self._resampler = StreamResampler(self.in_rate)
        self._lock = threading.Lock()
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._buffered = 0
        self._odd = b""  # a byte of a sample split across two pushes
        self._ended = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # -- producer side --
    def push(self, pcm: bytes | bytearray | memoryview | np.ndarray) -> None:
        if self._ended:
            log.debug("PushSource: push after end() ignored")
            return
        if isinstance(pcm, np.ndarray):
            arr = pcm
        elif isinstance(pcm, (bytes, bytearray, memoryview)):
            data = self._odd + bytes(pcm)
            frame_bytes = 2 * self.channels
            cut = len(data) - len(data) % frame_bytes
            self._odd = data[cut:]
            arr = np.frombuffer(data[:cut], dtype="<i2")
        else:
            raise AudioInputError(f"PushSource.push() takes PCM bytes or a numpy array, not {type(pcm).__name__}.")
        if arr.ndim == 1 and self.channels > 1:
            arr = arr[: len(arr) - len(arr) % self.channels].reshape(-1, self.channels)
        if arr.size == 0:
            return
        out = self._resampler.process(arr)
        self._append(out)

    def end(self) -> None:
        if self._ended:
            return
        tail = self._resampler.process(np.zeros(0, np.float32), last=True)
        if tail.size:
            self._append(tail)
        self._ended = True
        self._notify()

    def _append(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        with self._lock:
            self._chunks.append(samples)
            self._buffered += len(samples)
            while self._buffered > self.max_buffer_samples and len(self._chunks) > 1:
                old = self._chunks.popleft()
                self._buffered -= len(old)
                self.dropped_s += len(old) / RATE
        self._notify()

    def _notify(self) -> None:
        loop, ev = self._loop, self._wake
        if loop is None or ev is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            ev.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(ev.set)

    # -- consumer side --
    def _take(self, n: int, final: bool) -> np.ndarray | None:
        with self._lock:
            if self._buffered < n and not (final and self._buffered):
                return None
            want = min(n, self._buffered)
            parts, got = [], 0
            while got < want:
                c = self._chunks.popleft()
                need = want - got
                if len(c) > need:
                    self._chunks.appendleft(c[need:])
                    c = c[:need]
                parts.append(c)
                got += len(c)
            self._buffered -= got
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    async def frames(self) -> AsyncIterator[AudioChunk]:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not self._closed:
            frame = self._take(self.frame_samples, final=self._ended)
            if frame is not None:
                yield AudioChunk(frame, RATE)
                continue
            if self._ended:
                return
            self._wake.clear()
            # re-check after clear: a push may have landed in between
            if self._buffered >= self.frame_samples or self._ended:
                continue
            await self._wake.wait()

    async def close(self) -> None:
        self._closed = True
        self.end()
