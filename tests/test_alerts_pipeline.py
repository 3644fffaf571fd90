"""A timer set by voice fires into the session that set it: shown (Alert) and spoken (reply audio). Another
open session (another tab, another room) does not hear it while that one is open (tests/test_wyoming_satellites.py
has the rest: after it closed, everyone does)."""
import asyncio
from datetime import datetime, timezone

from penny.adapters.tts.factory import build_tts
from penny.config import PennyConfig
from penny.app.engines import Engines
from penny.core.events import Alert, ReplyAudio, ReplyDone
from penny.memory.store import MemoryStore
from penny.plugins.base import ManualClock
from penny.plugins.loading import build_plugins
from fixtures_llm import LLMStub


class NoLLM(LLMStub):
    name, model, supports_tools = "none", "none", False

    async def stream(self, messages, tools=None):
        raise AssertionError("a skill request must not reach the LLM")
        yield


async def test_timer_alert_is_shown_and_spoken_in_a_live_session(tmp_path):
    cfg = PennyConfig.model_validate({"tts": {"provider": "espeak", "fallbacks": []},
                                      "wake": {"mode": "always_listening"}})
    clock = ManualClock(datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc))
    plugins = build_plugins(cfg, clock=clock, data_dir=tmp_path)
    engines = Engines(cfg, llm=NoLLM(), stt=None, tts=build_tts(cfg, cache=False), plugins=plugins,
                      memory=MemoryStore(tmp_path / "m.db"))
    plugins.start()
    session = engines.new_session()
    other = engines.new_session()  # a second listener (another room) is not told
    heard_elsewhere = []

    async def listen_elsewhere():
        async for ev in other.events():
            heard_elsewhere.append(ev)

    elsewhere = asyncio.create_task(listen_elsewhere())
    try:
        await session.ask("set a timer for two minutes")
        async for ev in session.events():
            if isinstance(ev, ReplyDone):
                assert "timer" in ev.text.lower()
                break
        await session.wait_idle()
        await clock.advance(minutes=2, seconds=1)
        got = []
        async for ev in session.events():
            got.append(ev)
            if isinstance(ev, ReplyAudio) and ev.turn_id.startswith("alert-"):
                break
        alerts = [e for e in got if isinstance(e, Alert)]
        assert alerts and alerts[0].kind == "timer" and alerts[0].session_id == session.session_id
        await asyncio.sleep(0.2)
        assert not any(isinstance(e, Alert) for e in heard_elsewhere)
    finally:
        elsewhere.cancel()
        await asyncio.wait_for(engines.aclose(), 10)
