"""The claims guard (core/claims.py): an LLM never confirms an action no code performed in that turn.
Scripted LLMs claim falsely; the reply must say honestly that nothing was done, before anything is spoken."""
import pytest

from fixtures_llm import RecordingLLM
from fixtures_skills import make_config, make_registry
from penny.core.assistant import Assistant
from penny.core.claims import HONEST, ClaimGuard, Ledger, claim_kind
from penny.core.events import ReplyDelta, ReplyDone, TextDelta, ToolCall
from penny.core.sentences import SentenceSplitter
from penny.memory.store import MemoryStore
from penny.plugins.base import SkillResult

FALSE_CLAIMS = [
    ("The pasta timer is set for 10 minutes.", "timer"),
    ("Sure! I've set a timer for 10 minutes.", "timer"),
    ("Your pasta timer has been set.", "timer"),
    ("Timer set for 10 minutes.", "timer"),
    ("Okay, setting a timer now.", "timer"),
    ("Your timer will go off in 10 minutes.", "timer"),
    ("I'll remind you at 5 to call mom.", "reminder"),
    ("Okay, I will remind you tomorrow.", "reminder"),
    ("I've added lunch with Sam to your calendar.", "calendar"),
    ("Your meeting with Sam is scheduled for noon tomorrow.", "calendar"),
    ("Got it, I'll remember that the wifi password is hunter2.", "note"),
    ("I have noted that.", "note"),
    ("I’ve made a note of it.", "note"),
    ("Done!", None),
    ("All set.", None),
    ("Let me set that up for you.", None),
    ("The setting of the thermostat is set to 20 degrees Celsius.", None),  # SmolLM2's own words
    ("The living room lights are currently on.", None),
    ("No, no. I'm playing a CD of Lady in Black.", None),
]
ORDINARY = ["The capital of France is Paris.", "The sun has set.", "I made a mistake.", "I can't set timers.",
            "No timer has been set.", "I'm sorry, but I can't make a note.", "I think so.", "It is set in Paris.",
            "I'm not able to set alarms.", "Pasta takes about ten minutes to cook.",
            "A timer is a device that counts down.", "You can say: set a timer for ten minutes."]


@pytest.mark.parametrize("sentence,kind", FALSE_CLAIMS)
def test_claims_are_recognised_with_their_skill(sentence, kind):
    assert claim_kind(sentence) == (True, kind)


@pytest.mark.parametrize("sentence", ORDINARY)
def test_ordinary_sentences_claim_nothing(sentence):
    assert claim_kind(sentence)[0] is False


def _stream(guard: ClaimGuard, text: str) -> list[str]:
    """What the guard lets out after each token (the words of `text`)."""
    return [guard.feed(w + " ") for w in text.split(" ")] + [guard.flush()]


def test_a_clause_without_a_claim_passes_as_soon_as_it_ends():
    guard = ClaimGuard(Ledger())
    out = _stream(guard, "Paris is the capital, and it is lovely. Enjoy!")
    assert out[:3] == ["", "", ""] and out[3] == "Paris is the capital, "  # at the comma, not at the end
    assert "".join(out) == "Paris is the capital, and it is lovely. Enjoy! "


def test_a_false_claim_is_replaced_before_the_splitter_sees_it():
    guard, splitter, spoken = ClaimGuard(Ledger()), SentenceSplitter(), []
    for piece in _stream(guard, "Sure thing. The pasta timer is set for 10 minutes, enjoy. I've also added it "
                                "to your calendar! Bye."):
        spoken += splitter.feed(piece)
    spoken += splitter.flush()
    text = " ".join(spoken)
    assert "is set" not in text and "added" not in text
    assert "I haven't set a timer." in text and text.count("I haven't") == 1  # said once, the second claim dropped
    assert text.startswith("Sure thing.") and text.endswith("Bye.")


def test_a_claim_split_over_clauses_is_still_caught():
    out = "".join(_stream(ClaimGuard(Ledger()), "Your pasta timer, for ten minutes, is set. Enjoy."))
    assert "is set" not in out and HONEST["timer"] in out


def test_a_claim_backed_by_what_ran_passes():
    done = Ledger()
    done.record("timers", "set_timer", SkillResult("Okay, timer set for ten minutes.", {"timer": {"id": "x"}}))
    assert "".join(_stream(ClaimGuard(done), "Your timer is set.")).strip() == "Your timer is set."
    # a timer does not back a calendar claim, a failed or unconfirmed call backs nothing
    assert HONEST["calendar"] in "".join(_stream(ClaimGuard(done), "I added it to your calendar."))
    failed = Ledger()
    failed.record("timers", "set_timer", SkillResult("Sorry, how long should the timer be?", {"error": "bad-duration"}))
    failed.record("calendar", "add_calendar_event", SkillResult("Shall I add it?", {"action": {}}, needs_confirmation=True))
    assert HONEST["timer"] in "".join(_stream(ClaimGuard(failed), "The timer is set."))
    assert HONEST["calendar"] in "".join(_stream(ClaimGuard(failed), "It is on your calendar now, I've added it."))


class ClaimingLLM(RecordingLLM):
    """A scripted LLM: says `text` word by word (and may ask for tools first when `calls` are given)."""

    def __init__(self, text: str, calls: list[ToolCall] = (), tools: bool = False):
        super().__init__()
        self.text, self.calls_first, self.supports_tools = text, list(calls), tools

    async def stream(self, messages, tools=None):
        self.calls.append(messages)
        if tools and self.calls_first:
            yield self.calls_first.pop(0)
            return
        for w in self.text.split(" "):
            yield TextDelta(w + " ")


async def _reply(a: Assistant, text: str) -> tuple[list[str], str]:
    deltas, final = [], None
    async for ev in a.reply("s", text):
        if isinstance(ev, ReplyDelta):
            deltas.append(ev.text)
        elif isinstance(ev, ReplyDone):
            final = ev.text
    return deltas, final


@pytest.fixture
def assistant(tmp_path):
    def make(llm):
        registry, _ = make_registry(tmp_path)
        return Assistant(make_config(), llm, registry, MemoryStore(tmp_path / "m.db")), registry
    return make


async def test_assistant_replaces_a_false_timer_claim_and_remembers_the_honest_words(assistant):
    a, registry = assistant(ClaimingLLM("Of course! The pasta timer is set for 10 minutes. Enjoy your meal!"))
    _, said = await _reply(a, "how about pasta then")  # no skill, no guessed action: the LLM answers
    assert said == f"Of course! {HONEST['timer']} Enjoy your meal!"
    assert registry.plugins["timers"]._items == []
    assert a.memory.context("s", 10_000)[-1]["content"] == said  # history holds what was said, not the claim


async def test_ordinary_llm_answers_are_untouched(assistant):
    a, _ = assistant(RecordingLLM())
    deltas, said = await _reply(a, "what is the capital of France")
    assert said == "Paris is the capital."


async def test_tool_loop_speaks_the_tools_own_confirmation(assistant):
    call = ToolCall("c1", "set_timer", '{"duration": "10 minutes", "name": "pasta"}')
    llm = ClaimingLLM("I set three timers and booked a flight.", [call], tools=True)
    a, registry = assistant(llm)
    _, said = await _reply(a, "how about pasta then")
    assert said == "Okay, pasta timer set for ten minutes."  # the model is not asked to retell it
    assert [i["name"] for i in registry.plugins["timers"]._items] == ["pasta"] and len(llm.calls) == 1


async def test_a_read_only_tool_does_not_back_an_action_claim(assistant):
    llm = ClaimingLLM("It's 8 am. I've set a timer for you.", [ToolCall("c1", "get_current_time", "{}")], tools=True)
    a, registry = assistant(llm)
    _, said = await _reply(a, "how about pasta then")
    assert said == f"It's 8 am. {HONEST['timer']}" and registry.plugins["timers"]._items == []


async def test_a_failed_tool_is_reported_not_claimed(assistant):
    llm = ClaimingLLM("Your timer is set.", [ToolCall("c1", "set_timer", '{"duration": "a while"}')], tools=True)
    a, registry = assistant(llm)
    _, said = await _reply(a, "how about pasta then")
    assert said == "Sorry, how long should the timer be?" and registry.plugins["timers"]._items == []
