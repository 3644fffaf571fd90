"""Template base for TTS engines: the public `synthesize` owns threading, streaming and errors;
an engine implements `_load()` and a blocking `_stream(text)` generator of float32/int16 arrays."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import AsyncIterator, Iterator

import numpy as np

from penny.core.events import AudioChunk
from penny.core.pcm import to_float
from penny.errors import PennyError, TTSFailed

log = logging.getLogger("penny.tts")
_END = object()


class EngineTTS:
    name = "engine"
    voice = ""
    sample_rate = 22050
    first_chunk_timeout_s: float | None = None  # None: wait as long as the engine takes

    def __init__(self) -> None:
        self._load_lock = threading.Lock()
        self._loaded = False

    # ---- what an engine implements ---------------------------------------------------------
    def settings(self) -> dict:
        """Everything besides engine and voice that changes the sound."""
        return {}

    def _load(self) -> None:
        """Blocking, called once, in a worker thread."""

    def _stream(self, text: str, stop: threading.Event) -> Iterator[np.ndarray]:
        raise NotImplementedError

    # ---- the public surface ----------------------------------------------------------------
    @property
    def last_used(self) -> str:
        return self.name

    def cache_key(self) -> str:
        return f"{self.name}|{self.voice}|{json.dumps(self.settings(), sort_keys=True)}"

    def load(self) -> None:
        """Load the model once (blocking; thread-safe)."""
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                try:
                    self._load()
                except PennyError:
                    raise
                except Exception as exc:
                    raise TTSFailed(f"{self.name}: could not load voice {self.voice!r}: {exc}") from exc
                self._loaded = True

    async def prewarm(self, phrases: list[str]) -> int:
        return 0  # nothing to keep without the phrase cache

    async def warmup(self) -> None:
        """Load the model and run one tiny synthesis so the first real sentence is fast."""
        await asyncio.to_thread(self.load)
        async for _ in self.synthesize("Hi."):
            pass

    def synthesize_blocking(self, text: str) -> list[AudioChunk]:
        """For scripts and benchmarks: the whole text, synchronously."""
        self.load()
        return [AudioChunk(a, self.sample_rate) for a in self._stream(text, threading.Event()) if len(a)]

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        """Chunks as the engine produces them; the engine runs in a worker thread.

        Leaving the loop early (barge-in) tells the worker to stop after its current chunk.
        """
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def put(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening
                stop.set()

        def produce() -> None:
            try:
                self.load()
                for samples in self._stream(text, stop):
                    if stop.is_set():
                        break
                    if len(samples):
                        put(samples)
                put(_END)
            except BaseException as exc:  # handed to the consumer, raised there
                put(exc)

        worker = loop.run_in_executor(None, produce)
        first = True
        try:
            while True:
                if first and self.first_chunk_timeout_s:
                    try:
                        item = await asyncio.wait_for(queue.get(), self.first_chunk_timeout_s)
                    except asyncio.TimeoutError:
                        raise TTSFailed(f"{self.name}: no audio within {self.first_chunk_timeout_s:g} s.") from None
                else:
                    item = await queue.get()
                first = False
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, TTSFailed):
                        raise item
                    raise TTSFailed(f"{self.name} could not speak: {item}") from item
                yield AudioChunk(item, self.sample_rate)
        finally:
            stop.set()
            if worker.done() and not worker.cancelled():
                worker.exception()  # already reported through the queue


def is_silent(samples: np.ndarray, threshold: float = 1e-3) -> bool:
    a = to_float(samples)
    return a.size == 0 or float(np.sqrt(np.mean(a * a))) < threshold
