"""The whole Penny process while non-addressed speech plays: a real VoiceSession in wake_word mode (real
VAD, wake engine, Whisper; an LLM that only counts its calls), fed at real-time pace. Its CPU share of one
core (process time, every thread, over the audio's duration) and what got past the wake gate."""
from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 16000


class CountingLLM:
    name, model, supports_tools = "count", "count", False

    def __init__(self):
        self.calls = 0

    async def stream(self, messages, tools=None):
        from penny.core.events import TextDelta

        self.calls += 1
        yield TextDelta("Okay.")

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def session_share(wake: dict, audio: np.ndarray, realtime: bool = True) -> dict:
    """`wake`: WakeConfig fields. Returns CPU share, transcripts, LLM calls, wake detections."""
    from penny.adapters.stt.factory import build_stt
    from penny.adapters.tts.factory import build_tts
    from penny.app.engines import Engines
    from penny.app.run_file import run_turns
    from penny.config import PennyConfig, WakeConfig
    from penny.core.events import Transcript, WakeDetected
    from penny.memory.store import MemoryStore

    cfg = PennyConfig(wake=WakeConfig(mode="wake_word", **wake))
    cfg = cfg.model_copy(update={"tts": cfg.tts.model_copy(update={"provider": "espeak", "fallbacks": []})})
    llm = CountingLLM()
    with tempfile.TemporaryDirectory() as tmp:
        engines = Engines(cfg, llm=llm, stt=build_stt(cfg), tts=build_tts(cfg, cache=False), plugins=None,
                          memory=MemoryStore(Path(tmp) / "m.db"))
        engines.stt.warmup()
        warm = engines.new_session(mode="wake_word")  # load the wake model outside the measured time
        await warm.close()
        events: list = []
        t0, w0 = time.process_time(), time.perf_counter()
        await run_turns(engines, audio, mode="wake_word", realtime=realtime, all_events=events)
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        await engines.aclose()
    seconds = len(audio) / SR
    return {"audio_s": round(seconds, 1), "wall_s": round(wall, 1), "cpu_s": round(cpu, 2),
            "cpu_share_of_one_core": round(cpu / seconds, 4),
            "transcripts": sum(1 for e in events if isinstance(e, Transcript) and e.text),
            "llm_calls": llm.calls, "wake_detections": sum(1 for e in events if isinstance(e, WakeDetected))}


def run_all(audio: np.ndarray, engines: dict[str, dict], realtime: bool = True) -> dict:
    return {name: asyncio.run(session_share(wake, audio, realtime)) for name, wake in engines.items()}
