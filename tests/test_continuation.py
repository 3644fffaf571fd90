"""The user wasn't finished (issue 15): speech that goes on right after an early end of turn joins that turn.

The pure parts (cutting and joining audio, which words stand alone) run on hand-made input; the session runs
with the real models in wake-word mode (Penny's own "Hey Penny", Silero, Smart Turn, Whisper, Piper; the
calendar and timer skills on a fixed clock; a stub LLM), fed at real-time pace."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import numpy as np
import pytest
import pytest_asyncio

from fixtures_llm import LLMStub
from fixtures_speech import load, silence, synth_piper
from penny.app.run_file import run_turns
from penny.config import PennyConfig
from penny.core.continuation import Utterance, echoes, joined, own_part, stands_alone
from penny.core.events import AudioChunk, TextDelta

SR = 16000
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN)  # a Wednesday morning


def calendar_ics(*events: tuple[str, datetime]) -> bytes:
    """A calendar with one-hour events (title, start)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Penny tests//EN")
    cal.add("version", "2.0")
    for title, start in events:
        ev = icalendar.Event()
        ev.add("uid", f"{title}@penny-tests")
        ev.add("dtstamp", start)
        ev.add("dtstart", start)
        ev.add("dtend", start + timedelta(hours=1))
        ev.add("summary", title)
        cal.add_component(ev)
    return cal.to_ical()


# ---------------------------------------------------------------- the pure parts

def _utt(samples: np.ndarray, audio_t: float, start_t: float, end_t: float) -> Utterance:
    return Utterance(AudioChunk(samples, SR), audio_t + len(samples) / SR, start_t, end_t)


def _marked(seconds: float, value: float) -> np.ndarray:
    return np.full(int(round(seconds * SR)), value, np.float32)


def test_two_utterances_join_with_the_pause_between_them_trimmed():
    # the cut turn: 0.3 s pre-roll, words 1.0-2.0 s, 0.1 s of silence heard before the early end
    prev = _utt(np.concatenate([_marked(0.3, 0), _marked(1.0, 1), _marked(0.1, 0)]), 0.7, 1.0, 2.0)
    # the new speech: its own utterance, pre-roll 2.5-2.8 s (the user paused 800 ms), words 2.8-3.3 s
    new = _utt(np.concatenate([_marked(0.3, 0), _marked(0.5, 2), _marked(0.2, 0)]), 2.5, 2.8, 3.3)
    both = joined(prev, new)
    x = both.audio.as_float32()
    assert np.count_nonzero(x == 1) == SR and np.count_nonzero(x == 2) == SR // 2  # every word kept
    gap = np.flatnonzero(x == 2)[0] - np.flatnonzero(x == 1)[-1] - 1
    assert gap / SR == pytest.approx(0.25, abs=0.01)  # 800 ms became what the cut turn kept (0.1) + 0.15
    assert (both.start_t, both.end_t, both.audio_end_t) == (1.0, 3.3, new.audio_end_t)
    assert own_part(prev, new) is new


def test_one_endpointer_utterance_is_split_where_the_new_words_begin():
    # a 350 ms pause: the endpointer kept both pieces in one utterance, which starts with the cut turn's words
    prev = _utt(np.concatenate([_marked(0.3, 0), _marked(1.0, 1), _marked(0.1, 0)]), 0.7, 1.0, 2.0)
    new = _utt(np.concatenate([_marked(0.3, 0), _marked(1.0, 1), _marked(0.35, 0), _marked(0.5, 2),
                               _marked(0.1, 0)]), 0.7, 1.0, 2.85)
    own = own_part(prev, new)
    assert not np.any(own.audio.as_float32() == 1) and np.count_nonzero(own.audio.as_float32() == 2) == SR // 2
    both = joined(prev, new).audio.as_float32()
    assert np.count_nonzero(both == 1) == SR and np.count_nonzero(both == 2) == SR // 2
    assert len(both) == pytest.approx(len(new.audio.as_float32()), abs=SR * 0.02)  # a short pause stays


def test_a_joined_utterance_joins_again():
    # eggs, ... milk, ... and bread: the second join cuts the first joined audio at its own (stream) end
    a = _utt(np.concatenate([_marked(0.2, 0), _marked(0.5, 1), _marked(0.1, 0)]), 0.0, 0.2, 0.7)
    b = _utt(np.concatenate([_marked(0.3, 0), _marked(0.4, 2), _marked(0.1, 0)]), 1.0, 1.3, 1.7)
    c = _utt(np.concatenate([_marked(0.3, 0), _marked(0.6, 3), _marked(0.2, 0)]), 2.2, 2.5, 3.1)
    abc = joined(joined(a, b), c).audio.as_float32()
    assert [np.count_nonzero(abc == v) for v in (1, 2, 3)] == [SR // 2, int(0.4 * SR), int(0.6 * SR)]
    assert np.flatnonzero(abc == 2)[-1] < np.flatnonzero(abc == 3)[0]


@pytest.mark.parametrize("words", ["Tomorrow.", "tomorrow", "Milk, and bread to my shopping list.", "And tape.",
                                   "5 minutes.", "today?", "and a second one for five", "Light bulbs,"])
def test_the_rest_of_a_request_does_not_stand_alone(words):
    assert not stands_alone(words, "Penny", lambda text: False)


@pytest.mark.parametrize("words", ["Hey Penny, what time is it?", "Stop.", "Never mind.", "Yes.", "",
                                   "What's the capital of Spain?", "And what's the date today?",
                                   "Tell me a joke about cats."])
def test_a_request_of_its_own_stands_alone(words):
    assert stands_alone(words, "Penny", lambda text: False)


def test_penny_s_own_reply_heard_back_is_no_continuation():
    reply = "You have one thing today: Dentist appointment at 10 am."
    assert echoes("You have one thing today.", reply) and echoes("Dentist appointment at 10 am", reply)
    assert not echoes("tomorrow", reply) and not echoes("and bread to my shopping list", "Did you say: Milk?")


def test_words_a_skill_understands_stand_alone():
    assert stands_alone("and set a timer for five minutes", "Penny", lambda text: text.startswith("set a timer"))


def test_a_skill_that_changes_something_is_noted_in_the_turn_and_one_that_reads_is_not(tmp_path):
    import asyncio

    from fixtures_skills import make_registry
    from penny.core.claims import watch_actions

    registry, _ = make_registry(tmp_path)

    async def turn(text: str) -> list[str]:
        acted: list[str] = []
        watch_actions(acted)  # each turn runs in its own task, as core/turn.py does
        await registry.handle_text("s", text)
        return acted

    async def go():
        return [await asyncio.create_task(turn(t)) for t in ("set a timer for ten minutes", "what time is it")]
    assert asyncio.run(go()) == [["timers.set_timer"], []]


@pytest.mark.parametrize("text, undoable", [
    ("set a timer for ten minutes", True), ("remind me to call mom at 5 pm", True),
    ("take a note that the bike lock is in the garage", True), ("add milk and eggs to my shopping list", True),
    ("cancel the timer", False),  # a cancelled timer can't be brought back: such a turn is never redone
])
def test_what_a_skill_changed_can_be_taken_back_when_it_says_how(tmp_path, text, undoable):
    import asyncio

    from fixtures_skills import make_registry
    from penny.core.claims import watch_actions

    registry, _ = make_registry(tmp_path)
    timers, notes = registry.plugins["timers"], registry.plugins["notes"]

    def state():
        doc = notes.store.load()
        return len(timers.state.items), doc.get("notes"), (doc.get("lists") or {}).get("shopping", [])

    async def turn(text: str):
        acted: list[str] = []
        undo: list = []
        watch_actions(acted, undo)
        await registry.handle_text("s", text)
        return acted, undo

    async def go():
        if text.startswith("cancel"):
            await registry.handle_text("s", "set a timer for ten minutes")
        before = state()
        acted, undo = await asyncio.create_task(turn(text))
        assert len(acted) == len(undo) == 1, (acted, undo)
        assert (undo[0] is not None) == undoable
        if undoable:
            undo[0]()
            assert state() == before  # as if it never happened
    asyncio.run(go())


def test_a_merged_away_turn_leaves_the_context_but_not_the_history():
    from penny.memory.store import MemoryStore, Turn

    memory = MemoryStore(":memory:")
    memory.add_turn(Turn("s", "a", 1.0, "What's on my calendar?", "You have one thing today", interrupted=True))
    memory.add_turn(Turn("s", "b", 2.0, "What's on my calendar tomorrow?", "Tomorrow: piano"))
    assert memory.forget_turn("s", "a") == 1 and memory.forget_turn("s", "a") == 0
    assert [m["content"] for m in memory.context("s", 10_000) if m["role"] == "user"] == [
        "What's on my calendar tomorrow?"]
    assert [t.turn_id for t in memory.turns("s")] == ["a", "b"]


# ---------------------------------------------------------------- the session, stand-in engines, no clock

class LoudnessVAD:
    """A loud tone is the user's voice (sure); a soft one sounds like Penny's own echo (not sure enough to
    barge in where Penny can hear itself)."""

    name, frame_samples = "loudness", 512

    def speech_probability(self, frame) -> float:
        rms = float(np.sqrt(np.mean(np.square(frame))))
        return 1.0 if rms > 0.1 else 0.6 if rms > 0.01 else 0.0

    def reset(self) -> None:
        pass


class ToneSTT:
    """Hears which tones an utterance holds: 220 Hz says "what's on my calendar", 440 Hz "tomorrow"."""

    name = "tones"

    async def transcribe(self, audio, *, initial_prompt=None):
        from penny.core.events import Transcript

        x = audio.as_float32()
        spectrum, freqs = np.abs(np.fft.rfft(x)), np.fft.rfftfreq(len(x), 1 / SR)
        heard = [w for f, w in ((220, "what's on my calendar"), (440, "tomorrow"))
                 if len(x) and spectrum[(freqs > f - 15) & (freqs < f + 15)].max() > 0.1 * spectrum.max()]
        return Transcript((" ".join(heard).capitalize() + ".") if heard else "", audio_s=audio.duration_s)

    async def score(self, audio, texts, *, prefix=""):
        return None

    def warmup(self) -> None:
        pass


class ToneTTS:
    """Every sentence is `seconds` of sound (3: a reply is still playing when the user goes on)."""

    name, voice, sample_rate, last_used = "tones", "tones", SR, None

    def __init__(self, seconds: float):
        self.seconds = seconds

    async def synthesize(self, text: str):
        yield AudioChunk(np.full(int(self.seconds * SR), 0.01, np.float32), SR)


class EchoLLM(LLMStub):
    name, model, supports_tools = "echo", "echo", False

    async def stream(self, messages, tools=None, **kw):
        yield TextDelta(f"You asked: {messages[-1]['content']}")


class Sink:
    sample_rate = SR

    def __init__(self, echo_cancelled: bool):
        self.echo_cancelled = echo_cancelled

    async def write(self, chunk) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def close(self) -> None:
        pass


def tone(freq: float, seconds: float, amp: float) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


async def tones(tmp_path, then_amp: float, echo_cancelled: bool, reply_s: float = 3.0, **vad):
    """"What's on my calendar" (220 Hz), 800 ms, "tomorrow" (440 Hz), fed as fast as each turn allows: a
    turn's task is over before the next sound, its reply plays on for `reply_s` (wall-clock)."""
    from penny.app.engines import Engines
    from penny.core.endpointer import Endpointer
    from penny.memory.store import MemoryStore

    cfg = PennyConfig.model_validate({"vad": {"end_of_turn": "text", **vad}, "understanding": {"enabled": False},
                                      "assistant": {"filler_after_ms": 0}})
    engines = Engines(cfg, llm=EchoLLM(), stt=ToneSTT(), tts=ToneTTS(reply_s), plugins=None,
                      memory=MemoryStore(tmp_path / "m.db"))
    engines.new_endpointer = lambda: Endpointer(LoudnessVAD(), cfg.vad)  # type: ignore[method-assign]
    audio = np.concatenate([silence(0.5), tone(220, 1.0, 0.3), silence(0.8), tone(440, 0.5, then_amp)])
    turns = await run_turns(engines, audio, sink=Sink(echo_cancelled), tail_s=1.0)
    return engines, turns


@pytest.mark.asyncio
async def test_the_rest_of_a_request_said_over_its_reply_joins_it(tmp_path):
    engines, turns = await tones(tmp_path, then_amp=0.3, echo_cancelled=True)
    assert [t.transcript for t in turns] == ["What's on my calendar.", "What's on my calendar tomorrow."]
    first, whole = turns
    assert first.trace.end_rule in ("semantic", "silence") and whole.trace.merged_from == first.trace.turn_id
    assert whole.reply == "You asked: What's on my calendar tomorrow." and not whole.interrupted
    history = engines.memory.turns(first.trace.session_id, include_forgotten=False)
    assert [t.user_text for t in history] == ["What's on my calendar tomorrow."]


@pytest.mark.asyncio
async def test_penny_hearing_its_own_voice_joins_nothing(tmp_path):
    # a soft voice over the reply on a speaker Penny hears itself through: no barge-in, so no continuation
    engines, turns = await tones(tmp_path, then_amp=0.03, echo_cancelled=False)
    assert [(t.transcript, t.trace.merged_from, t.interrupted) for t in turns] == [
        ("What's on my calendar.", None, False)]


@pytest.mark.asyncio
async def test_speech_after_the_reply_has_ended_is_a_new_turn_even_within_the_window(tmp_path):
    engines, turns = await tones(tmp_path, then_amp=0.3, echo_cancelled=True, reply_s=0.0)
    assert [(t.transcript, t.trace.merged_from) for t in turns] == [("What's on my calendar.", None),
                                                                    ("Tomorrow.", None)]


@pytest.mark.asyncio
async def test_with_no_window_the_rest_is_a_turn_of_its_own(tmp_path):
    engines, turns = await tones(tmp_path, then_amp=0.3, echo_cancelled=True, continue_window_ms=0)
    assert [(t.transcript, t.trace.merged_from) for t in turns] == [("What's on my calendar.", None),
                                                                    ("Tomorrow.", None)]


# ---------------------------------------------------------------- the session, real models, real time

class NoLLM(LLMStub):
    """The skills answer these requests; a request that reaches the LLM is answered plainly."""

    name, model, supports_tools = "stub", "stub", False

    async def stream(self, messages, tools=None, **kw):
        yield TextDelta("I'm not sure what you mean.")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(tmp_path_factory):
    from penny.adapters.stt.factory import build_stt
    from penny.adapters.tts.factory import build_tts
    from penny.app.engines import Engines
    from penny.memory.store import MemoryStore
    from penny.plugins.base import ManualClock
    from penny.plugins.loading import build_plugins

    tmp = tmp_path_factory.mktemp("continuation")
    (tmp / "calendar.ics").write_bytes(calendar_ics(("Dentist appointment", NOW.replace(hour=10)),
                                                    ("Piano lesson", NOW.replace(hour=17) + timedelta(days=1))))
    cfg = PennyConfig.model_validate({"assistant": {"timezone": "Europe/Berlin"}, "tts": {"cache": {"enabled": False}},
                                      "plugins": {"calendar": {"sources": [str(tmp / "calendar.ics")]}}})
    stt = build_stt(cfg)
    stt.warmup()
    plugins = build_plugins(cfg, clock=ManualClock(NOW), data_dir=tmp / "data")
    engines = Engines(cfg, llm=NoLLM(), stt=stt, tts=build_tts(cfg), plugins=plugins,
                      memory=MemoryStore(tmp / "memory.db"))
    assert engines.turn_end_model is not None  # the default rule: Smart Turn hears each pause
    yield engines
    await engines.aclose()


def trimmed(text: str, length_scale: float = 1.0) -> np.ndarray:
    x = load(synth_piper(text, length_scale=length_scale))
    voiced = np.flatnonzero(np.abs(x) > 0.01)
    margin = int(0.08 * SR)
    return x[max(0, voiced[0] - margin):voiced[-1] + 1 + margin]


async def said(engines, *pieces, length_scale: float = 1.0, realtime: bool = True) -> list:
    """Each str is spoken (Piper), each float is that many seconds of silence; fed in real time (or as fast
    as Penny takes it)."""
    audio = np.concatenate([silence(0.5)] + [silence(p) if isinstance(p, float) else trimmed(p, length_scale)
                                             for p in pieces])
    return await run_turns(engines, audio, realtime=realtime, mode="wake_word", tail_s=2.5)


def answered(turns) -> list:
    return [t for t in turns if t.reply and not t.interrupted]


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_a_word_after_a_pause_joins_the_request_it_finishes(engines):
    turns = await said(engines, "Hey Penny, what's on my calendar?", 0.8, "tomorrow.")
    desc = [(t.transcript, t.reply, t.trace.end_rule, t.trace.merged_from) for t in turns]
    *cut, last = turns
    assert cut, desc  # the first piece read finished: its turn ended (and was answered) before "tomorrow"
    assert last.trace.merged_from == cut[-1].trace.turn_id, desc
    assert "tomorrow" in last.transcript.lower() and "calendar" in last.transcript.lower(), desc
    assert last.trace.intent == "calendar" and "piano" in last.reply.lower(), desc  # tomorrow's, not today's
    assert "dentist" not in last.reply.lower(), desc
    assert last.trace.marks["speech_start"] < cut[-1].trace.marks["speech_end"]  # heard from the first word
    # the cut turn leaves the model's context: the conversation holds the whole request, answered once
    context = engines.memory.context(last.trace.session_id, 10_000)
    assert [m["content"] for m in context if m["role"] == "user"] == [engines.memory.turns(
        last.trace.session_id)[-1].user_text]


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_speech_after_a_turn_that_set_a_timer_is_its_own_turn(engines):
    timers = engines.plugins.plugins["timers"]
    before = len(timers.state.items)
    turns = await said(engines, "Hey Penny, set a timer for ten minutes.", 0.8, "and a second one for five.")
    desc = [(t.transcript, t.reply, t.trace.end_rule, t.trace.merged_from, t.trace.acted) for t in turns]
    assert len(turns) >= 2, desc
    assert turns[0].trace.intent == "timers" and turns[0].trace.acted, desc  # the timer was set ...
    assert all(t.trace.merged_from is None for t in turns), desc  # ... so nothing joins it, and it stays set
    assert 600.0 in [t.get("duration_s") for t in timers.state.items[before:]], timers.state.items
    assert "second" in turns[-1].transcript.lower() or "five" in turns[-1].transcript.lower(), desc


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_the_rest_of_a_note_said_after_it_was_stored_makes_one_note(engines):
    """"Take a note: buy batteries, ... light bulbs and tape": the first piece is stored at the pause; the
    rest, said over the reply, takes it back and stores the whole note once."""
    notes = engines.plugins.plugins["notes"]
    before = [n["id"] for n in notes.store.load().get("notes", [])]
    turns = await said(engines, "Hey Penny, take a note: buy batteries,", 0.8, "light bulbs and tape.")
    desc = [(t.transcript, t.reply, t.trace.end_rule, t.trace.merged_from, t.trace.acted) for t in turns]
    new = [n["text"] for n in notes.store.load()["notes"] if n["id"] not in before]
    assert len(new) == 1 and all(w in new[0] for w in ("batteries", "bulbs", "tape")), (new, desc)
    last = turns[-1]
    if len(turns) > 1:  # the first piece was a turn of its own (the usual case): it was redone
        assert last.trace.merged_from == turns[-2].trace.turn_id and turns[-2].trace.acted, desc
        assert last.trace.heard.get("taken_back") == ["notes.remember"], desc


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_a_note_said_in_three_pieces_is_one_note(engines):
    """The third piece may cut the second's turn before it has joined the first: that turn stood for both
    pieces and for the stored note, so the whole note is still stored once."""
    notes = engines.plugins.plugins["notes"]
    before = [n["id"] for n in notes.store.load().get("notes", [])]
    turns = await said(engines, "Hey Penny, take a note: buy batteries,", 0.8, "light bulbs,", 0.6, "and tape.",
                       length_scale=1.25)  # the turns benchmark's slow voice
    desc = [(t.transcript, t.reply, t.trace.end_rule, t.trace.merged_from, t.trace.acted) for t in turns]
    new = [n["text"] for n in notes.store.load()["notes"] if n["id"] not in before]
    assert len(new) == 1 and all(w in new[0] for w in ("batteries", "tape")), (new, desc)


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("realtime", [True, False], ids=["real-time", "fast"])
async def test_a_request_with_its_words_still_to_come_is_not_ended_while_it_is_being_understood(engines, realtime):
    """"Take a note, uh, the bike lock is in the garage" (the turns benchmark's hesitation clip): "Take a note."
    sounds and reads finished, but is no request yet. The turn model must wait for the words to be understood
    (the phrase book scores them against the audio first); judged before, the turn ended on "Did you say: Take
    a note?" while the user went on. Fed faster than real time (a slow machine, to the pipeline), silence
    must wait for the words too: CI's slow machine ended the turn there."""
    notes = engines.plugins.plugins["notes"]
    before = [n["id"] for n in notes.store.load().get("notes", [])]
    turns = await said(engines, "Hey Penny, take a note,", 0.5, "uh,", 0.7, "the bike lock is in the garage.",
                       realtime=realtime)
    desc = [(t.transcript, t.reply, t.trace.end_rule, t.trace.merged_from) for t in turns]
    assert not any("did you say" in (t.reply or "").lower() for t in turns), desc
    assert turns and all(t.trace.intent == "notes" for t in turns), desc
    new = [n["text"] for n in notes.store.load()["notes"] if n["id"] not in before]
    assert len(new) == 1 and "bike lock" in new[0].lower(), (new, desc)  # a piece stored first was redone whole


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_a_follow_up_after_the_reply_has_finished_is_a_new_turn(engines):
    # the reply ("You have one thing today: Dentist appointment at 10 am.") is over well before the follow-up
    turns = await said(engines, "Hey Penny, what's on my calendar?", 6.0, "tomorrow.")
    desc = [(t.transcript, t.reply, t.trace.end_rule, t.trace.merged_from) for t in turns]
    assert len(turns) == 2 and not turns[0].interrupted, desc
    assert turns[0].trace.intent == "calendar" and "dentist" in turns[0].reply.lower(), desc
    assert turns[1].trace.merged_from is None and "calendar" not in turns[1].transcript.lower(), desc
    kept = [t.user_text for t in engines.memory.turns(turns[0].trace.session_id, include_forgotten=False)]
    assert any("calendar" in t.lower() for t in kept), kept
