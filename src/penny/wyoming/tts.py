"""tts: `synthesize` (one audio stream) and `synthesize-start/-chunk/-stop` (text arriving as an LLM
writes it: an audio-start..audio-stop cycle per sentence as soon as that sentence is complete, then
`synthesize-stopped`), with Penny's TTS and its phrase cache.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

import numpy as np
from wyoming.audio import AudioChunk as WyChunk, AudioStart, AudioStop
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStopped

from penny.core.pcm import EdgeResampler, to_int16
from penny.core.sentences import SentenceSplitter

log = logging.getLogger(__name__)
SAMPLES_PER_EVENT = 2048  # ~90 ms at 22 kHz: small enough for a satellite's buffer, few enough events


class Voice:
    """Speaks sentences as Wyoming audio at the voice's own rate (16-bit mono)."""

    def __init__(self, engines, write):
        self.engines = engines
        self.write = write
        self.rate = int(engines.tts.sample_rate)
        self._edge = EdgeResampler(self.rate)  # a fallback voice at another rate comes out at this one
        self._t_ms = 0

    async def start(self) -> None:
        self._t_ms = 0
        await self.write(AudioStart(rate=self.rate, width=2, channels=1, timestamp=0).event())

    async def sentence(self, text: str) -> None:
        async for chunk in self.engines.tts.synthesize(text):
            samples = to_int16(np.asarray(self._edge.process(chunk)))
            for i in range(0, len(samples), SAMPLES_PER_EVENT):
                part = samples[i:i + SAMPLES_PER_EVENT]
                await self.write(WyChunk(rate=self.rate, width=2, channels=1, audio=part.tobytes(),
                                         timestamp=self._t_ms).event())
                self._t_ms += len(part) * 1000 // self.rate

    async def stop(self) -> None:
        tail = to_int16(self._edge.flush())
        if tail.size:
            await self.write(WyChunk(rate=self.rate, width=2, channels=1, audio=tail.tobytes(),
                                     timestamp=self._t_ms).event())
        await self.write(AudioStop(timestamp=self._t_ms).event())


def sentences(text: str, language: str) -> list[str]:
    splitter = SentenceSplitter(language=language)
    return [s for s in splitter.feed(text) + splitter.flush() if s.strip()]


class Synthesis:
    """The tts side of one connection."""

    def __init__(self, engines, write):
        self.engines = engines
        self.write = write
        self.language = engines.cfg.assistant.language
        self._queue: asyncio.Queue | None = None
        self._speaker: asyncio.Task | None = None
        self._splitter: SentenceSplitter | None = None

    @property
    def streaming(self) -> bool:
        return self._queue is not None

    async def synthesize(self, event) -> None:
        if self.streaming:
            return  # Home Assistant repeats the whole text as `synthesize` inside a stream, for old servers
        request = Synthesize.from_event(event)
        voice = Voice(self.engines, self.write)
        await voice.start()
        for piece in sentences(request.text, self.language):
            await voice.sentence(piece)
        await voice.stop()

    async def stream_start(self, event) -> None:
        SynthesizeStart.from_event(event)  # nothing to choose: one voice
        await self.close()
        self._splitter = SentenceSplitter(language=self.language)
        self._queue = asyncio.Queue()
        self._speaker = asyncio.create_task(self._speak(self._queue), name="wyoming tts stream")

    async def stream_chunk(self, event) -> None:
        if self._queue is None:
            raise ValueError("synthesize-chunk before synthesize-start")
        for piece in self._splitter.feed(SynthesizeChunk.from_event(event).text):
            self._queue.put_nowait(piece)  # reading goes on while the speaker synthesizes

    async def stream_stop(self) -> None:
        if self._queue is None:
            raise ValueError("synthesize-stop before synthesize-start")
        for piece in self._splitter.flush():
            self._queue.put_nowait(piece)
        self._queue.put_nowait(None)
        speaker, self._queue, self._speaker = self._speaker, None, None
        await speaker  # its errors surface here, on the connection that caused them
        await self.write(SynthesizeStopped().event())

    async def _speak(self, queue: asyncio.Queue) -> None:
        while (piece := await queue.get()) is not None:
            if not piece.strip():
                continue
            voice = Voice(self.engines, self.write)
            await voice.start()
            await voice.sentence(piece)
            await voice.stop()

    async def close(self) -> None:
        task, self._speaker, self._queue = self._speaker, None, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
