"""Fault tests against real local HTTP servers the tests start: each failure is typed, and the chain
moves on (continuing a half-spoken answer) with a circuit-breaker cool-down."""
import asyncio
import time
from contextlib import aclosing

import pytest

from fixtures_llm import StubChild, kill
from penny.adapters.llm.fallback import FallbackLLM
from penny.adapters.llm.openai_compat import BackendError, OpenAICompatLLM, OverlapFilter, ThinkFilter
from penny.core.events import BackendSwitched, TextDelta, ToolCall
from penny.errors import LLMUnavailable

Q = [{"role": "user", "content": "Tell me something."}]


def llm(url, name="fake", **kw):
    kw.setdefault("timeout_s", 5)
    return OpenAICompatLLM(name, url, "fake-model", **kw)


async def collect(stream):
    return [e async for e in stream]


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def failure_kind(backend) -> str:
    try:
        with pytest.raises(BackendError) as err:
            await collect(backend.stream(Q))
        return err.value.kind
    finally:
        await backend.aclose()


async def test_connection_refused(refused_url):
    assert await failure_kind(llm(refused_url)) == "refused"


async def test_http_500(fake_llm_server):
    assert await failure_kind(llm(fake_llm_server("http500").base_url)) == "http-500"


async def test_never_answers_times_out_at_the_configured_limit(fake_llm_server):
    server = fake_llm_server("hang")
    backend = llm(server.base_url, timeout_s=0.5)
    t0 = time.monotonic()
    assert await asyncio.wait_for(failure_kind(backend), 30) == "timeout"
    assert time.monotonic() - t0 >= 0.5  # not before the limit (no upper bound: machines are slow)
    assert server.requests  # it connected; the timeout fired, not a refusal


async def test_first_token_timeout_is_separate(fake_llm_server):
    backend = llm(fake_llm_server("hang").base_url, timeout_s=30, first_token_timeout_s=0.3)
    assert await asyncio.wait_for(failure_kind(backend), 20) == "timeout"


async def test_malformed_sse(fake_llm_server):
    assert await failure_kind(llm(fake_llm_server("malformed", "one two three").base_url)) == "malformed"


async def test_connection_reset_mid_stream(fake_llm_server):
    assert await failure_kind(llm(fake_llm_server("drop", "one two three four").base_url)) == "disconnected"


async def test_stream_without_finish_is_not_a_clean_end(fake_llm_server):
    assert await failure_kind(llm(fake_llm_server("truncated", "one two").base_url)) == "malformed"


async def test_tool_call_fragments_are_assembled(fake_llm_server):
    server = fake_llm_server("ok", "Let me check.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    backend = llm(server.base_url)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    events = await collect(backend.stream(Q, tools))
    await backend.aclose()
    assert text_of(events) == "Let me check."
    assert events[-1] == ToolCall(id="call_0", name="get_weather", arguments='{"city": "Paris"}')
    assert server.chat_requests[0]["tools"] == tools


async def test_tools_not_sent_to_backends_without_support(fake_llm_server):
    server = fake_llm_server("ok", "Hi.")
    backend = llm(server.base_url, supports_tools=False)
    await collect(backend.stream(Q, [{"type": "function", "function": {"name": "x"}}]))
    await backend.aclose()
    assert "tools" not in server.chat_requests[0]


async def test_a_server_rejecting_tools_is_asked_again_without_them(fake_llm_server):
    server = fake_llm_server("notools", "Plain answer.")
    backend = llm(server.base_url)
    tools = [{"type": "function", "function": {"name": "x", "parameters": {"type": "object"}}}]
    assert text_of(await collect(backend.stream(Q, tools))) == "Plain answer."
    assert not backend.supports_tools  # remembered: the next turn goes without tools at once
    await collect(backend.stream(Q, tools))
    await backend.aclose()
    assert ["tools" in r for r in server.chat_requests] == [True, False, False]


async def test_model_defaults_to_the_first_listed(fake_llm_server):
    server = fake_llm_server("ok", "Hi.", models=("m1", "m2"))
    backend = OpenAICompatLLM("fake", server.base_url)
    await collect(backend.stream(Q))
    await backend.aclose()
    assert backend.model == "m1" and server.chat_requests[0]["model"] == "m1"


async def test_chain_skips_failed_backends_and_cools_them_down(refused_url, fake_llm_server):
    bad500 = fake_llm_server("http500")
    good = fake_llm_server("ok", "From the good one.")
    chain = FallbackLLM([llm(refused_url, "down"), llm(bad500.base_url, "broken"), llm(good.base_url, "good")],
                        cooldown_s=60)
    try:
        assert text_of(await collect(chain.stream(Q))) == "From the good one."
        assert chain.active.name == "good" and chain.last_first_token_s is not None
        assert chain.cooling("down") > 0 and chain.cooling("broken") > 0
        await collect(chain.stream(Q))  # second turn: the broken server is not asked again
        assert len(bad500.chat_requests) == 1 and len(good.chat_requests) == 2
    finally:
        await chain.aclose()


async def test_every_backend_down_raises_a_spoken_error(refused_url, fake_llm_server):
    chain = FallbackLLM([llm(refused_url, "lmstudio"), llm(fake_llm_server("http500").base_url, "ollama")],
                        spoken="I can't reach my language model right now — is LM Studio running?")
    with pytest.raises(LLMUnavailable) as err:
        await collect(chain.stream(Q))
    await chain.aclose()
    assert err.value.spoken == "I can't reach my language model right now — is LM Studio running?"
    assert "lmstudio" in err.value.message and "ollama" in err.value.message


async def test_killed_mid_stream_the_chain_continues_the_answer(fake_llm_process, fake_llm_server):
    proc, url = fake_llm_process("ok", "The capital of France is a city on the river Seine and it is Paris.",
                                 delay=0.2)
    rest = fake_llm_server("ok", "and it is Paris.")
    chain = FallbackLLM([llm(url, "first"), llm(rest.base_url, "second")])
    events, said = [], ""
    try:
        async for ev in chain.stream(Q):
            events.append(ev)
            if isinstance(ev, TextDelta):
                said += ev.text
                if said.count(" ") == 3 and proc.poll() is None:
                    kill(proc)  # SIGKILL the server while it is still answering
    finally:
        await chain.aclose()
    switched = [e for e in events if isinstance(e, BackendSwitched)]
    assert len(switched) == 1 and (switched[0].frm, switched[0].to) == ("first", "second")
    assert said.startswith("The capital of ") and said.endswith("and it is Paris.")
    continued = rest.chat_requests[0]["messages"]
    assert continued[-2]["role"] == "assistant" and continued[-2]["content"].startswith("The capital of")
    assert "Continue" in continued[-1]["content"]
    assert chain.active.name == "second"


async def test_runtime_model_switching(fake_llm_server):
    a = fake_llm_server("ok", "A.", models=("alpha",))
    b = fake_llm_server("ok", "B.", models=("beta", "gamma"))
    chain = FallbackLLM([llm(a.base_url, "a"), llm(b.base_url, "b")])
    try:
        assert await chain.list_models() == {"a": ["alpha"], "b": ["beta", "gamma"]}
        chain.set_model("gamma")
        assert (chain.active.name, chain.model) == ("b", "gamma")
        assert text_of(await collect(chain.stream(Q))) == "B."
        assert b.chat_requests[-1]["model"] == "gamma"
        chain.set_model("alpha", backend="a")
        assert text_of(await collect(chain.stream(Q))) == "A."
        with pytest.raises(Exception):
            chain.set_model("nonexistent")
    finally:
        await chain.aclose()


def test_overlap_filter_drops_a_restarted_answer():
    f = OverlapFilter("The capital is")
    assert [f.feed(t) for t in ("The", " capital", " is", " Paris.")] == ["", "", "", " Paris."]
    g = OverlapFilter("The capital is")
    assert [g.feed(t) for t in (" Paris", ".")] == [" Paris", "."]
    h = OverlapFilter("The capital is")  # begins like the answer: held until it says something new
    assert [h.feed(t) for t in ("The", " city")] == ["", ""] and h.flush() == " The city"


def test_overlap_filter_drops_a_retold_story_and_never_glues_words():
    said = "Once upon a time there was a robot named Bolt. Bolt lived in a lab and every"
    f = OverlapFilter(said)
    retold = ["Once", " upon", " a", " time,", " there", " lived", " a", " robot", " named", " Bolt.",
              " Bolt", " lived", " in", " a", " lab.", " One", " day", " he", " met", " a", " cat."]
    out = "".join(f.feed(t) for t in retold) + f.flush()
    assert out == " One day he met a cat."  # the restated sentences are gone, a space at the seam
    g = OverlapFilter(said)
    assert g.feed("day he met a cat.") + g.flush() == " day he met a cat."  # no "everyday" glue
    tail = OverlapFilter("It is a city on the river Seine")
    assert tail.feed("river Seine and it is Paris.") == " and it is Paris."
    assert OverlapFilter("Hello.").feed(", and more") == ", and more"


async def test_closing_the_stream_is_a_barge_in_not_a_failure(fake_llm_server):
    slow = fake_llm_server("ok", " ".join(["word"] * 50), delay=0.1)
    spare = fake_llm_server("ok", "Spare.")
    chain = FallbackLLM([llm(slow.base_url, "slow"), llm(spare.base_url, "spare")])
    try:
        async with aclosing(chain.stream(Q)) as events:
            async for ev in events:
                assert ev == TextDelta("word ")
                break  # the user spoke: stop listening to the model
        assert chain.cooling("slow") == 0 and not spare.chat_requests
    finally:
        await chain.aclose()


async def test_start_cools_unreachable_servers_and_starts_children_only_when_needed(refused_url, fake_llm_server):
    child = StubChild()
    chain = FallbackLLM([llm(refused_url, "down"), child])
    await chain.start()
    assert chain.cooling("down") > 0 and child.starts == 1  # nothing before it answers: start it now
    up = FallbackLLM([llm(fake_llm_server("ok", "Hi.", models=("fake-model",)).base_url, "up"), child])
    await up.start()
    assert child.starts == 1  # behind a reachable server it waits for first use...
    await up.start(standby=True)
    assert child.starts == 2  # ...unless asked to stand by
    await chain.aclose()
    await up.aclose()


def test_think_filter_hides_reasoning_even_when_tags_are_split():
    f = ThinkFilter()
    pieces = ["<thi", "nk>The user asks", " about France.</th", "ink>\n\nParis", " is the capital. 2 <", " 3."]
    assert "".join(f.feed(p) for p in pieces) + f.flush() == "Paris is the capital. 2 < 3."
    g = ThinkFilter()
    assert g.feed(" Paris") + g.feed(".") == " Paris."  # a continuation keeps its leading space


async def test_reasoning_is_not_spoken(fake_llm_server):
    backend = llm(fake_llm_server("ok", "<think> hmm, France... </think> Paris is the capital.").base_url)
    assert text_of(await collect(backend.stream(Q))) == "Paris is the capital."
    await backend.aclose()
