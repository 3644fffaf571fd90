"""The embedded model's child killed (SIGKILL) mid-answer, for real: the client is told, the child is
restarted, the answer goes on from where it stopped (no glued words, no story told twice), and when no
restart is possible the message names the backend that failed (never LM Studio, which was not in use)."""
import os
import re
import signal

import pytest

from penny.adapters.llm import child
from penny.adapters.llm.continuing import sentences
from penny.adapters.llm.embedded import EmbeddedLLM
from penny.adapters.llm.fallback import FallbackLLM
from penny.adapters.llm.openai_compat import OpenAICompatLLM
from penny.core.events import BackendFailed, BackendSwitched, TextDelta
from penny.errors import LLMUnavailable

pytestmark = pytest.mark.slow
STORY = [{"role": "system", "content": "You are a storyteller. Tell long stories in plain sentences."},
         {"role": "user", "content": "Tell me a story about a little robot named Bolt who lives in a lab."}]
LM_STUDIO = "I can't reach my language model right now — is LM Studio running?"


def chain_with(refused_url, **kw):
    embedded = EmbeddedLLM(n_ctx=1024, n_threads=2, max_tokens=110, temperature=0.0, **kw)
    # LM Studio is configured but down: cooled at start-up, so the embedded model answers
    return embedded, FallbackLLM([OpenAICompatLLM("lmstudio", refused_url, "m"), embedded], spoken=LM_STUDIO)


async def run_and_kill(chain, embedded, after_words: int = 14):
    events, said, before = [], "", None
    async for ev in chain.stream(STORY):
        events.append(ev)
        if isinstance(ev, TextDelta):
            said += ev.text
            if before is None and len(said.split()) >= after_words:
                before = said
                os.killpg(embedded.server.proc.pid, signal.SIGKILL)
    return events, said, before


@pytest.mark.parametrize("after_words", [5, 14, 30])
async def test_killed_mid_answer_it_restarts_tells_the_client_and_goes_on_from_where_it_stopped(refused_url,
                                                                                            after_words):
    embedded, chain = chain_with(refused_url)
    try:
        await chain.start()
        assert chain.cooling("lmstudio") > 0
        first_pid = embedded.server.proc.pid
        events, said, before = await run_and_kill(chain, embedded, after_words)
    finally:
        await chain.aclose()
    assert before is not None, f"the answer ended before the kill: {said!r}"
    notices = [e for e in events if isinstance(e, BackendSwitched)]
    assert len(notices) == 1 and isinstance(notices[0], BackendFailed) and notices[0].recoverable
    assert (notices[0].frm, notices[0].to) == ("embedded", "embedded") and "restarted" in notices[0].reason
    assert embedded.restarts and embedded.restarts[-1]["why"].endswith("mid-answer")
    print(f"restart took {embedded.restarts[-1]['s']:.2f} s; seam: {before[-30:]!r} | {said[len(before):][:40]!r}")
    assert said.startswith(before) and len(said) > len(before) + 5  # it went on after the crash
    seam = said[max(0, len(before) - 2):len(before) + 2]
    assert not re.search(r"[a-z.,!?;:][A-Z]", seam), f"glued words at the seam: {seam!r}"
    first = sentences(said)[0].strip()
    assert said.count(first) == 1, f"the answer started over: {said!r}"
    assert embedded.server is None or embedded.pid != first_pid


async def test_when_no_restart_is_possible_the_failure_names_the_embedded_model(refused_url, monkeypatch):
    embedded, chain = chain_with(refused_url)
    try:
        await chain.start()

        async def cannot_start(self):
            raise LLMUnavailable("The embedded model server did not start (test).",
                                 spoken="My built-in language model didn't start.")

        monkeypatch.setattr(child.EmbeddedServer, "astart", cannot_start)
        events = []
        with pytest.raises(LLMUnavailable) as err:
            async for ev in chain.stream(STORY):
                events.append(ev)
                if isinstance(ev, TextDelta) and len(events) == 8:
                    os.killpg(embedded.server.proc.pid, signal.SIGKILL)
    finally:
        await chain.aclose()
    failed = [e for e in events if isinstance(e, BackendFailed)]
    assert failed and failed[-1].frm == "embedded" and not failed[-1].recoverable
    assert "LM Studio" not in err.value.spoken and "built-in" in err.value.spoken
    assert "embedded" in err.value.message
