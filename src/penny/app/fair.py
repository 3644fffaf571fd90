"""Fair use of the shared models when several sessions (rooms) talk at once.

Every session shares one STT, one LLM and one TTS. On a small machine two transcriptions (or two
syntheses) at the same time do not finish sooner than one after the other: they only both finish late.
So each engine sits behind a `FairGate`: at most `slots` calls run at once, the rest wait in line,
ordered by priority and then by arrival. Priority 0 is work on the way to a turn's *first* audio (a
transcription, a turn's first sentence, its first LLM call); later sentences of a long answer wait
behind it. So one room's long story never starves another room's first words.

The wrappers delegate everything else to the engine they wrap (name, voice, warmup, set_model, ...).
A call that is cancelled (barge-in, a dropped speculation) gives its place back only when the engine's
worker thread has really finished, so the gate counts the CPU that is actually busy.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
import weakref
from typing import TYPE_CHECKING, AsyncIterator, cast
from urllib.parse import urlparse

if TYPE_CHECKING:
    from penny.config import PennyConfig
    from penny.core.contracts import LLM, STT, TTS

FIRST, LATER = 0, 1  # priorities: first-audio work, then the rest
SLOW_WAIT_S = 2.5  # a room waiting this long in one line is told (once) what would help
ADVICE = {
    "llm": "Rooms waited {s:.1f} s in line for the language model: run it on its own server (Ollama, vLLM or "
           "llama.cpp on another machine) and add it to llm.fallbacks, or set llm.provider to it.",
    "stt": "Rooms waited {s:.1f} s in line for speech recognition: this machine has too few cores for this many "
           "rooms talking at once (a faster machine, or fewer satellites on this one).",
    "tts": "Rooms waited {s:.1f} s in line for the voice: fewer rooms on this machine, or a lighter voice.",
}
log = logging.getLogger(__name__)


class FairGate:
    """At most `slots` holders; waiters are served by (priority, arrival)."""

    def __init__(self, name: str, slots: int = 1):
        self.name, self.slots = name, max(1, int(slots))
        self._busy = 0
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self.stats = {"calls": 0, "waited": 0, "wait_s": 0.0, "max_wait_s": 0.0}
        self.advised = False

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())

    async def acquire(self, priority: int = FIRST) -> None:
        self.stats["calls"] += 1
        if self._busy < self.slots and not self.waiting:
            self._busy += 1
            return
        t0 = time.perf_counter()
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut  # granted: release() counted us in
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted and cancelled in the same step: pass the place on
            raise
        waited = time.perf_counter() - t0
        self.stats["waited"] += 1
        self.stats["wait_s"] += waited
        self.stats["max_wait_s"] = max(self.stats["max_wait_s"], waited)
        if waited >= SLOW_WAIT_S and not self.advised and self.name in ADVICE:
            self.advised = True  # once per run: the log says what would help, not every turn
            log.warning(ADVICE[self.name].format(s=waited))

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)  # the place goes straight to the next in line
                return
        self._busy = max(0, self._busy - 1)

    @contextlib.asynccontextmanager
    async def hold(self, priority: int = FIRST):
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()


class _Proxy:
    def __init__(self, inner, gate: FairGate):
        self.inner, self.gate = inner, gate
        # Per task: how many calls it made. A turn's speaker is one task, so its first call is its first
        # sentence; a filler, an alert or a "Yes?" each run in their own task and count as first too.
        self._calls: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __setattr__(self, name, value):  # a setting (a test's stand-in method) belongs to the engine itself
        if name in ("inner", "gate", "_calls"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def _priority(self) -> int:
        task = asyncio.current_task()
        if task is None:
            return FIRST
        n = self._calls.get(task, 0)
        self._calls[task] = n + 1
        return FIRST if n == 0 else LATER

    async def _stream(self, make, priority: int) -> AsyncIterator:
        """Run the async generator `make()` under the gate in a task of its own, handing items on through a
        queue: the gate is held while the engine works, and given back even if our consumer walks away."""
        queue: asyncio.Queue = asyncio.Queue()
        done = object()

        async def pump() -> None:
            try:
                async with self.gate.hold(priority):
                    gen = make()
                    try:
                        async for item in gen:
                            queue.put_nowait(item)
                    finally:
                        await gen.aclose()
                queue.put_nowait(done)
            except BaseException as exc:  # handed to the consumer
                queue.put_nowait(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise

        task = asyncio.get_running_loop().create_task(pump(), name=f"penny-fair-{self.gate.name}")
        try:
            while True:
                item = await queue.get()
                if item is done or isinstance(item, asyncio.CancelledError):
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not task.done():
                task.cancel()


class FairSTT(_Proxy):
    async def transcribe(self, audio, *args, **kwargs):
        return await self._first(lambda: self.inner.transcribe(audio, *args, **kwargs))

    async def score(self, audio, *args, **kwargs):
        return await self._first(lambda: self.inner.score(audio, *args, **kwargs))

    async def _first(self, call):
        await self.gate.acquire(FIRST)  # every transcription is on the way to a first answer
        try:
            work = asyncio.ensure_future(call())
        except BaseException:
            self.gate.release()
            raise
        work.add_done_callback(lambda _: self.gate.release())  # when the thread is really done
        return await asyncio.shield(work)


class FairTTS(_Proxy):
    async def synthesize(self, text: str, *args, **kwargs) -> AsyncIterator:
        lookup = getattr(self.inner, "lookup", None)
        if lookup is not None and (hit := lookup(text)) is not None:  # the phrase cache: no work, no line
            with contextlib.suppress(AttributeError):  # what the turn's trace names as its TTS
                self.inner.last_used = "cache"
            yield hit
            return
        async for chunk in self._stream(lambda: self.inner.synthesize(text, *args, **kwargs), self._priority()):
            yield chunk


class FairLLM(_Proxy):
    async def stream(self, *args, **kwargs) -> AsyncIterator:
        async for ev in self._stream(lambda: self.inner.stream(*args, **kwargs), self._priority()):
            yield ev


def llm_slots(cfg) -> int:
    """A model on this machine answers one request at a time; a server elsewhere takes several."""
    llm = cfg.llm
    if llm.provider == "embedded":
        return 1
    host = urlparse(str(getattr(llm, "base_url", "") or "")).hostname or ""
    return 1 if host in ("", "localhost", "127.0.0.1", "::1") else 4


def wrap(cfg: PennyConfig, llm: LLM, stt: STT, tts: TTS) -> tuple[LLM, STT, TTS]:
    """The engines behind their gates (None stays None: a test's engines may leave one out). A wrapper
    presents its engine's own shape (it forwards every other attribute), hence the casts."""
    return (cast("LLM", FairLLM(llm, FairGate("llm", llm_slots(cfg))) if llm is not None else None),
            cast("STT", FairSTT(stt, FairGate("stt")) if stt is not None else None),
            cast("TTS", FairTTS(tts, FairGate("tts")) if tts is not None else None))


def gate_stats(*engines) -> dict:
    return {e.gate.name: dict(e.gate.stats) for e in engines if isinstance(e, _Proxy)}
