"""Everything Penny loads once per process: models warmed at start-up so no turn is cold."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from penny.app import fair
from penny.config import PennyConfig, memory_path
from penny.core.assistant import Assistant
from penny.core.contracts import LLM, STT, TTS, AudioSink, TurnEndModel, Wake
from penny.core.endpointer import Endpointer
from penny.core.events import Alert
from penny.memory.store import MemoryStore

if TYPE_CHECKING:
    from penny.core.pipeline import VoiceSession
    from penny.plugins.base import Clock
    from penny.plugins.registry import PluginRegistry

log = logging.getLogger(__name__)


class Engines:
    def __init__(self, cfg: PennyConfig, *, llm: LLM, stt: STT, tts: TTS, plugins: PluginRegistry | None,
                 memory: MemoryStore):
        self.cfg = cfg
        # Every session shares these; fair.py lines their calls up so no room starves another's first audio.
        self.llm, self.stt, self.tts = fair.wrap(cfg, llm, stt, tts)
        self.plugins = plugins
        self.memory = memory
        self.assistant = Assistant(cfg, self.llm, plugins, memory)
        self.startup_s = 0.0
        self._sessions: weakref.WeakSet[VoiceSession] = weakref.WeakSet()
        self._turn_end: TurnEndModel | None = None
        self._turn_end_loaded = False
        self._turn_end_lock = threading.Lock()
        if plugins is not None:
            plugins.on_alert = self._route_alert

    @classmethod
    async def load(cls, cfg: PennyConfig, *, warm: bool = True, data_dir: Path | None = None,
                   clock: Clock | None = None) -> Engines:
        from penny.adapters.llm.factory import build_llm
        from penny.adapters.stt.factory import build_stt
        from penny.adapters.tts.factory import build_tts
        from penny.plugins.loading import build_plugins

        t0 = time.perf_counter()
        llm, stt, tts = build_llm(cfg), build_stt(cfg), build_tts(cfg)
        plugins = build_plugins(cfg, data_dir=data_dir, clock=clock)
        engines = cls(cfg, llm=llm, stt=stt, tts=tts, plugins=plugins, memory=MemoryStore(memory_path(cfg)))
        if warm:
            # The LLM server starts (a child process) while Whisper and Piper load in threads.
            await asyncio.gather(engines._warm_llm(), asyncio.to_thread(engines.stt.warmup), engines._warm_tts(),
                                 asyncio.to_thread(engines._load_turn_end), asyncio.to_thread(plugins.phrases.build))
        await plugins.start()
        engines.startup_s = time.perf_counter() - t0
        log.info("Penny ready in %.1fs (llm %s, stt %s, tts %s)", engines.startup_s, engines.llm.name,
                 engines.stt.name, engines.tts.name)
        return engines

    async def _warm_llm(self) -> None:
        await self.llm.start()  # never raises: an absent backend is reported per turn
        await self.assistant.warm()

    async def _warm_tts(self) -> None:
        await self.tts.warmup()
        if self.cfg.tts.cache.enabled:
            await self.tts.prewarm(self.warm_phrases)

    @property
    def warm_phrases(self) -> list[str]:
        """What the phrase cache holds from start-up: the configured phrases, the filler, the answer to a bare name."""
        return [*self.cfg.tts.cache.prewarm, self.cfg.assistant.filler_phrase, "Yes?"]

    @property
    def turn_end_model(self) -> TurnEndModel | None:
        """Smart Turn when vad.end_of_turn is "model" and it loaded; one per process, shared by every session.
        Loaded in a thread by load(warm=True); otherwise on first use (~0.2 s)."""
        if not self._turn_end_loaded:
            self._load_turn_end()
        return self._turn_end

    def _load_turn_end(self) -> None:
        from penny.adapters.turn.factory import build_turn_end

        with self._turn_end_lock:
            if not self._turn_end_loaded:
                self._turn_end = build_turn_end(self.cfg)  # None, with a warning, when the model is missing
                self._turn_end_loaded = True

    def new_endpointer(self) -> Endpointer:
        from penny.adapters.vad.factory import build_vad

        return Endpointer(build_vad(self.cfg), self.cfg.vad)

    def new_wake(self) -> Wake:
        from penny.adapters.wake.factory import build_wake

        return build_wake(self.cfg, self.stt)

    def new_session(self, session_id: str | None = None, *, mode: str | None = None, sink: AudioSink | None = None,
                    streaming: bool = True) -> VoiceSession:
        from penny.core.pipeline import VoiceSession

        session = VoiceSession(self, session_id, mode=mode, sink=sink, streaming=streaming)
        self._sessions.add(session)
        return session

    def open_sessions(self) -> list[VoiceSession]:
        return [s for s in self._sessions if not s.closed]

    async def _route_alert(self, alert: Alert) -> None:
        """An alert goes to the session that set it (the room that asked) while that one is open, else to all."""
        sessions = self.open_sessions()
        mine = [s for s in sessions if alert.session_id and s.session_id == alert.session_id]
        for session in mine or sessions:
            asyncio.create_task(session.announce(alert))

    def gate_stats(self) -> dict[str, dict[str, float]]:
        return fair.gate_stats(self.llm, self.stt, self.tts)

    async def aclose(self) -> None:
        for session in list(self._sessions):
            await session.close()
        if self.plugins is not None:
            await self.plugins.aclose()
        await self.assistant.aclose()
        await self.llm.aclose()
        self.memory.close()

