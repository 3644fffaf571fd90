"""Faults in the voice loop: the LLM dies mid-answer, the process dies mid-turn."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from fixtures_llm import kill
from penny.adapters.llm.factory import build_llm
from penny.adapters.tts.factory import build_tts
from penny.config import PennyConfig
from penny.app.engines import Engines
from penny.core.events import BackendSwitched, ReplyAudio, ReplyDelta, ReplyDone
from penny.memory.store import MemoryStore

pytestmark = pytest.mark.slow

STORY = ("Once upon a time, a small robot lived by the sea, and every morning, it counted the waves that "
         "rolled onto the sand, while the gulls laughed overhead")


def config(tmp_path, url: str) -> PennyConfig:
    return PennyConfig.model_validate({
        "llm": {"provider": "llamacpp", "base_url": url, "model": "fake-model", "mode": "local_first"},
        "memory": {"path": str(tmp_path / "m.db")},
        "tts": {"cache": {"dir": str(tmp_path / "tts")}},
        "wake": {"mode": "always_listening"},
    })


async def test_llm_killed_mid_answer_the_next_backend_continues_and_penny_keeps_talking(
        tmp_path, fake_llm_process):
    proc, url = fake_llm_process("ok", STORY, delay=0.15)
    cfg = config(tmp_path, url)
    engines = Engines(cfg, llm=build_llm(cfg), stt=None, tts=build_tts(cfg), plugins=None,
                      memory=MemoryStore(cfg.memory.path))
    session = engines.new_session()
    events = []
    try:
        await session.ask("Tell me a story about a robot.")
        async for ev in session.events():
            events.append(ev)
            if isinstance(ev, ReplyDelta) and len([e for e in events if isinstance(e, ReplyDelta)]) == 3:
                kill(proc)  # SIGKILL the backend in the middle of its answer
            if isinstance(ev, ReplyDone):
                break
    finally:
        await session.close()
        await engines.aclose()
    done = events[-1]
    assert isinstance(done, ReplyDone) and not done.interrupted
    switched = [e for e in events if isinstance(e, BackendSwitched)]
    assert switched and switched[0].to == "embedded"
    assert done.text.startswith("Once upon a")  # the three words said before the kill stay
    assert len(done.text) > len("Once upon a ") + 10  # and the embedded model carried on
    after_switch = events[events.index(switched[0]):]
    assert any(isinstance(e, ReplyAudio) for e in after_switch), "silence after the backend died"
    [turn] = MemoryStore(cfg.memory.path).turns(session.session_id)
    assert not turn.interrupted and turn.backend.startswith("embedded")


def test_a_crash_mid_turn_loses_no_completed_turn(tmp_path, fake_llm_process):
    _, url = fake_llm_process("ok", STORY, delay=0.05)
    db = tmp_path / "m.db"
    script = textwrap.dedent(f"""
        import asyncio, os
        from penny.adapters.llm.factory import build_llm
        from penny.config import PennyConfig
        from penny.core.assistant import Assistant
        from penny.memory.store import MemoryStore

        cfg = PennyConfig.model_validate({{"llm": {{"provider": "llamacpp", "base_url": {url!r},
                                                   "model": "fake-model", "mode": "local_only"}}}})

        async def main():
            assistant = Assistant(cfg, build_llm(cfg), None, MemoryStore({str(db)!r}))
            for question in ("first question", "second question"):
                async for ev in assistant.reply("s", question):
                    pass
            async for ev in assistant.reply("s", "third question"):
                os.kill(os.getpid(), 9)  # the process dies while the third answer streams

        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    turns = MemoryStore(db).turns("s")
    assert [t.user_text for t in turns] == ["first question", "second question"]
    assert all(t.reply_text.startswith("Once upon a time") and not t.interrupted for t in turns)


class FailsOnce:
    """Wraps a real engine; its first call of `method` raises a plain RuntimeError (not a PennyError)."""

    def __init__(self, engine, method: str):
        self.engine, self.method, self.failed = engine, method, False

    def __getattr__(self, name):
        real = getattr(self.engine, name)
        if name != self.method or self.failed:
            return real
        self.failed = True

        def boom(*args, **kwargs):
            raise RuntimeError(f"injected fault in {self.method}")
        return boom


async def turn_events(session, say) -> list:
    """The events of one turn, up to its ReplyDone (a turn that never ends fails here, not by hanging)."""
    import asyncio

    events = []
    await say()
    async with asyncio.timeout(60):
        async for ev in session.events():
            events.append(ev)
            if isinstance(ev, ReplyDone):
                return events


@pytest.mark.parametrize("part, method", [("stt", "transcribe"), ("assistant", "reply"), ("tts", "synthesize")])
async def test_any_exception_in_a_turn_ends_it_with_an_error_an_apology_and_reply_done(
        tmp_path, piper_say, caplog, part, method):
    from fixtures_llm import RecordingLLM
    from fixtures_speech import load
    from penny.adapters.stt.factory import build_stt
    from penny.core.events import AudioChunk, ErrorEvent
    from penny.core.turn import APOLOGY

    cfg = PennyConfig.model_validate({"memory": {"path": str(tmp_path / "m.db")},
                                      "tts": {"cache": {"dir": str(tmp_path / "tts")}}})
    engines = Engines(cfg, llm=RecordingLLM(), stt=build_stt(cfg), tts=build_tts(cfg), plugins=None,
                      memory=MemoryStore(cfg.memory.path))
    setattr(engines, part, FailsOnce(getattr(engines, part), method))
    session = engines.new_session(mode="push_to_talk")
    audio = load(piper_say("What is the capital of France?"))

    async def speak():
        await session.push_to_talk(True)
        await session.feed(AudioChunk(audio, 16000))
        await session.push_to_talk(False)
    try:
        with caplog.at_level("ERROR", logger="penny.core"):
            failed = await turn_events(session, speak)
        assert [e.code for e in failed if isinstance(e, ErrorEvent)] == ["internal-error"]
        assert failed[-1].text == APOLOGY and any(isinstance(e, ReplyAudio) for e in failed)  # spoken
        assert f"injected fault in {method}" in caplog.text  # the real exception, with its traceback
        again = await turn_events(session, speak)  # the session keeps working
        assert not any(isinstance(e, ErrorEvent) for e in again)
        assert again[-1].text == "Paris is the capital." and any(isinstance(e, ReplyAudio) for e in again)
    finally:
        await session.close()
        await engines.aclose()
