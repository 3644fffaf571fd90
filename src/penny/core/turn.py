"""One turn, from the user's words to ReplyDone: hear (STT, rescoring, the wake gate, understanding),
answer (the assistant's stream) and speak (each sentence to TTS as soon as it is complete).

A turn never ends silently: any exception becomes an ErrorEvent, a spoken apology and ReplyDone, with
the real exception in the log. Each stage reports itself with StageEvents, which build the trace.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

from penny.core.claims import watch_actions
from penny.core.continuation import Continuation, Utterance, echoes, stands_alone
from penny.core.contracts import SessionEngines
from penny.core.events import (AudioChunk, BackendSwitched, ErrorEvent, ReplyDelta, ReplyDone, ReplyStarted,
                               Transcript, TurnTrace, WakeDetected)
from penny.core.output import Playback, TurnOutput
from penny.core.sentences import SentenceSplitter
from penny.core.turn_end import HALF, shape
from penny.core.understanding import Understanding, split_name
from penny.core.wake_gate import WakeGate
from penny.errors import PennyError

log = logging.getLogger(__name__)
APOLOGY = "Sorry, something went wrong on my side. Please try again."


@dataclass
class TurnContext:
    """What a turn uses of its session."""

    engines: SessionEngines
    session_id: str
    playback: Playback
    stt_prompt: str | None
    answered: Callable[[], None]  # the session's follow-up window opens, its turn count goes up


class TurnRunner:
    speculates = True  # may start on a pause with its output held (core/pipeline.py)

    def __init__(self, ctx: TurnContext, trace: TurnTrace, held: bool = False,
                 commit: asyncio.Event | None = None):
        self.ctx, self.trace, self.commit = ctx, trace, commit
        self.out = TurnOutput(ctx.playback, trace, held)
        # What Whisper heard, once understood: core/turn_end.py reads it at a pause.
        self.words: str | None = None
        self.shape = ""  # how the words end, for core/turn_end.py (turn_end.HALF, OPEN, CLOSED; "": for the LLM)
        self.heard: Utterance | None = None  # the audio it was built from: both pieces when it joined a cut turn
        self.gate_before: WakeGate | None = None  # the wake gate before it heard its words
        self.replied: list[str] = []  # its answer so far
        # how to take back each change its skills made, in trace.acted's order (None: it can't be)
        self.undo: list[Callable[[], None] | None] = []
        self.carried: Continuation | None = None  # the turn it is joining, until that one's changes are taken back

    async def run(self, work: Awaitable[None]) -> None:
        watch_actions(self.trace.acted, self.undo)  # this task's own context: what its skills change lands in the trace
        try:
            await work
        except Exception as exc:
            log.exception("turn %s failed", self.trace.turn_id)
            await self.out.emit(ErrorEvent("internal-error", f"{type(exc).__name__}: {exc}"[:300]))
            try:
                await self.say(APOLOGY)
            except Exception:  # TTS may be what failed: the text still goes out
                log.exception("turn %s: the apology could not be spoken", self.trace.turn_id)
            await self.out.stage("turn", "end")
            await self.out.emit(ReplyDone(self.trace.turn_id, APOLOGY))

    async def hear(self, speech: Utterance, span: tuple[float, float], gate: WakeGate, addressed: bool,
                   joined: Continuation | None = None) -> None:
        """`joined`: the cut turn this speech may go on from (core/continuation.py)."""
        engines = self.ctx.engines
        assistant = engines.assistant
        self.heard, self.gate_before = speech, copy.copy(gate)  # what speech going on from this turn joins
        if joined is not None and joined.redoable():
            # Cut before it knows whether it joins (the user goes on again: "... light bulbs, ... and tape"),
            # this turn stands for both pieces, and for the joined turn's changes, not yet taken back.
            self.heard, self.carried = joined.heard, joined
        await self.out.stage("stt", "start")
        try:
            transcript = await self._transcribe(speech.audio)
            whole = None
            if joined is not None and not echoes(transcript.text, joined.echo):  # cut a reply: meant for Penny
                gate, self.gate_before = joined.gate, copy.copy(joined.gate)
                name, parses = engines.cfg.assistant.name, assistant.hearing.parses
                if joined.redoable() and not stands_alone(transcript.text, name, parses):
                    whole = await self._join(joined, transcript.text)
            if whole is not None:
                transcript, speech, span = whole
            else:
                self.heard, self.carried = speech, None
        except PennyError as exc:
            await self.out.emit(ErrorEvent(exc.code, str(exc)))
            return
        await self.out.stage("stt", "end")
        self.trace.backends["stt"] = engines.stt.name
        heard_text = transcript.text.strip()
        # No self.words yet: core/turn_end.py judges the pause once the words are understood. Judged before,
        # "Take a note." read as finished while the phrase book was still scoring it, and the turn ended
        # before it was known to be no request yet (5 of the model rule's cut-offs in the turns benchmark).
        # Worth scoring against the phrase book: a turn for Penny (the wake word fired in it, or the gate is open).
        for_me = addressed or gate.admits(*span)
        transcript = await assistant.best_reading(transcript, speech.audio, engines.stt, for_me, self.trace,
                                                  answering=assistant.expects_answer(self.ctx.session_id))
        await self.out.emit(transcript)
        text = transcript.text.strip()
        if not text:
            self.words = ""
            return
        command: str | None = text
        wake: WakeDetected | None = None
        if not addressed:
            heard = gate.on_transcript(transcript, *span)
            command, wake = heard.command, heard.wake
        if wake is not None:
            await self.out.emit(wake)
        if command is None:  # nothing to act on yet: a bare "Hey Penny" (the request may follow), or not for me
            self.words, self.shape = heard_text, HALF
            if wake is not None:  # a bare "Hey Penny": the gate now listens for the command
                await self.say("Yes?")
            else:
                log.info("not addressed to me: %r", text)
            return
        # The request without the name it was addressed with (an acoustic wake word leaves "Hey Penny." in
        # the words): the LLM answered "Hey Penny, how's it going?" to "Hey Penny. What's two plus two?"
        command = split_name(command, self.ctx.engines.cfg.assistant.name)[1] or command
        understood = assistant.understand(self.ctx.session_id, command, transcript, rescored=text != heard_text)
        # The words as Whisper heard them: a phrase-book reading ("Set a timer.") must not make a trailing
        # "Set a timer for, um" look finished to core/turn_end.py.
        self.words, self.shape = heard_text, shape(understood, heard_text)
        await self.reply(command, understood)

    async def _join(self, joined: Continuation, words: str
                    ) -> tuple[Transcript, Utterance, tuple[float, float]] | None:
        """The rest of the cut turn's request: both pieces heard as one; that turn leaves the conversation.
        A turn that changed something is only redone when both pieces make one request Penny understands
        ("take a note: buy batteries ... and tape"); otherwise (None) the new words are a turn of their own
        ("set a timer for ten minutes ... and a second one for five") and the change stays."""
        log.info("%r goes on from turn %s: heard together", words, joined.turn_id)
        transcript = await self._transcribe(joined.heard.audio)
        if joined.changed:
            hearing, name = self.ctx.engines.assistant.hearing, self.ctx.engines.cfg.assistant.name
            if not hearing.parses(split_name(transcript.text, name)[1]):
                log.info("%r is no one request: turn %s stays as it was", transcript.text, joined.turn_id)
                return None
            log.info("taking back what turn %s did (%s) to do it whole", joined.turn_id, joined.changed)
            joined.take_back()
            self.trace.heard["taken_back"] = list(joined.changed)
        self.carried, self.trace.merged_from = None, joined.turn_id
        self.trace.marks["speech_start"] = joined.speech_start
        for turn_id in (joined.turn_id, *joined.also):
            self.ctx.engines.assistant.memory.forget_turn(self.ctx.session_id, turn_id)
        return transcript, joined.heard, (joined.heard.start_t, joined.heard.end_t)

    async def _transcribe(self, audio: AudioChunk) -> Transcript:
        prompt = self.ctx.engines.assistant.stt_prompt(self.ctx.stt_prompt)
        return await self.ctx.engines.stt.transcribe(audio, initial_prompt=prompt)

    async def reply(self, text: str, heard: Understanding | None = None) -> None:
        trace, out, turn_id = self.trace, self.out, self.trace.turn_id
        await out.emit(ReplyStarted(turn_id, text))
        speech: asyncio.Queue[str | None] = asyncio.Queue()
        tasks = [asyncio.create_task(self._speak(speech)), asyncio.create_task(self._filler())]
        splitter = SentenceSplitter(language=self.ctx.engines.cfg.assistant.language)
        full = self.replied
        answer = self.ctx.engines.assistant.reply(self.ctx.session_id, text, turn_id=turn_id, trace=trace,
                                                  commit=self.commit, heard=heard)
        try:
            # aclosing: a barge-in saves the turn to memory now, not when the generator is collected
            async with contextlib.aclosing(answer):
                async for ev in answer:
                    if isinstance(ev, ReplyDelta):
                        await out.stage("reply", "first")
                        await out.emit(ev)
                        full.append(ev.text)
                        await self._queue(speech, self._pieces(splitter, ev.text))
                    elif isinstance(ev, BackendSwitched):
                        await out.emit(ev)
                    elif isinstance(ev, ReplyDone):
                        await self._queue(speech, self._rest(splitter, full))
                        speech.put_nowait(None)
                        await tasks[0]
                        if self.commit is not None:
                            await self.commit.wait()  # a reply ready before the end of turn waits for it
                        await self.ctx.playback.drain()
                        await out.stage("turn", "end")
                        self.ctx.answered()
                        await out.emit(ev)
                        await out.emit(trace)
                        log.info(trace.log_line())
        except asyncio.CancelledError:
            if not out.held:  # a dropped speculation leaves no trace; a real turn is marked interrupted
                trace.interrupted = True
                await out.stage("turn", "end")
                await out.emit(ReplyDone(turn_id, "".join(full).strip(), interrupted=True))
                await out.emit(trace)
            raise
        finally:
            for task in tasks:
                task.cancel()

    async def say(self, text: str, filler: bool = False) -> None:
        await self.out.speak(self.trace.turn_id, self._chunks(text), filler)

    async def _queue(self, speech: asyncio.Queue[str | None], pieces: list[str]) -> None:
        for piece in pieces:
            await self.out.stage("tts", "start")
            speech.put_nowait(piece)

    async def _speak(self, speech: asyncio.Queue[str | None]) -> None:
        while (piece := await speech.get()) is not None:
            await self.say(piece)

    async def _filler(self) -> None:
        """Say a cached "one moment" only when the real answer is slow."""
        cfg = self.ctx.engines.cfg.assistant
        if cfg.filler_after_ms <= 0:
            return
        await asyncio.sleep(cfg.filler_after_ms / 1000.0)
        while self.out.held:  # count from the end of the turn, not from the speculative start
            await asyncio.sleep(0.05)
        if "first_chunk" not in self.trace.marks:
            await self.say(cfg.filler_phrase, filler=True)

    # ---- how the answer becomes speech: streamed here, whole in SequentialTurn ----
    def _pieces(self, splitter: SentenceSplitter, delta: str) -> list[str]:
        return splitter.feed(delta)

    def _rest(self, splitter: SentenceSplitter, full: list[str]) -> list[str]:
        return splitter.flush()

    def _chunks(self, text: str) -> AsyncIterator[AudioChunk]:
        return self.ctx.engines.tts.synthesize(text)


class SequentialTurn(TurnRunner):
    """The seed's pipeline, kept for the benchmark's comparison: no speculation, no filler, the whole
    answer, then all of its audio, then playback."""

    speculates = False

    def _pieces(self, splitter: SentenceSplitter, delta: str) -> list[str]:
        return []

    def _rest(self, splitter: SentenceSplitter, full: list[str]) -> list[str]:
        whole = " ".join(splitter.feed("".join(full)) + splitter.flush())
        return [whole] if whole else []

    async def _filler(self) -> None:
        return

    async def _chunks(self, text: str) -> AsyncIterator[AudioChunk]:
        chunks = [chunk async for chunk in self.ctx.engines.tts.synthesize(text)]
        for chunk in chunks:
            yield chunk
