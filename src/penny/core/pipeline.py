"""The voice turn loop: audio → wake → endpointing → STT → assistant → sentences → TTS → sink.

One VoiceSession per listener (the terminal, each browser tab). `feed()` takes user audio; everything
the session does comes out of `events()`. Every stage overlaps the next:
- speculation: when the user pauses, the turn starts (STT, LLM, TTS) with its output held; when the
  pause becomes an end of turn the held output is released at once, and if the user speaks on it is
  dropped without a trace. Skills with side effects wait for the end of turn.
- streaming: the first speakable clause goes to TTS while the LLM is still writing.
- barge-in: a new utterance during a reply interrupts it.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
import uuid
from dataclasses import dataclass
from typing import AsyncIterator

import numpy as np

from penny.core.wake_gate import WakeGate
from penny.core.events import (Alert, AudioChunk, BackendSwitched, ErrorEvent, Interrupted, ReplyAudio,
                               ReplyDelta, ReplyDone, ReplyStarted, SilenceStarted, SpeechEnded, SpeechStarted,
                               Transcript, TurnTrace)
from penny.core.pcm import RATE as SR
from penny.core.sentences import SentenceSplitter
from penny.core.turn_end import looks_complete
from penny.errors import PennyError

log = logging.getLogger(__name__)
APOLOGY = "Sorry, something went wrong on my side. Please try again."


class TurnOutput:
    """Where one turn's events and audio go: straight out, or held until the turn is confirmed."""

    def __init__(self, session: "VoiceSession", trace: TurnTrace | None, held: bool = False):
        self.session, self.trace, self.held = session, trace, held
        self._buffer: list[tuple[str, tuple]] = []

    async def emit(self, ev) -> None:
        if self.held:
            self._buffer.append(("event", (ev,)))
        else:
            await self.session._emit(ev)

    async def audio(self, turn_id: str, chunk: AudioChunk, filler: bool = False) -> None:
        if self.held:
            self._buffer.append(("audio", (turn_id, chunk, filler)))
        else:
            await self.session._play_chunk(turn_id, chunk, None if filler else self.trace)

    async def release(self) -> None:
        self.held = False
        buffered, self._buffer = self._buffer, []
        for kind, args in buffered:
            await (self.emit(*args) if kind == "event" else self.audio(*args))


@dataclass
class Speculation:
    silence_t: float  # stream time of the last voiced sample before the pause
    task: asyncio.Task
    commit: asyncio.Event
    out: TurnOutput
    trace: TurnTrace
    gate: WakeGate
    complete: bool = False  # the transcript reads as a finished request: a shorter pause ends the turn


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
        gate_mode = "always_listening" if self.mode == "push_to_talk" else self.mode
        self.gate = WakeGate.for_engine(gate_mode, self.wake, self.cfg.wake.follow_up_s)
        self._stt_prompt = (self.wake.prompt(self.cfg.stt.initial_prompt)
                            if self.wake is not None and hasattr(self.wake, "prompt") else self.cfg.stt.initial_prompt)
        self._out: asyncio.Queue = asyncio.Queue()
        self._stream_t = 0.0  # seconds of user audio fed so far
        self._wall_at_stream_t = time.perf_counter()
        self._turn: asyncio.Task | None = None
        self._turn_id: str | None = None  # the turn `_turn` answers (or whose audio may still be playing)
        self._cut: str | None = None  # the turn last interrupted: none of its audio goes out any more
        self._spec: Speculation | None = None
        self._answered_t = -1.0  # stream time of the utterance a fast end of turn already answered
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
        if self.gate.acoustic:  # openWakeWord hears audio; the phrase engine hears transcripts
            det = self.wake.process(samples, self._stream_t)
            if det is not None:
                self.gate.wake(det.t)
                await self._emit(det)
                await self.interrupt()
        for ev in self.endpointer.process(AudioChunk(samples, SR)):
            await self._on_vad_event(ev)
        if (state := self.gate.poll(self._stream_t)) is not None:
            await self._emit(state)  # Listening: the gate opened or closed
        spec = self._spec
        if spec is None:
            return
        if self.endpointer.last_probability >= self.cfg.vad.threshold:
            self._drop_speculation()  # the pause was not the end: the user speaks on
        elif spec.complete and self._stream_t - spec.silence_t >= self.cfg.vad.fast_end_silence_ms / 1000.0 > 0:
            self._spec, self._answered_t = None, spec.silence_t
            await self._commit(spec, "semantic")

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
        trace = TurnTrace(uuid.uuid4().hex[:8], self.session_id, end_rule="typed")
        for mark in ("speech_end", "end_of_turn", "transcript"):
            trace.mark(mark)
        out = TurnOutput(self, trace)
        self._turn_id = trace.turn_id
        self._turn = asyncio.create_task(self._safely(self._reply(text, trace, out), trace, out))

    async def interrupt(self) -> None:
        """Barge-in: stop playback, cancel the LLM stream and queued TTS. A turn still answering or playing
        is cut: Interrupted(turn_id) goes out first, and no audio of that turn after it."""
        self._drop_speculation()
        task, self._turn = self._turn, None
        playing = time.perf_counter() < self._playing_until
        if self._turn_id is not None and (task is not None and not task.done() or playing):
            self._cut, self._turn_id = self._turn_id, None
            self._unqueue_audio(self._cut)
            await self._emit(Interrupted(self._cut))
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
            if self.streaming and not self.speaking and self.gate.admits(ev.t - ev.audio.duration_s, ev.t):
                self._speculate(ev)
        elif isinstance(ev, SpeechEnded):
            await self._emit(ev)
            if abs(ev.t - self._answered_t) < 0.05:
                return  # this utterance already ended early (it read as complete) and is being answered
            if self.speaking:
                if not self._barge_in_allowed():
                    self._drop_speculation()
                    return  # probably Penny hearing itself
                await self.interrupt()
            spec, self._spec = self._spec, None
            if spec is not None and spec.silence_t >= ev.t - 0.05:
                await self._commit(spec, "silence")  # nobody spoke after the pause began: the turn ended
            else:
                if spec is not None:
                    spec.task.cancel()
                if self.gate.admits(ev.start_t, ev.t):  # a closed gate (acoustic wake): dropped, no STT
                    self._start_turn(ev, addressed=False)

    def _barge_in_allowed(self) -> bool:
        # On the local speaker path Penny can hear itself: require a confident voice (or wake word).
        if self.sink is None or not self.cfg.wake.require_during_playback:
            return True
        return getattr(self.endpointer, "last_probability", 1.0) >= self.cfg.vad.barge_in_threshold

    def _wall(self, stream_t: float) -> float:
        """Wall-clock time of a stream time: the newest fed sample arrived at _wall_at_stream_t."""
        return self._wall_at_stream_t - (self._stream_t - stream_t)

    # ---- speculation ----
    def _speculate(self, ev: SilenceStarted) -> None:
        self._drop_speculation()
        trace = TurnTrace(uuid.uuid4().hex[:8], self.session_id)
        trace.mark("speech_end", self._wall(ev.t))
        commit, out, gate = asyncio.Event(), TurnOutput(self, trace, held=True), copy.copy(self.gate)
        start_t = max(0.0, ev.t - ev.audio.duration_s)
        task = asyncio.create_task(self._safely(
            self._hear_and_reply(ev.audio, (start_t, ev.t), trace, out, False, commit, gate), trace, out))
        self._spec = Speculation(ev.t, task, commit, out, trace, gate)

    def _drop_speculation(self) -> None:
        spec, self._spec = self._spec, None
        if spec is not None:
            spec.task.cancel()

    async def _commit(self, spec: Speculation, rule: str) -> None:
        spec.trace.mark("end_of_turn")
        spec.trace.end_rule = rule
        self.gate = spec.gate  # the speculative verdict (window opened or closed) becomes real
        self._turn, self._turn_id = spec.task, spec.trace.turn_id
        await spec.out.release()
        spec.commit.set()

    # ---- one turn ----
    def _start_turn(self, ev: SpeechEnded, addressed: bool) -> None:
        trace = TurnTrace(uuid.uuid4().hex[:8], self.session_id,
                          end_rule="push_to_talk" if addressed else "silence")
        trace.mark("speech_end", self._wall(ev.t))
        trace.mark("end_of_turn")
        out = TurnOutput(self, trace)
        self._turn_id = trace.turn_id
        self._turn = asyncio.create_task(self._safely(
            self._hear_and_reply(ev.audio, (ev.start_t, ev.t), trace, out, addressed, None, self.gate), trace, out))

    async def _safely(self, turn, trace: TurnTrace, out: TurnOutput) -> None:
        """A turn that fails with anything but a PennyError (a bug, a library's own exception) still ends as
        the client expects: the real exception in the log, an error event, a spoken apology, ReplyDone."""
        try:
            await turn
        except Exception as exc:
            log.exception("turn %s failed", trace.turn_id)
            await out.emit(ErrorEvent("internal-error", f"{type(exc).__name__}: {exc}"[:300]))
            with contextlib.suppress(Exception):  # TTS may be what failed
                await self._play(trace.turn_id, APOLOGY, out)
            trace.mark("turn_end")
            await out.emit(ReplyDone(trace.turn_id, APOLOGY))

    async def _hear_and_reply(self, audio: AudioChunk, span: tuple[float, float], trace: TurnTrace, out: TurnOutput,
                              addressed: bool, commit: asyncio.Event | None, gate: WakeGate) -> None:
        try:
            prompt = self.engines.assistant.stt_prompt(self._stt_prompt)
            transcript: Transcript = await self.engines.stt.transcribe(audio, initial_prompt=prompt)
        except PennyError as exc:
            await out.emit(ErrorEvent(exc.code, str(exc)))
            return
        trace.mark("transcript")
        trace.backends["stt"] = getattr(self.engines.stt, "name", "stt")
        assistant = self.engines.assistant
        heard_text = transcript.text
        transcript = assistant.rescore(transcript)
        await out.emit(transcript)
        if self._spec is not None and self._spec.task is asyncio.current_task():
            self._spec.complete = looks_complete(transcript.text)
        text = transcript.text.strip()
        if not text:
            return
        if addressed:
            command, wake = text, None
        else:
            heard = gate.on_transcript(transcript, *span)
            command, wake = heard.command, heard.wake
        if wake is not None:
            await out.emit(wake)
        if command is None:
            if wake is not None:  # a bare "Hey Penny": the gate now listens for the command
                await self._play(trace.turn_id, "Yes?", out)
            else:
                log.info("not addressed to me: %r", text)
            return
        heard = assistant.understand(self.session_id, command, transcript, rescored=text != heard_text.strip())
        await self._reply(command, trace, out, commit, heard)

    async def _reply(self, text: str, trace: TurnTrace, out: TurnOutput, commit: asyncio.Event | None = None,
                     heard=None) -> None:
        turn_id = trace.turn_id
        await out.emit(ReplyStarted(turn_id, text))
        speech: asyncio.Queue = asyncio.Queue()
        speaker = asyncio.create_task(self._speak_queue(speech, trace.turn_id, out))
        filler = asyncio.create_task(self._filler(trace, out)) if self.streaming else None
        splitter = SentenceSplitter(language=self.cfg.assistant.language)
        full: list[str] = []
        try:
            async for ev in self.engines.assistant.reply(self.session_id, text, turn_id=turn_id, trace=trace,
                                                         commit=commit, heard=heard):
                if isinstance(ev, ReplyDelta):
                    await out.emit(ev)
                    full.append(ev.text)
                    if self.streaming:
                        for piece in splitter.feed(ev.text):
                            trace.mark("first_chunk")
                            speech.put_nowait(piece)
                elif isinstance(ev, BackendSwitched):
                    await out.emit(ev)
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
                    if commit is not None:
                        await commit.wait()  # a reply ready before the end of turn waits for it
                    if self.sink is not None:
                        await self.sink.drain()
                    trace.mark("turn_end")
                    self.gate.answered(self._stream_t)
                    self.turns_done += 1
                    await out.emit(ev)
                    await out.emit(trace)
                    log.info(trace.log_line())
        except asyncio.CancelledError:
            if not out.held:  # a dropped speculation leaves no trace; a real turn is marked interrupted
                trace.interrupted = True
                trace.mark("turn_end")
                await out.emit(ReplyDone(turn_id, "".join(full).strip(), interrupted=True))
                await out.emit(trace)
            raise
        finally:
            for task in (speaker, filler):
                if task is not None and not task.done():
                    task.cancel()

    async def _filler(self, trace: TurnTrace, out: TurnOutput) -> None:
        """Say a cached "one moment" only when the real answer is slow."""
        delay = self.cfg.assistant.filler_after_ms / 1000.0
        if delay <= 0:
            return
        await asyncio.sleep(delay)
        while out.held:  # count from the end of the turn, not from the speculative start
            await asyncio.sleep(0.05)
        if "first_chunk" not in trace.marks:
            await self._play(trace.turn_id, self.cfg.assistant.filler_phrase, out, filler=True)

    async def _speak_queue(self, speech: asyncio.Queue, turn_id: str, out: TurnOutput) -> None:
        while (piece := await speech.get()) is not None:
            await self._play(turn_id, piece, out)

    async def _play(self, turn_id: str, text: str, out: TurnOutput, filler: bool = False) -> None:
        try:
            chunks = self.engines.tts.synthesize(text)
            if not self.streaming:  # sequential: synthesize everything, then play
                chunks = _replay([c async for c in chunks])
            async for chunk in chunks:
                await out.audio(turn_id, chunk, filler)
        except PennyError as exc:
            await out.emit(ErrorEvent(exc.code, str(exc)))

    async def _play_chunk(self, turn_id: str, chunk: AudioChunk, trace: TurnTrace | None) -> None:
        if turn_id == self._cut:
            return  # its TTS task has not seen the cancellation yet
        if trace is not None:
            trace.mark("first_audio")
            trace.backends.setdefault("tts", getattr(self.engines.tts, "last_used", None)
                                      or getattr(self.engines.tts, "name", "tts"))
        now = time.perf_counter()
        self._playing_until = max(now, self._playing_until) + chunk.duration_s
        await self._emit(ReplyAudio(turn_id, chunk))
        if self.sink is not None:
            await self.sink.write(chunk)
        if trace is not None:
            trace.mark("playback_start")

    async def announce(self, alert: Alert) -> None:
        """A timer or reminder fired: show it and say it, even in the middle of a conversation."""
        await self._emit(alert)
        await self._play(f"alert-{alert.id}", alert.text, TurnOutput(self, None))

    # ---- output ----
    async def _emit(self, ev) -> None:
        await self._out.put(ev)

    def _unqueue_audio(self, turn_id: str) -> None:
        """Drop a cut turn's audio that its client has not taken yet."""
        waiting = [self._out.get_nowait() for _ in range(self._out.qsize())]
        for ev in waiting:
            if not (isinstance(ev, ReplyAudio) and ev.turn_id == turn_id):
                self._out.put_nowait(ev)

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
        await self.interrupt()
        await self._out.put(None)


async def _replay(chunks: list) -> AsyncIterator:
    for c in chunks:
        yield c
