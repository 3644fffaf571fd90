"""The assistant with a scripted LLM: memory, commands, apologies, interruption."""
import asyncio

import pytest

from penny.config import PennyConfig
from penny.core.assistant import Assistant
from penny.core.events import ReplyDelta, ReplyDone, TextDelta
from penny.errors import LLMUnavailable
from penny.memory.store import MemoryStore
from fixtures_llm import LLMStub


class ScriptedLLM(LLMStub):
    name, model, supports_tools = "scripted", "script-1", False

    def __init__(self, words=("Paris ", "is ", "the ", "capital."), fail=False, delay=0.0):
        self.words, self.fail, self.delay, self.seen = words, fail, delay, []

    async def stream(self, messages, tools=None):
        self.seen.append(messages)
        if self.fail:
            raise LLMUnavailable("all down", spoken="I can't reach my language model right now.")
        for w in self.words:
            await asyncio.sleep(self.delay)
            yield TextDelta(w)


async def collect(agen):
    return [ev async for ev in agen]


@pytest.fixture
def store(tmp_path):
    return MemoryStore(tmp_path / "m.db")


async def test_reply_streams_and_is_remembered(store, monkeypatch):
    now = [1_800_000_000.0]
    monkeypatch.setattr("penny.core.assistant.time.time", lambda: now[0])
    llm = ScriptedLLM()
    a = Assistant(PennyConfig(), llm, None, store)
    events = await collect(a.reply("s", "What is the capital of France?"))
    assert "".join(e.text for e in events if isinstance(e, ReplyDelta)) == "Paris is the capital."
    assert isinstance(events[-1], ReplyDone)
    now[0] += 600
    await collect(a.reply("s", "And of Italy?"))
    first, history = llm.seen
    assert history[0]["role"] == "system" and "Penny" in history[0]["content"]
    assert history[1]["content"].startswith("It is now") and history[2]["content"] == "What is the capital of France?"
    assert history[-2]["content"].startswith("It is now") and history[-2] != history[1]  # ten minutes later
    assert history[-1]["content"] == "And of Italy?"
    # The second prompt only grows at the end of the first (plus its answer): a server's cache stays valid.
    assert history[:len(first)] == first and history[len(first)]["content"] == "Paris is the capital."
    assert [t.user_text for t in store.turns("s")] == ["What is the capital of France?", "And of Italy?"]


async def test_start_over_clears_context(store):
    llm = ScriptedLLM()
    a = Assistant(PennyConfig(), llm, None, store)
    await collect(a.reply("s", "hello"))
    events = await collect(a.reply("s", "Let's start over."))
    assert "start over" in events[-1].text.lower()
    await collect(a.reply("s", "hi again"))
    assert [m["role"] for m in llm.seen[-1]] == ["system", "system", "user"]  # no earlier turns


async def test_unreachable_llm_gives_spoken_apology(store):
    a = Assistant(PennyConfig(), ScriptedLLM(fail=True), None, store)
    events = await collect(a.reply("s", "anything"))
    assert "can't reach my language model" in events[-1].text


async def test_interrupted_reply_is_kept_and_marked(store):
    a = Assistant(PennyConfig(), ScriptedLLM(words=("One. ",) * 50, delay=0.01), None, store)
    got = []

    async def consume():
        async for ev in a.reply("s", "count"):
            got.append(ev)

    task = asyncio.create_task(consume())
    while len(got) < 3:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [t] = store.turns("s")
    assert t.interrupted and t.reply_text.startswith("One.") and len(t.reply_text) < 50 * 5
