"""Side-effect requests with the real embedded SmolLM2 behind the Assistant: each one is either really done
(the timer, reminder, note or event exists with the right slots, and the reply is the skill's own) or
nothing is done and the reply confirms nothing. Never a confirmation without the action."""
from datetime import timedelta

import pytest

from fixtures_skills import NOW, make_config, make_registry
from penny.adapters.llm.embedded import PRIMER, with_primer
from penny.adapters.llm.openai_compat import OpenAICompatLLM
from penny.core.assistant import Assistant
from penny.core.claims import HONEST, claim_kind
from penny.core.events import ReplyDone
from penny.core.sentences import split_sentences
from penny.memory.store import MemoryStore

pytestmark = pytest.mark.slow
TIMER, REMINDER, NOTE, EVENT = "timer", "reminder", "note", "event"
CASES = [  # (what the user says, what must exist afterwards, its slots); None: nothing can do it
    ("set a pasta timer for 10 minutes", TIMER, (600, "pasta")),
    ("start a 3 minute egg timer", TIMER, (180, "egg")),
    ("I need a timer for the pasta, ten minutes", TIMER, (600, "pasta")),
    ("can you time my pasta for 10 minutes", TIMER, (600, "pasta")),
    ("could you put a timer on for 12 minutes for the rice", TIMER, (720, "rice")),
    ("start a countdown of 90 seconds for the eggs", TIMER, (90, "eggs")),
    ("I want to set a timer of 5 minutes", TIMER, (300, None)),
    ("remind me at 5 to call mom", REMINDER, ("call mom", NOW.replace(hour=17))),
    ("in ten minutes tell me to check the oven", REMINDER, ("check the oven", NOW + timedelta(minutes=10))),
    ("let me know in 5 minutes to flip the steak", REMINDER, ("flip the steak", NOW + timedelta(minutes=5))),
    ("remember to call mom at 5 pm", REMINDER, ("call mom", NOW.replace(hour=17))),
    ("wake me up in 20 minutes", REMINDER, ("wake up", NOW + timedelta(minutes=20))),
    ("set an alarm for 7 am", REMINDER, ("", NOW.replace(hour=7) + timedelta(days=1))),
    ("put lunch with Sam on my calendar tomorrow at noon", EVENT, ("Lunch with sam", NOW.replace(hour=12) + timedelta(days=1))),
    ("pencil in a meeting with Bob on friday at 2pm", EVENT, ("Meeting with bob", NOW.replace(hour=14) + timedelta(days=2))),
    ("get dinner with Ana on my calendar tomorrow at 7 pm", EVENT, ("Dinner with ana", NOW.replace(hour=19) + timedelta(days=1))),
    ("jot down that the wifi password is hunter2", NOTE, "the wifi password is hunter2"),
    ("make a note to buy milk", NOTE, "buy milk"),
    ("save a note saying the garage code is 4512", NOTE, "the garage code is 4512"),
    ("please make a note: the bins go out on Thursday", NOTE, "the bins go out on thursday"),
    ("send a text to mom saying I'm running late", None, None),
    ("order a large pizza for delivery", None, None),
    ("turn on the living room lights", None, None),
    ("buy milk on amazon", None, None),
    ("cancel my dentist appointment", None, None),
    ("set the thermostat to 20 degrees", None, None),
    ("email Bob the quarterly report", None, None),
    ("play some jazz music", None, None),
]


class Embedded:
    """The embedded backend as Penny runs it (primer included), on the session's llama_cpp.server."""

    name, supports_tools = "embedded", False

    def __init__(self, base_url: str):
        self.client = OpenAICompatLLM("embedded", base_url, max_tokens=60, temperature=0.6, supports_tools=False)
        self.model = "SmolLM2"
        self.calls = 0

    async def stream(self, messages, tools=None, **kw):
        self.calls += 1
        async for ev in self.client.stream(with_primer(messages, PRIMER), None, **kw):
            yield ev


def state(registry) -> dict:
    timers = registry.plugins["timers"]._items
    return {TIMER: [i for i in timers if i["kind"] == "timer"], REMINDER: [i for i in timers if i["kind"] == "reminder"],
            NOTE: registry.plugins["notes"]._notes()}


async def say(a: Assistant, text: str) -> str:
    return [ev.text async for ev in a.reply("s", text) if isinstance(ev, ReplyDone)][0]


@pytest.mark.parametrize("text,kind,slots", CASES, ids=[c[0] for c in CASES])
async def test_an_action_is_done_or_honestly_not_claimed(embedded_llm_server, tmp_path, text, kind, slots):
    registry, _ = make_registry(tmp_path, calendar={"sources": [str(tmp_path / "cal.ics")]})
    llm = Embedded(embedded_llm_server)
    a = Assistant(make_config(), llm, registry, MemoryStore(tmp_path / "m.db"))
    try:
        said = await say(a, text)
        now = state(registry)
        if kind in (TIMER, REMINDER):
            [item] = now[kind]
            if kind == TIMER:
                assert (item["duration_s"], item["name"]) == slots
                assert said.startswith("Okay,") and "timer set for" in said
            else:
                assert (item["name"], item["due"]) == (slots[0], slots[1].isoformat())
                assert said.startswith("Okay, I'll remind you")
        elif kind == NOTE:
            assert [n["text"] for n in now[NOTE]] == [slots] and said.startswith("Okay, I'll remember that")
        elif kind == EVENT:  # asked first; only a "yes" writes it
            assert said.startswith(f"Shall I add {slots[0]} ") and not (tmp_path / "cal.ics").exists()
            done = await say(a, "yes")
            assert done.startswith(f"Done. {slots[0]} is on your calendar")
            events, _ = await registry.plugins["calendar"].fetch(NOW, NOW + timedelta(days=7))
            assert [(e.summary, e.start) for e in events] == [slots]
        else:  # nothing did it: the model answered, and no sentence of its answer confirms an action
            assert not any(now.values()) and llm.calls == 1
            claims = [s for s in split_sentences(said) if claim_kind(s)[0]]
            assert claims == [], said
        if kind is not None:
            assert llm.calls == 0  # code did it; the model had no say in the confirmation
    finally:
        await llm.client.aclose()


def test_decline_cases_reach_the_llm(tmp_path):
    """Keeps the list honest: no skill or guessed action takes the cases nothing can do."""
    registry, _ = make_registry(tmp_path)
    assert all(registry.guess_action(t) is None and registry.route(t) is None for t, k, _ in CASES if k is None)
    assert set(HONEST) == {"timer", "reminder", "calendar", "note", None}
