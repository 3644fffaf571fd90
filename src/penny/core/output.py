"""A session's way out: its event queue, the playback clock, and the turn that was cut.

`Playback` is shared by every turn of a session; `TurnOutput` is one turn's view of it, either
straight through or held (a speculative turn) until the turn is confirmed. Stage events also build
the turn's trace here, so every stage's time is recorded the moment it happens.
"""
from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

from penny.core.contracts import TTS, AudioSink
from penny.errors import PennyError
from penny.core.events import AudioChunk, ErrorEvent, Interrupted, ReplyAudio, SessionEvent, StageEvent, TurnTrace


class Playback:
    def __init__(self, sink: AudioSink | None, tts: TTS):
        self.sink = sink  # local playback (speaker / WAV); the browser plays ReplyAudio itself
        self.tts = tts
        self._queue: asyncio.Queue[SessionEvent | None] = asyncio.Queue()
        self._playing_until = 0.0  # perf_counter time when emitted reply audio ends playing
        self._cut: str | None = None  # the turn last interrupted: none of its audio goes out any more
        self._paused_at: float | None = None  # perf_counter time the sink was paused (voice over the reply)

    @property
    def playing(self) -> bool:
        return self._paused_at is not None or time.perf_counter() < self._playing_until

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    async def pause(self) -> None:
        """Quiet now, the rest of the reply kept, on a sink that can (a local speaker); else nothing. Also
        between two sentences of a reply: the next one waits instead of starting over the user's voice."""
        pause = getattr(self.sink, "pause", None)
        if pause is None or self._paused_at is not None:
            return
        self._paused_at = time.perf_counter()
        await pause()

    async def resume(self) -> None:
        """Play on from where pause() stopped."""
        if self._paused_at is None or self.sink is None:
            return
        self._playing_until += time.perf_counter() - self._paused_at
        self._paused_at = None
        await self.sink.resume()  # type: ignore[attr-defined]  # pause() checked the sink has both

    async def emit(self, ev: SessionEvent) -> None:
        await self._queue.put(ev)

    async def play(self, turn_id: str, chunk: AudioChunk, trace: TurnTrace | None) -> None:
        if turn_id == self._cut:
            return  # its TTS task has not seen the cancellation yet
        if trace is not None and "first_audio" not in trace.marks:
            await self._stage(trace, "tts", "first")
            trace.backends.setdefault("tts", self.tts.last_used or self.tts.name)
        now = time.perf_counter()
        self._playing_until = max(now, self._playing_until) + chunk.duration_s
        await self.emit(ReplyAudio(turn_id, chunk))
        if self.sink is not None:
            await self.sink.write(chunk)
        if trace is not None and "playback_start" not in trace.marks:
            await self._stage(trace, "playback", "start")

    async def _stage(self, trace: TurnTrace, stage: str, phase: str) -> None:
        ev = StageEvent(trace.turn_id, stage, phase)
        trace.record(ev)
        await self.emit(ev)

    async def cut(self, turn_id: str) -> None:
        """Turn `turn_id` is interrupted: say so first, then none of its audio goes out, queued or not."""
        self._cut = turn_id
        waiting = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for ev in waiting:
            if not (isinstance(ev, ReplyAudio) and ev.turn_id == turn_id):
                self._queue.put_nowait(ev)
        await self.emit(Interrupted(turn_id))

    async def stop(self) -> None:
        self._playing_until = 0.0
        self._paused_at = None
        if self.sink is not None:
            await self.sink.stop()

    async def drain(self) -> None:
        if self.sink is not None:
            await self.sink.drain()

    async def events(self) -> AsyncIterator[SessionEvent]:
        while (ev := await self._queue.get()) is not None:
            yield ev

    async def close(self) -> None:
        await self._queue.put(None)


class TurnOutput:
    """Where one turn's events and audio go: straight out, or held until the turn is confirmed."""

    def __init__(self, playback: Playback, trace: TurnTrace | None, held: bool = False):
        self.playback, self.trace, self.held = playback, trace, held
        self._buffer: list[SessionEvent | tuple[str, AudioChunk, bool]] = []
        self._staged: set[tuple[str, str]] = set()  # each stage event goes out once per turn

    async def emit(self, ev: SessionEvent) -> None:
        if isinstance(ev, StageEvent) and self.trace is not None:
            self.trace.record(ev)  # the time the stage happened, held or not
        if self.held:
            self._buffer.append(ev)
        else:
            await self.playback.emit(ev)

    async def stage(self, stage: str, phase: str, at: float | None = None) -> None:
        if self.trace is not None and (stage, phase) not in self._staged:
            self._staged.add((stage, phase))
            await self.emit(StageEvent(self.trace.turn_id, stage, phase, time.perf_counter() if at is None else at))

    async def audio(self, turn_id: str, chunk: AudioChunk, filler: bool = False) -> None:
        if self.held:
            self._buffer.append((turn_id, chunk, filler))
        else:
            await self.playback.play(turn_id, chunk, None if filler else self.trace)

    async def speak(self, turn_id: str, chunks: AsyncIterator[AudioChunk], filler: bool = False) -> None:
        try:
            async for chunk in chunks:
                await self.audio(turn_id, chunk, filler)
        except PennyError as exc:  # the text of the turn still goes out; the client hears why not the voice
            await self.emit(ErrorEvent(exc.code, str(exc)))

    async def release(self) -> None:
        self.held = False
        buffered, self._buffer = self._buffer, []
        for item in buffered:
            if isinstance(item, tuple):
                await self.audio(*item)
            else:
                await self.playback.emit(item)
