"""A timer set by voice fires into the session that set it: shown (Alert) and spoken (reply audio). Another
open session (another tab, another room) does not hear it while that one is open (tests/test_wyoming_satellites.py
has the rest: after it closed, everyone does)."""
import asyncio

from penny.core.events import Alert, ReplyAudio, ReplyDone
from fixtures_llm import LLMStub
from fixtures_skills import alert_engines


class NoLLM(LLMStub):
    name, model, supports_tools = "none", "none", False

    async def stream(self, messages, tools=None):
        raise AssertionError("a skill request must not reach the LLM")
        yield


async def test_timer_alert_is_shown_and_spoken_in_a_live_session(tmp_path):
    engines, clock = alert_engines(tmp_path, NoLLM())
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
