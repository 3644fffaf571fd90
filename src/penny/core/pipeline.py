"""The voice session: audio in, events out. It listens (wake word, voice activity, the wake gate) and
decides *when* a turn runs; core/turns.py keeps which turn is answering, core/turn.py runs one.

One VoiceSession per listener (the terminal, each browser tab, each satellite). `feed()` takes user audio;
everything the session does comes out of `events()`. Every stage overlaps the next:
- speculation: when the user pauses, the turn starts (STT, LLM, TTS) with its output held; when the
  pause becomes an end of turn the held output is released at once, and if the user speaks on it is
  dropped without a trace. Skills with side effects wait for the end of turn.
- streaming: the first speakable clause goes to TTS while the LLM is still writing.
- barge-in: a new utterance during a reply interrupts it.
- continuation: speech that barges in right after an early end of turn may join that turn
  ("what's on my calendar ... tomorrow"; core/continuation.py).
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from dataclasses import dataclass
from typing import AsyncIterator

import numpy as np

from penny.core.continuation import MERGEABLE, Continuation, Utterance, joined, own_part
from penny.core.contracts import AudioSink, Frame, SessionEngines
from penny.core.events import Alert, AudioChunk, SessionEvent, SilenceStarted, SpeechEnded, SpeechStarted
from penny.core.output import Playback, TurnOutput
from penny.core.pcm import RATE as SR
from penny.core.turn import SequentialTurn, TurnContext, TurnRunner
from penny.core.turn_end import TurnEnd
from penny.core.turns import Speculation, Turns
from penny.core.wake_gate import WakeGate

log = logging.getLogger(__name__)
# A reply paused by a voice plays on after this long with no voice. Longer than a stop consonant: in "Stop."
# over a loud reply, the /t/ closure plus AEC3's gate left 128 ms of silence, the reply played on for a moment
# and the stop came 160 ms later than its first pause (echo soak). A cough costs a pause this long.
PAUSE_HOLD_S = 0.2
# How long (wall time) a pause's end may wait for the model rule's judgement: the words are understood in
# ~0.1-0.3 s; a stuck STT must not keep the turn open for ever.
JUDGE_WAIT_S = 2.0


@dataclass
class LastTurn:
    """The latest turn heard: speech that goes on from it may join it (core/continuation.py)."""

    turn: TurnRunner
    rule: str  # what ended it
    cut: bool = False  # the user's voice stopped its reply (a barge-in, not Penny's echo)


def _utterance(ev: SilenceStarted | SpeechEnded) -> Utterance:
    return Utterance(ev.audio, ev.audio_t + ev.audio.duration_s, ev.start_t, ev.t)


class VoiceSession:
    def __init__(self, engines: SessionEngines, session_id: str | None = None, *, mode: str | None = None,
                 sink: AudioSink | None = None, streaming: bool = True):
        cfg = self.cfg = engines.cfg
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.mode = mode or cfg.wake.mode
        self.endpointer = engines.new_endpointer()
        self.turn_end = TurnEnd(cfg.vad, engines.turn_end_model)
        self.wake = engines.new_wake() if self.mode == "wake_word" else None
        self.gate = WakeGate.for_engine("always_listening" if self.mode == "push_to_talk" else self.mode,
                                        self.wake, cfg.wake.follow_up_s)
        prompt = self.wake.prompt(cfg.stt.initial_prompt) if self.wake else None  # Whisper spells the name right
        self.playback = Playback(sink, engines.tts)
        self.assistant = engines.assistant
        self.turns = Turns(TurnContext(engines, self.session_id, self.playback, prompt or cfg.stt.initial_prompt,
                                       self._answered), TurnRunner if streaming else SequentialTurn)
        self._stream_t = 0.0  # seconds of user audio fed so far
        self._wall_at_stream_t = time.perf_counter()
        self._answered_t = -1.0  # stream time of the utterance a fast end of turn already answered
        self._ptt: list[Frame] | None = None
        self._last: LastTurn | None = None
        self._closed = False
        self.turns_done = 0

    # ---- input ----
    async def feed(self, chunk: AudioChunk) -> None:
        """16 kHz mono user audio, in any chunk size."""
        chunk = AudioChunk(chunk.as_float32(), SR)
        self._stream_t += chunk.duration_s
        self._wall_at_stream_t = time.perf_counter()
        if self.mode == "push_to_talk":
            return self._ptt.append(chunk.samples) if self._ptt is not None else None
        if self.wake is not None and self.wake.hears == "audio" and \
                (det := self.wake.process(chunk.samples, self._stream_t)) is not None and \
                not (self.speaking and self._hears_itself()):  # its own voice can sound like its name
            self.gate.wake(det.t)
            await self.playback.emit(det)
            if not self.speaking:  # over a reply the voice itself barges in: Penny's own echo can false-wake
                await self.interrupt()
        await self._judged_in_time(chunk.duration_s)
        for ev in self.endpointer.process(chunk):
            await self._on_vad_event(ev)
        if self.speaking and not self._hears_itself():
            if self.endpointer.voiced_s * 1000 >= self.cfg.vad.barge_in_ms:
                log.info("barge-in at %.2fs", self._stream_t)  # before min_speech_ms confirms the utterance
                await self._barge_in()
            elif self.cfg.vad.barge_in_pause:
                await self._hush(chunk.duration_s)
        elif self.playback.paused:  # Penny may hear itself again (the canceller failed): never stay paused
            await self.playback.resume()
        if (state := self.gate.poll(self._stream_t)) is not None:
            await self.playback.emit(state)  # Listening: the gate opened or closed
        spec = self.turns.spec
        if spec is not None and self.endpointer.last_probability >= self.cfg.vad.threshold:
            self.turns.drop_speculation()  # the pause was not the end: the user speaks on
            self.turn_end.resume()
        elif spec is not None:
            await self._judge(spec, self._stream_t)

    async def _judge(self, spec: Speculation, now_t: float) -> None:
        """The end-of-turn rule on the pause so far: hold it open, end the turn, or let silence decide."""
        verdict = self.turn_end.verdict((now_t - spec.silence_t) * 1000.0, spec.turn.words, spec.turn.shape)
        if verdict.hold_ms is not None:
            self.endpointer.hold(verdict.hold_ms)
        elif verdict.commit is not None:
            self._answered_t = spec.silence_t
            await self._end_turn(spec, verdict.commit)

    async def _judged_in_time(self, ahead_s: float) -> None:
        """Silence would end the utterance within the next `ahead_s` of audio, and the model rule cannot judge
        the pause yet: wait for its words (the reply needs them anyway), so that a slow machine, or audio fed
        faster than real time, ends the turn where a fast one would. The microphone queues meanwhile."""
        spec = self.turns.spec
        if spec is None or not self.endpointer.in_speech or self.speaking or \
                self._stream_t - spec.silence_t < self.endpointer.pause_limit / SR:
            return
        deadline = time.perf_counter() + JUDGE_WAIT_S
        while self.turns.spec is spec and not spec.task.done() and self.turn_end.waiting_on(spec.turn.words):
            if time.perf_counter() > deadline:
                log.warning("no end-of-turn judgement within %.1f s: silence ends the turn", JUDGE_WAIT_S)
                break
            await asyncio.sleep(0.005)
        if self.turns.spec is spec:
            await self._judge(spec, self._stream_t - ahead_s)

    async def end_of_input(self) -> None:
        for ev in self.endpointer.flush():
            await self._on_vad_event(ev)

    async def push_to_talk(self, pressed: bool) -> None:
        if pressed:
            await self.interrupt()
            self._ptt, self._last = [], None
            return await self.playback.emit(SpeechStarted(self._stream_t))
        if self._ptt is None:
            return
        audio = AudioChunk(np.concatenate(self._ptt) if self._ptt else np.zeros(0, np.float32), SR)
        self._ptt = None
        start = self._stream_t - audio.duration_s
        ev = SpeechEnded(self._stream_t, audio, start, self._stream_t, start)
        await self.playback.emit(ev)
        self.turns.start(_utterance(ev), (ev.start_t, ev.t), (self._wall(start), self._wall(ev.t)), self.gate,
                         addressed=True)

    async def ask(self, text: str) -> None:
        """A typed turn: skips hearing, goes straight to the assistant."""
        self._last = None
        await self.turns.ask(text)

    async def interrupt(self) -> None:
        """Barge-in: the turn answering or playing is cut (Interrupted first, none of its audio after)."""
        await self.turns.interrupt()

    @property
    def speaking(self) -> bool:
        return self.turns.speaking

    async def _on_vad_event(self, ev: SpeechStarted | SilenceStarted | SpeechEnded) -> None:
        if isinstance(ev, SpeechStarted):
            await self.playback.emit(ev)
            if self.speaking and self._barge_in_allowed():
                log.info("barge-in at %.2fs", ev.t)
                await self._barge_in()
            elif not self.speaking:
                self.assistant.prepare(self.session_id)  # the LLM reads the history while the user talks
        elif isinstance(ev, SilenceStarted):
            heard, cont = self._goes_on(_utterance(ev))
            span = (heard.start_t, ev.t)
            admitted = cont is not None or self.gate.admits(*span)
            if self.turns.runner.speculates and not self.speaking and admitted:
                self.turns.speculate(heard, span, self._walls(heard), copy.copy(self.gate), cont)
                self.turn_end.pause(ev.t, (cont.heard if cont and cont.redoable() else heard).audio.as_float32())
        else:
            await self.playback.emit(ev)
            if abs(ev.t - self._answered_t) < 0.05:
                return  # this utterance already ended early (it read as complete) and is being answered
            if self.speaking and not self._barge_in_allowed():
                return self.turns.drop_speculation()  # probably Penny hearing itself
            if self.speaking:
                await self._barge_in()
            spec = self.turns.spec
            if spec is not None and spec.silence_t >= ev.t - 0.05:  # nobody spoke after the pause began
                return await self._end_turn(spec, "max_pause" if self.turn_end.held else "silence")
            self.turn_end.resume()
            self.turns.drop_speculation()
            heard, cont = self._goes_on(_utterance(ev))
            # a closed gate (acoustic wake) drops it here, before STT; speech going on from a turn it let in may join
            if cont is not None or self.gate.admits(heard.start_t, ev.t):
                turn = self.turns.start(heard, (heard.start_t, ev.t), self._walls(heard), self.gate,
                                        addressed=False, joined=cont)
                self._last = LastTurn(turn, "silence")

    async def _end_turn(self, spec: Speculation, rule: str) -> None:
        """The pause was the end of the turn: its held output goes out, with what the turn model made of it."""
        spec.turn.trace.end_p = self.turn_end.p_done
        self.turn_end.resume()
        self.gate = await self.turns.commit(spec, rule)
        self._last = LastTurn(spec.turn, rule)

    def _goes_on(self, new: Utterance) -> tuple[Utterance, Continuation | None]:
        """The new speech alone, and the last turn when this speech cut its reply within continue_window_ms
        of the end of its words; it may join that turn if an early rule ended it and it changed nothing."""
        last = self._last
        prev = last.turn.heard if last is not None else None
        if last is None or prev is None or last.turn.gate_before is None:
            return new, None
        own, trace = own_part(prev, new), last.turn.trace
        if not last.cut or own.start_t - prev.end_t > self.cfg.vad.continue_window_ms / 1000.0:
            return own, None
        joins = last.rule in MERGEABLE and trace.intent != "forget"
        changed, undo = trace.acted, last.turn.undo
        also: tuple[str, ...] = ()
        start = trace.marks.get("speech_start", self._wall(prev.start_t))
        carried = last.turn.carried  # it was cut while joining a turn whose changes it had yet to take back
        if carried is not None:
            changed, undo = carried.changed + changed, carried.undo + undo
            also, start = (carried.turn_id, *carried.also), carried.speech_start
        return own, Continuation(trace.turn_id, joined(prev, new), copy.copy(last.turn.gate_before), start, joins,
                                 "".join(last.turn.replied), changed, undo, also)

    async def _barge_in(self) -> None:
        """The user's voice over a reply: it stops, and the speech may go on from that turn."""
        if self._last is not None and self.turns.turn_id == self._last.turn.trace.turn_id:
            self._last.cut = True
        await self.interrupt()

    async def _hush(self, fed_s: float) -> None:
        """Voice over a reply, short of barge_in_ms yet: the speaker goes quiet at its first voiced frame (the
        echo soak's stops came 64 ms sooner) and plays on after PAUSE_HOLD_S with no voice (a cough, a door).
        Any voiced frame of the `fed_s` just fed counts, not only the last (a chunk may hold several)."""
        if self.endpointer.since_voice_s < fed_s:
            if not self.playback.paused:
                log.info("voice over the reply at %.2fs: paused", self._stream_t)
            await self.playback.pause()
        elif self.playback.paused and self.endpointer.since_voice_s >= PAUSE_HOLD_S:
            log.info("the voice stopped short at %.2fs: playing on", self._stream_t)
            await self.playback.resume()

    def _hears_itself(self) -> bool:
        """A speaker with no echo cancellation: Penny may hear its own voice."""
        sink = self.playback.sink
        return sink is not None and not sink.echo_cancelled and self.cfg.wake.require_during_playback

    def _barge_in_allowed(self) -> bool:
        # Where Penny may hear itself, only a confident voice interrupts (a wake word over a reply is ignored).
        return not self._hears_itself() or self.endpointer.last_probability >= self.cfg.vad.barge_in_threshold

    def _walls(self, heard: Utterance) -> tuple[float, float]:
        return self._wall(heard.start_t), self._wall(heard.end_t)

    def _wall(self, stream_t: float) -> float:
        """Wall-clock time of a stream time: the newest fed sample arrived at _wall_at_stream_t."""
        return self._wall_at_stream_t - (self._stream_t - stream_t)

    def _answered(self) -> None:
        self.gate.answered(self._stream_t)
        self.turns_done += 1

    async def announce(self, alert: Alert) -> None:
        """A timer or reminder fired: show it and say it, even in the middle of a conversation."""
        await self.playback.emit(alert)
        speech = self.turns.ctx.engines.tts.synthesize(alert.text)
        await TurnOutput(self.playback, None).speak(f"alert-{alert.id}", speech)

    # ---- output ----
    def events(self) -> AsyncIterator[SessionEvent]:
        return self.playback.events()

    async def wait_idle(self) -> None:
        """Until the current turn (if any) has finished."""
        await self.turns.wait_idle()

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.interrupt()
            await self.playback.close()
