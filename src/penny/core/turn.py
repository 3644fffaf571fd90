"""One turn, from the user's words to ReplyDone: hear (STT, rescoring, the wake gate, understanding),
answer (the assistant's stream) and speak (each sentence to TTS as soon as it is complete).

A turn never ends silently: any exception becomes an ErrorEvent, a spoken apology and ReplyDone, with
the real exception in the log. Each stage reports itself with StageEvents, which build the trace.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

from penny.core.contracts import SessionEngines
from penny.core.events import (AudioChunk, BackendSwitched, ErrorEvent, ReplyDelta, ReplyDone, ReplyStarted,
                               TurnTrace, WakeDetected)
from penny.core.output import Playback, TurnOutput
from penny.core.sentences import SentenceSplitter
from penny.core.understanding import Understanding
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
        self.unfinished = False  # the words name a skill but are no request yet

    async def run(self, work: Awaitable[None]) -> None:
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

    async def hear(self, audio: AudioChunk, span: tuple[float, float], gate: WakeGate, addressed: bool) -> None:
        engines = self.ctx.engines
        assistant = engines.assistant
        await self.out.stage("stt", "start")
        try:
            transcript = await engines.stt.transcribe(audio, initial_prompt=assistant.stt_prompt(self.ctx.stt_prompt))
        except PennyError as exc:
            await self.out.emit(ErrorEvent(exc.code, str(exc)))
            return
        await self.out.stage("stt", "end")
        self.trace.backends["stt"] = engines.stt.name
        heard_text = transcript.text.strip()
        self.words = heard_text  # core/turn_end.py may judge the pause now, before any rescoring
        # Worth scoring against the phrase book: a turn for Penny (the wake word fired in it, or the gate is open).
        for_me = addressed or gate.admits(*span)
        transcript = await assistant.best_reading(transcript, audio, engines.stt, for_me, self.trace)
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
            self.words, self.unfinished = heard_text, True
            if wake is not None:  # a bare "Hey Penny": the gate now listens for the command
                await self.say("Yes?")
            else:
                log.info("not addressed to me: %r", text)
            return
        understood = assistant.understand(self.ctx.session_id, command, transcript, rescored=text != heard_text)
        # The words as Whisper heard them: a phrase-book reading ("Set a timer.") must not make a trailing
        # "Set a timer for, um" look finished to core/turn_end.py.
        self.words, self.unfinished = heard_text, understood.unfinished
        await self.reply(command, understood)

    async def reply(self, text: str, heard: Understanding | None = None) -> None:
        trace, out, turn_id = self.trace, self.out, self.trace.turn_id
        await out.emit(ReplyStarted(turn_id, text))
        speech: asyncio.Queue[str | None] = asyncio.Queue()
        tasks = [asyncio.create_task(self._speak(speech)), asyncio.create_task(self._filler())]
        splitter = SentenceSplitter(language=self.ctx.engines.cfg.assistant.language)
        full: list[str] = []
        try:
            async for ev in self.ctx.engines.assistant.reply(self.ctx.session_id, text, turn_id=turn_id, trace=trace,
                                                             commit=self.commit, heard=heard):
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
