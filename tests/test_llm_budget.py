"""What of a long conversation reaches the LLM: bounded, and cut so the prompt's beginning stays the same
from turn to turn (llama.cpp reuses its cached prompt) until a whole block is dropped at once."""
from fixtures_llm import RecordingLLM

from penny.adapters.llm.budget import PromptBudget
from penny.memory.store import MemoryStore, Turn
from penny.memory.window import window_start
from penny.server.protocol import event_message
from penny.core.events import BackendFailed, BackendSwitched


def conversation(n: int, size: int = 100) -> list[dict]:
    msgs = [{"role": "system", "content": "You are Penny."}]
    for i in range(n):
        msgs += [{"role": "user", "content": f"q{i} " + "x" * size}, {"role": "assistant", "content": f"a{i} " + "y" * size}]
    return msgs + [{"role": "system", "content": "It is now noon."}, {"role": "user", "content": "next?"}]


def test_window_start_only_moves_when_the_budget_overflows():
    starts = [window_start([100] * n, 1000) for n in range(1, 40)]
    assert starts == sorted(starts)  # never goes back
    moves = sum(1 for a, b in zip(starts, starts[1:]) if a != b)
    assert 0 < moves <= 39 // 5  # a block at a time, not a turn at a time
    for n in range(1, 40):
        assert sum([100] * n) - 100 * starts[n - 1] <= 1000
    assert window_start([5000], 1000) == 1  # a single turn over the budget is left out


def test_memory_context_keeps_its_start_while_turns_are_added(tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    firsts = []
    for i in range(30):
        store.add_turn(Turn("s", f"t{i}", float(i), f"question {i} " + "x" * 80, f"answer {i} " + "y" * 80))
        ctx = store.context("s", 1000)
        assert sum(len(m["content"]) for m in ctx) <= 1000
        assert ctx[-2]["content"].startswith(f"question {i} ")
        firsts.append(ctx[0]["content"])
    assert len(set(firsts)) <= 30 // 3  # the first kept turn changes rarely


def test_prompt_budget_is_bounded_and_keeps_a_stable_prefix_per_conversation():
    budget = PromptBudget(n_ctx=2048, max_tokens=160, history_tokens=300)  # 900 characters of history
    prefixes = []
    for n in range(1, 40):
        for other in (n + 100,):  # another conversation in between must not move this one's cut
            budget.fit(conversation(other, 50))
        kept = budget.fit(conversation(n))
        assert kept[0]["content"] == "You are Penny." and kept[-1]["content"] == "next?"
        assert kept[-2]["content"] == "It is now noon."
        history = kept[1:-2]
        assert sum(len(m["content"]) for m in history) <= 900
        assert not history or history[0]["role"] == "user"
        prefixes.append(history[0]["content"] if history else "")
    changes = sum(1 for a, b in zip(prefixes, prefixes[1:]) if a != b)
    assert changes <= 39 // 3


def test_a_failure_notice_reaches_the_client_as_the_right_event():
    restarted = event_message(BackendFailed("embedded", "embedded", "disconnected mid-answer; restarted in 0.8 s"))
    assert restarted["type"] == "backend.switched" and restarted["restarted"] and restarted["from"] == "embedded"
    gone = event_message(BackendFailed("embedded", "", "disconnected mid-answer", recoverable=False))
    assert gone["type"] == "error" and gone["backend"] == "embedded" and gone["recoverable"] is False
    assert "embedded" in gone["message"] and "LM Studio" not in gone["message"]
    assert event_message(BackendSwitched("a", "b", "refused"))["restarted"] is False


async def test_the_primer_survives_a_history_cut():
    """The primer goes in after the cut: a dropped block never takes it along, so the cached prefix (system
    prompt + primer) is shared by every turn and every conversation."""
    from penny.adapters.llm.embedded import PRIMER, EmbeddedLLM
    from penny.core.events import TextDelta

    llm = EmbeddedLLM(history_tokens=300)
    seen = []

    async def start():
        pass

    async def source(messages, partial, tools, kw):
        seen.append(messages)
        yield TextDelta("ok")

    llm.start, llm._source, llm._check_memory = start, source, lambda: None
    for n in (1, 40):
        assert [e async for e in llm.stream(conversation(n))]
    short, long = seen
    for kept in seen:
        assert kept[0]["content"] == "You are Penny." and kept[1:1 + len(PRIMER)] == PRIMER
        assert kept[-1]["content"] == "next?"
    assert len(long) < 2 * 40 + 3 + len(PRIMER)  # history was cut


def test_history_with_time_notes_is_cut_before_a_note_and_only_grows_at_its_end(tmp_path):
    from penny.core.assistant import time_note

    store = MemoryStore(tmp_path / "m.db")
    budget = PromptBudget(n_ctx=2048, max_tokens=160, history_tokens=300)
    previous, regrown = None, 0
    for i in range(40):
        history = store.context("s", 10_000, note=time_note)
        prompt = budget.fit([{"role": "system", "content": "You are Penny."}, *history,
                             time_note(1_800_000_000.0 + 60 * i), {"role": "user", "content": f"question {i}"}])
        kept = prompt[1:-2]
        assert not kept or (kept[0]["role"] == "system" and kept[0]["content"].startswith("It is now"))
        if previous is not None and prompt[:len(previous)] == previous:
            regrown += 1  # last turn's prompt + its answer is a prefix: only the new turn is read
        previous = prompt + [{"role": "assistant", "content": f"answer {i} " + "y" * 60}]
        store.add_turn(Turn("s", f"t{i}", 1_800_000_000.0 + 60 * i, f"question {i}", f"answer {i} " + "y" * 60))
    assert regrown >= 39 * 2 // 3  # all but the turns that drop a block of history


class CachingLLM(RecordingLLM):
    """A local model with a prompt cache (as the embedded one): every prompt it was sent."""

    caches_prompt = True


async def _ask(assistant, text: str) -> None:
    async for _ in assistant.reply("s", text):
        pass


async def test_the_next_prompt_is_read_ahead_when_the_user_starts_talking_by_a_local_model_only(tmp_path):
    """The history window moved on: the model re-reads it while the user talks, not after their question."""
    import asyncio

    from fixtures_skills import make_config

    from penny.core.assistant import Assistant

    cfg = make_config()
    cfg.memory.max_history_chars = 400
    llm = CachingLLM()
    a = Assistant(cfg, llm, None, MemoryStore(tmp_path / "m.db"))
    for i in range(6):
        a.prepare("s")  # speech started (core/pipeline.py)
        a.prepare("s")  # and again, within the same utterance: the same prompt is not read twice
        await asyncio.gather(*a._reading)
        await _ask(a, f"question {i} " + "x" * 80)
    # A new conversation has nothing to read ahead (its system prompt is cached since start-up).
    asked, ahead = llm.calls[:1] + llm.calls[2::2], llm.calls[1::2]
    assert len(asked) == 6 and len(ahead) == 5
    for early, sent in zip(ahead, asked[1:]):  # each turn's prompt up to its question was read before it came
        assert early[:-2] == sent[:-2] and early[-1] == {"role": "user", "content": "Hello."}
    firsts = [next((m["content"] for m in sent if m["role"] == "user"), "") for sent in asked]
    assert firsts[-1] != firsts[1] == firsts[2]  # the window moved on once (a block of history was dropped)
    await a.aclose()

    cloud = RecordingLLM()  # no prompt cache (a cloud API): nothing extra is sent
    b = Assistant(cfg, cloud, None, MemoryStore(tmp_path / "n.db"))
    b.prepare("s")
    await _ask(b, "question")
    assert len(cloud.calls) == 1 and not b._reading
