"""The voice turn loop: audio → wake → endpointing → STT → assistant → sentences → TTS → sink.

One VoiceSession per listener (the terminal, each browser tab). `feed()` takes user audio; everything
the session does comes out of `events()`. Every stage overlaps the next: the first speakable clause
goes to TTS while the LLM is still writing, and a new utterance during a reply interrupts it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import AsyncIterator

import numpy as np

from penny.core.events import (Alert, AudioChunk, BackendSwitched, ErrorEvent, ReplyAudio, ReplyDelta,
                               ReplyDone, ReplyStarted, SilenceStarted, SpeechEnded, SpeechStarted,
                               Transcript, TurnTrace)
from penny.adapters.wake.gate import WakeGate
from penny.core.sentences import SentenceSplitter
from penny.errors import PennyError

log = logging.getLogger(__name__)
SR = 16000


class VoiceSession:
    def __init__(self, engines, session_id: str | None = None, *, mode: str | None = None,
                 sink=None, streaming: bool = True):
        self.engines = engines
        self.cfg = engines.cfg
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.mode = mode or self.cfg.wake.mode
        self.sink = sink  # local playback (speaker / WAV); the browser plays ReplyAudio itself
        self.streaming = streaming  # False: the seed's sequential pipeline, for the benchmark
        self.endpointer = engines.new_endpointer()
        self.wake = engines.new_wake() if self.mode == "wake_word" else None
        self._wake_streams = hasattr(self.wake, "process")  # openWakeWord hears audio; the phrase engine text
        gate_mode = "always_listening" if self.mode == "push_to_talk" else self.mode
        self.gate = WakeGate(gate_mode, None if self._wake_streams else self.wake, self.cfg.wake.follow_up_s)
        self._stt_prompt = (self.wake.prompt(self.cfg.stt.initial_prompt)
                            if self.wake is not None and hasattr(self.wake, "prompt") else self.cfg.stt.initial_prompt)
        self._out: asyncio.Queue = asyncio.Queue()
        self._stream_t = 0.0  # seconds of user audio fed so far
        self._wall_at_stream_t = time.perf_counter()
        self._turn: asyncio.Task | None = None
        self._early: tuple[float, asyncio.Task] | None = None
        self._playing_until = 0.0  # perf_counter time when emitted reply audio ends playing
        self._ptt: list[np.ndarray] | None = None
        self._closed = False
        self.turns_done = 0

    # ---- input ----
    async def feed(self, chunk: AudioChunk) -> None:
        """16 kHz mono user audio, in any chunk size."""
        samples = chunk.as_float32()
        self._stream_t += len(samples) / SR
        self._wall_at_stream_t = time.perf_counter()
        if self.mode == "push_to_talk":
            if self._ptt is not None:
                self._ptt.append(samples)
            return
        if self._wake_streams:
            det = self.wake.process(samples, self._stream_t)
            if det is not None:
                self.gate.wake(det.t)
                await self._emit(det)
                await self.interrupt()
        for ev in self.endpointer.process(AudioChunk(samples, SR)):
            await self._on_vad_event(ev)

    async def end_of_input(self) -> None:
        for ev in self.endpointer.flush():
            await self._on_vad_event(ev)

    async def push_to_talk(self, pressed: bool) -> None:
        if pressed:
            await self.interrupt()
            self._ptt = []
            await self._emit(SpeechStarted(self._stream_t))
            return
        if self._ptt is None:
            return
        audio = np.concatenate(self._ptt) if self._ptt else np.zeros(0, np.float32)
        self._ptt = None
        ev = SpeechEnded(self._stream_t, AudioChunk(audio, SR), self._stream_t - len(audio) / SR, self._stream_t)
        await self._emit(ev)
        self._start_turn(ev, addressed=True)

    async def ask(self, text: str) -> None:
        """A typed turn: skips hearing, goes straight to the assistant."""
        await self.interrupt()
        trace = TurnTrace(uuid.uuid4().hex[:8], self.session_id)
        trace.mark("speech_end")
        trace.mark("end_of_turn")
        trace.mark("transcript")
        self._turn = asyncio.create_task(self._reply(text, trace))

    async def interrupt(self) -> None:
        """Barge-in: stop playback, cancel the LLM stream and queued TTS."""
        task, self._turn = self._turn, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._playing_until = 0.0
        if self.sink is not None:
            await self.sink.stop()

    @property
    def speaking(self) -> bool:
        return (self._turn is not None and not self._turn.done()) or time.perf_counter() < self._playing_until

    async def _on_vad_event(self, ev) -> None:
        if isinstance(ev, SpeechStarted):
            await self._emit(ev)
            if self.speaking and self._barge_in_allowed():
                log.info("barge-in at %.2fs", ev.t)
                await self.interrupt()
        elif isinstance(ev, SilenceStarted):
            if self.streaming:  # transcribe early; kept only if the user stays silent
                self._cancel_early()
                self._early = (ev.t, asyncio.create_task(self._transcribe(ev.audio)))
        elif isinstance(ev, SpeechEnded):
            await self._emit(ev)
            if self.speaking:
                if not self._barge_in_allowed():
                    return  # probably Penny hearing itself
                await self.interrupt()
            self._start_turn(ev, addressed=False)

    def _barge_in_allowed(self) -> bool:
        # On the local speaker path Penny can hear itself: require a confident voice (or wake word).
        if self.sink is None or not self.cfg.wake.require_during_playback:
            return True
        return getattr(self.endpointer, "last_probability", 1.0) >= self.cfg.vad.barge_in_threshold

    def _cancel_early(self) -> None:
        if self._early is not None:
            self._early[1].cancel()
            self._early = None

    # ---- one turn ----
    def _start_turn(self, ev: SpeechEnded, addressed: bool) -> None:
        trace = TurnTrace(uuid.uuid4().hex[:8], self.session_id)
        now = time.perf_counter()
        # Map stream time to wall time: the newest fed sample arrived at _wall_at_stream_t.
        trace.mark("speech_end", self._wall_at_stream_t - (self._stream_t - ev.t))
        trace.mark("end_of_turn", now)
        early = None
        if self._early is not None and self._early[0] >= ev.t - 0.05:
            early = self._early[1]  # nobody spoke after the silence began: the early transcript holds
        elif self._early is not None:
            self._early[1].cancel()
        self._early = None
        self._turn = asyncio.create_task(self._hear_and_reply(ev, trace, early, addressed))

    async def _hear_and_reply(self, ev: SpeechEnded, trace: TurnTrace, early, addressed: bool) -> None:
        try:
            transcript: Transcript = await (early or self._transcribe(ev.audio))
        except PennyError as exc:
            await self._emit(ErrorEvent(exc.code, str(exc)))
            return
        trace.mark("transcript")
        trace.backends["stt"] = getattr(self.engines.stt, "name", "stt")
        await self._emit(transcript)
        text = transcript.text.strip()
        if not text:
            return
        if addressed:
            command, wake = text, None
        else:
            heard = self.gate.on_transcript(transcript, ev.start_t, ev.t)
            command, wake = heard.command, heard.wake
        if wake is not None:
            await self._emit(wake)
        if command is None:
            if wake is not None:  # a bare "Hey Penny": the gate now listens for the command
                await self._play(trace.turn_id, "Yes?", trace)
            else:
                log.info("not addressed to me: %r", text)
            return
        await self._reply(command, trace)

    def _transcribe(self, audio: AudioChunk):
        return self.engines.stt.transcribe(audio, initial_prompt=self._stt_prompt)

    async def _reply(self, text: str, trace: TurnTrace) -> None:
        turn_id = trace.turn_id
        await self._emit(ReplyStarted(turn_id, text))
        speech: asyncio.Queue = asyncio.Queue()
        speaker = asyncio.create_task(self._speak_queue(speech, trace))
        filler = asyncio.create_task(self._filler(trace)) if self.streaming else None
        splitter = SentenceSplitter()
        full: list[str] = []
        try:
            async for ev in self.engines.assistant.reply(self.session_id, text, turn_id=turn_id, trace=trace):
                if isinstance(ev, ReplyDelta):
                    await self._emit(ev)
                    full.append(ev.text)
                    if self.streaming:
                        for piece in splitter.feed(ev.text):
                            trace.mark("first_chunk")
                            speech.put_nowait(piece)
                elif isinstance(ev, BackendSwitched):
                    await self._emit(ev)
                elif isinstance(ev, ReplyDone):
                    if self.streaming:
                        pieces = splitter.flush()
                    else:  # sequential: the whole answer goes to TTS in one piece
                        whole = " ".join(splitter.feed("".join(full)) + splitter.flush())
                        pieces = [whole] if whole else []
                    for piece in pieces:
                        trace.mark("first_chunk")
                        speech.put_nowait(piece)
                    speech.put_nowait(None)
                    await speaker
                    if self.sink is not None:
                        await self.sink.drain()
                    trace.mark("turn_end")
                    self.gate.answered(self._stream_t)
                    self.turns_done += 1
                    await self._emit(ev)
                    await self._emit(trace)
                    log.info(trace.log_line())
        except asyncio.CancelledError:
            trace.interrupted = True
            trace.mark("turn_end")
            await self._emit(ReplyDone(turn_id, "".join(full).strip(), interrupted=True))
            await self._emit(trace)
            raise
        finally:
            for task in (speaker, filler):
                if task is not None and not task.done():
                    task.cancel()

    async def _filler(self, trace: TurnTrace) -> None:
        """Say a cached "one moment" only when the real answer is slow."""
        delay = self.cfg.assistant.filler_after_ms / 1000.0
        if delay <= 0:
            return
        await asyncio.sleep(delay)
        if "first_audio" not in trace.marks:
            await self._play(trace.turn_id, self.cfg.assistant.filler_phrase, trace, filler=True)

    async def _speak_queue(self, speech: asyncio.Queue, trace: TurnTrace) -> None:
        while (piece := await speech.get()) is not None:
            await self._play(trace.turn_id, piece, trace)

    async def _play(self, turn_id: str, text: str, trace: TurnTrace | None, filler: bool = False) -> None:
        try:
            chunks = self.engines.tts.synthesize(text)
            if not self.streaming:  # sequential: synthesize everything, then play
                chunks = _replay([c async for c in chunks])
            async for chunk in chunks:
                if trace is not None and not filler:
                    trace.mark("first_audio")
                    trace.backends.setdefault("tts", getattr(self.engines.tts, "name", "tts"))
                now = time.perf_counter()
                self._playing_until = max(now, self._playing_until) + chunk.duration_s
                await self._emit(ReplyAudio(turn_id, chunk))
                if self.sink is not None:
                    await self.sink.write(chunk)
                if trace is not None and not filler:
                    trace.mark("playback_start")
        except PennyError as exc:
            await self._emit(ErrorEvent(exc.code, str(exc)))

    async def announce(self, alert: Alert) -> None:
        """A timer or reminder fired: show it and say it, even in the middle of a conversation."""
        await self._emit(alert)
        await self._play(f"alert-{alert.id}", alert.text, None)

    # ---- output ----
    async def _emit(self, ev) -> None:
        await self._out.put(ev)

    async def events(self) -> AsyncIterator:
        while True:
            ev = await self._out.get()
            if ev is None:
                return
            yield ev

    async def wait_idle(self) -> None:
        """Until the current turn (if any) has finished."""
        while self._turn is not None and not self._turn.done():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(self._turn)
        await asyncio.sleep(0)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_early()
        await self.interrupt()
        await self._out.put(None)


async def _replay(chunks: list) -> AsyncIterator:
    for c in chunks:
        yield c
