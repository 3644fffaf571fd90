"""Which turn is answering: the live one, one started speculatively on a pause (its output held), and
barge-in, which cuts the live one. The voice session decides when; core/turn.py runs each turn."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Coroutine

from penny.core.continuation import Continuation, Utterance
from penny.core.events import StageEvent, TurnTrace
from penny.core.turn import TurnContext, TurnRunner
from penny.core.wake_gate import WakeGate


@dataclass
class Speculation:
    silence_t: float  # stream time of the last voiced sample before the pause
    task: asyncio.Task[None]
    turn: TurnRunner
    gate: WakeGate  # the gate as this turn would leave it


class Turns:
    def __init__(self, ctx: TurnContext, runner: type[TurnRunner]):
        self.ctx, self.runner, self.playback = ctx, runner, ctx.playback
        self.task: asyncio.Task[None] | None = None
        self.turn_id: str | None = None  # the turn `task` answers (or whose audio may still be playing)
        self.spec: Speculation | None = None

    @property
    def speaking(self) -> bool:
        return (self.task is not None and not self.task.done()) or self.playback.playing

    def speculate(self, heard: Utterance, span: tuple[float, float], speech: tuple[float, float], gate: WakeGate,
                  joined: Continuation | None = None) -> None:
        """`speech`: wall-clock times of the utterance's first and last voiced samples."""
        self.drop_speculation()
        turn = self._new(None, speech, held=True, commit=asyncio.Event())
        task = self._run(turn, turn.hear(heard, span, gate, False, joined))
        self.spec = Speculation(span[1], task, turn, gate)

    def drop_speculation(self) -> None:
        spec, self.spec = self.spec, None
        if spec is not None:
            spec.task.cancel()

    async def commit(self, spec: Speculation, rule: str) -> WakeGate:
        """The pause was the end of the turn: its held output goes out now. Returns the gate it leaves."""
        self.spec = None
        spec.turn.trace.end_rule = rule
        await spec.turn.out.stage("turn", "start")
        self.task, self.turn_id = spec.task, spec.turn.trace.turn_id
        await spec.turn.out.release()
        if spec.turn.commit is not None:
            spec.turn.commit.set()
        return spec.gate

    def start(self, heard: Utterance, span: tuple[float, float], speech: tuple[float, float], gate: WakeGate,
              addressed: bool, joined: Continuation | None = None) -> TurnRunner:
        turn = self._new("push_to_talk" if addressed else "silence", speech)
        turn.trace.record(StageEvent(turn.trace.turn_id, "turn", "start"))
        self._run(turn, turn.hear(heard, span, gate, addressed, joined))
        return turn

    async def ask(self, text: str) -> None:
        """A typed turn: skips hearing, goes straight to the assistant."""
        await self.interrupt()
        turn = self._new("typed", None)
        for stage, phase in (("speech", "end"), ("turn", "start"), ("stt", "end")):
            turn.trace.record(StageEvent(turn.trace.turn_id, stage, phase))
        self._run(turn, turn.reply(text))

    async def interrupt(self) -> None:
        """Stop playback, cancel the LLM stream and queued TTS. A turn still answering or playing is cut:
        Interrupted(turn_id) goes out first, and no audio of that turn after it."""
        self.drop_speculation()
        task, self.task = self.task, None
        answering = task is not None and not task.done()
        if self.turn_id is not None and (answering or self.playback.playing):
            await self.playback.cut(self.turn_id)
            self.turn_id = None
        if task is not None and answering:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # the turn itself logs any real failure
                await task
        await self.playback.stop()

    async def wait_idle(self) -> None:
        while self.task is not None and not self.task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self.task)
        await asyncio.sleep(0)

    def _new(self, rule: str | None, speech: tuple[float, float] | None, held: bool = False,
             commit: asyncio.Event | None = None) -> TurnRunner:
        turn = self.runner(self.ctx, TurnTrace(uuid.uuid4().hex[:8], self.ctx.session_id, end_rule=rule), held,
                           commit)
        if speech is not None:
            turn.trace.record(StageEvent(turn.trace.turn_id, "speech", "start", speech[0]))
            turn.trace.record(StageEvent(turn.trace.turn_id, "speech", "end", speech[1]))
        return turn

    def _run(self, turn: TurnRunner, work: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(turn.run(work))
        # A speculation dropped before its task ran never starts `work`: close it ("never awaited" otherwise).
        task.add_done_callback(lambda _: work.close())
        if not turn.out.held:
            self.task, self.turn_id = task, turn.trace.turn_id
        return task
