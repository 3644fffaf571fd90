"""Everything Penny loads once per process: models warmed at start-up so no turn is cold."""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
import weakref

from penny.config import PennyConfig, memory_path
from penny.core.assistant import Assistant
from penny.memory.store import MemoryStore

log = logging.getLogger(__name__)


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


class Engines:
    def __init__(self, cfg: PennyConfig, *, llm, stt, tts, plugins, memory: MemoryStore):
        self.cfg = cfg
        self.llm = llm
        self.stt = stt
        self.tts = tts
        self.plugins = plugins
        self.memory = memory
        self.assistant = Assistant(cfg, llm, plugins, memory)
        self.startup_s = 0.0
        self._sessions: weakref.WeakSet = weakref.WeakSet()
        if plugins is not None and hasattr(plugins, "on_alert"):
            plugins.on_alert = self._broadcast_alert

    @classmethod
    async def load(cls, cfg: PennyConfig, *, warm: bool = True, data_dir=None, clock=None) -> "Engines":
        from penny.adapters.llm.factory import build_llm
        from penny.adapters.stt.factory import build_stt
        from penny.adapters.tts.factory import build_tts
        from penny.plugins.registry import build_plugins

        t0 = time.perf_counter()
        llm = build_llm(cfg)
        stt = build_stt(cfg)
        tts = build_tts(cfg)
        plugins = build_plugins(cfg, data_dir=data_dir, clock=clock)
        memory = MemoryStore(memory_path(cfg))
        engines = cls(cfg, llm=llm, stt=stt, tts=tts, plugins=plugins, memory=memory)
        if warm:
            # The LLM server starts (a child process) while Whisper and Piper load in threads.
            await asyncio.gather(engines._warm_llm(), engines._warm_stt(), engines._warm_tts())
        await _maybe_await(plugins.start()) if hasattr(plugins, "start") else None
        engines.startup_s = time.perf_counter() - t0
        log.info("Penny ready in %.1fs (llm %s, stt %s, tts %s)", engines.startup_s,
                 getattr(llm, "name", "?"), getattr(stt, "name", "?"), getattr(tts, "name", "?"))
        return engines

    async def _warm_llm(self) -> None:
        if hasattr(self.llm, "start"):
            try:
                await _maybe_await(self.llm.start())
            except Exception as exc:  # an absent backend is reported per turn, not fatal at start-up
                log.warning("LLM not ready at start-up: %s", exc)
                return
        await self.assistant.warm()

    async def _warm_stt(self) -> None:
        if hasattr(self.stt, "warmup"):
            if inspect.iscoroutinefunction(self.stt.warmup):
                await self.stt.warmup()
            else:  # a blocking model load: keep the loop free for the LLM start-up
                await asyncio.to_thread(self.stt.warmup)

    async def _warm_tts(self) -> None:
        if hasattr(self.tts, "warmup"):
            await _maybe_await(self.tts.warmup())
        if hasattr(self.tts, "prewarm") and self.cfg.tts.cache.enabled:
            await _maybe_await(self.tts.prewarm(self.cfg.tts.cache.prewarm + [self.cfg.assistant.filler_phrase,
                                                                             "Yes?"]))

    def new_endpointer(self):
        from penny.core.endpointer import Endpointer
        from penny.adapters.vad.factory import build_vad

        return Endpointer(build_vad(self.cfg), self.cfg.vad)

    def new_wake(self):
        from penny.adapters.wake.factory import build_wake

        return build_wake(self.cfg, self.stt)

    def new_session(self, session_id: str | None = None, *, mode: str | None = None, sink=None,
                    streaming: bool = True):
        from penny.core.pipeline import VoiceSession

        session = VoiceSession(self, session_id, mode=mode, sink=sink, streaming=streaming)
        self._sessions.add(session)
        return session

    async def _broadcast_alert(self, alert) -> None:
        for session in list(self._sessions):
            asyncio.create_task(session.announce(alert))

    async def aclose(self) -> None:
        for session in list(self._sessions):
            await session.close()
        if self.plugins is not None and hasattr(self.plugins, "aclose"):
            await _maybe_await(self.plugins.aclose())
        if hasattr(self.llm, "aclose"):
            await _maybe_await(self.llm.aclose())
        self.memory.close()
