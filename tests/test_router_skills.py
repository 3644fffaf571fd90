"""The intent router: a table of phrasings per skill (typed and transcription-style), and no hijacking."""
from __future__ import annotations

from datetime import timedelta

import pytest

from fixtures_skills import NOW, make_registry
from penny.plugins.dates import parse_duration, parse_range, parse_when
from penny.intents.conversation import yes_or_no
from penny.intents.text import normalize

# Slots come typed (penny/intents/slots.py); shown here as seconds, a day's label, or an ISO time.
ROUTES = [
    # clock
    ("What time is it?", "clock", "time", {}),
    ("what time is it", "clock", "time", {}),
    ("Hey Penny, what's the time?", "clock", "time", {}),
    ("whats the time", "clock", "time", {}),
    ("can you tell me the time please", "clock", "time", {}),
    ("What's the date today?", "clock", "date", {}),
    ("what day is it", "clock", "date", {}),
    # timers
    ("Set a timer for 10 minutes.", "timers", "set_timer", {"duration": 600}),
    ("set a timer for ten minutes", "timers", "set_timer", {"duration": 600}),
    ("set a ten minute timer", "timers", "set_timer", {"duration": 600}),
    ("start a 5 minute pasta timer", "timers", "set_timer", {"duration": 300, "name": "pasta"}),
    ("set a timer for an hour and a half called roast", "timers", "set_timer",
     {"duration": 5400, "name": "roast"}),
    ("timer for 90 seconds", "timers", "set_timer", {"duration": 90}),
    ("how much time is left", "timers", "time_left", {}),
    ("set timer 5 minutes", "timers", "set_timer", {"duration": 300}),
    ("ten minute timer", "timers", "set_timer", {"duration": 600}),
    ("how long is left on my timer", "timers", "time_left", {}),
    ("remind me at 5 pm to call mom", "timers", "reminder", {"rest": "at 5 pm to call mom"}),
    ("remind me tomorrow to take out the trash", "timers", "reminder", {"rest": "tomorrow to take out the trash"}),
    ("How much time is left on the pasta timer?", "timers", "time_left", {"name": "pasta"}),
    ("cancel the pasta timer", "timers", "cancel", {"name": "pasta"}),
    ("cancel all timers", "timers", "cancel_all", {}),
    ("what timers do i have", "timers", "list", {}),
    ("Remind me to call mom at 5 p.m.", "timers", "reminder", {"rest": "to call mom at 5 pm"}),
    ("remind me to call mom at five pm", "timers", "reminder", {"rest": "to call mom at five pm"}),
    ("remind me in twenty minutes to check the oven", "timers", "reminder",
     {"rest": "in twenty minutes to check the oven"}),
    # notes
    ("Remember that the wifi password is on the fridge.", "notes", "remember",
     {"note": "the wifi password is on the fridge"}),
    ("remember my keys are in the blue drawer", "notes", "remember", {"note": "my keys are in the blue drawer"}),
    ("what did i ask you to remember", "notes", "recall", {}),
    ("What did I ask you to remember?", "notes", "recall", {}),
    # weather
    ("What's the weather like?", "weather", "weather", {}),
    ("whats the weather tomorrow", "weather", "weather", {"when": "tomorrow"}),
    ("will it rain today", "weather", "weather", {"when": "today"}),
    ("do i need an umbrella", "weather", "weather", {}),
    # calendar
    ("What's on my calendar tomorrow?", "calendar", "read", {"day": "tomorrow"}),
    ("whats on my calendar tomorrow", "calendar", "read", {"day": "tomorrow"}),
    ("what do i have on friday", "calendar", "read", {"day": "on Friday"}),
    ("what's on my schedule this week", "calendar", "read", {"day": "this week"}),
    ("whats on my calendar", "calendar", "read", {}),
    ("do i have anything next tuesday", "calendar", "read", {"day": "on Tuesday"}),
    ("whats on tomorrow", "calendar", "read", {"day": "tomorrow"}),
    ("what's my next appointment", "calendar", "next", {}),
    ("What's on my calendar for tomorrow?", "calendar", "read", {"day": "tomorrow"}),
    ("do i have any meetings today", "calendar", "read", {"day": "today"}),
    ("whats happening this weekend", "calendar", "read", {"day": "this weekend"}),
    ("schedule a meeting with bob tomorrow at 10", "calendar", "add", {"event": "meeting with bob tomorrow at 10"}),
    ("whats the weather going to be like tomorrow", "weather", "weather", {"when": "tomorrow"}),
    ("whats next on my calendar", "calendar", "next", {}),
    ("Add a dentist appointment next Tuesday at 3 pm.", "calendar", "add",
     {"event": "dentist appointment next tuesday at 3 pm"}),
    ("add a dentist appointment next tuesday at three pm", "calendar", "add",
     {"event": "dentist appointment next tuesday at three pm"}),
    ("put lunch with sam on my calendar for friday at noon", "calendar", "add",
     {"event": "lunch with sam", "at": "2026-11-27T12:00:00+01:00"}),
]

NOT_SKILLS = [
    "what time did the titanic sink",
    "tell me about calendars",
    "what is the capital of france",
    "whats on tv tonight",
    "what's the time complexity of quicksort",
    "how do i set a timer on my phone",
    "remember when we went to paris",
    "can you remind me what a calendar year is",
    "what's the weather like on mars",
    "where is the eiffel tower",
    "add two and three",
    "what do you think about time travel",
    "tell me a joke about timers",
    "why is the sky blue",
    "what day was the moon landing",
    "what's going on this week in the news",
    "schedule",
    "set the table",
    "",
]


@pytest.fixture
def registry(tmp_path):
    reg, _ = make_registry(tmp_path)
    return reg


@pytest.mark.parametrize("text,plugin,intent,slots", ROUTES)
def test_router_table(registry, text, plugin, intent, slots):
    match = registry.route(text)
    assert match is not None, f"{text!r} was not recognised"
    assert (match.plugin, match.intent) == (plugin, intent)
    assert plain(match.slots) == slots


def plain(slots: dict) -> dict:
    from penny.plugins.dates import DayRange, When

    def one(v):
        if isinstance(v, timedelta):
            return int(v.total_seconds())
        if isinstance(v, DayRange):
            return v.label
        if isinstance(v, When):
            return v.start.isoformat()
        return v
    return {k: one(v) for k, v in slots.items()}


@pytest.mark.parametrize("text", NOT_SKILLS)
def test_router_does_not_hijack(registry, text):
    assert registry.route(text) is None


async def test_note_questions_route_only_when_a_note_matches(registry):
    assert registry.route("where is the wifi password") is None
    await registry.handle_text("s", "remember that the wifi password is on the fridge")
    match = registry.route("where is the wifi password")
    assert (match.plugin, match.intent) == ("notes", "search")
    assert registry.route("where is the eiffel tower") is None
    assert registry.route("what time is it").plugin == "clock"  # notes never shadow other skills


async def test_spoken_reminders_and_notes_keep_their_details(registry):
    said = [(await registry.handle_text("s", t)).text for t in (
        "Don't let me forget to email David 3pm.", "can you note down that I owe Sam $20?")]
    assert said == ["Okay, I'll remind you to email david at 3 pm.", "Okay, I'll remember that you owe sam $20."]


def test_normalize_and_yes_no():
    assert normalize("Hey Penny, what's the time?") == "whats the time"
    assert normalize("Remind me at 5:30 p.m., please!") == "remind me at 5:30 pm"
    assert yes_or_no("Yes, please.") is True and yes_or_no("no thanks") is False
    assert yes_or_no("what about friday") is None
    assert yes_or_no("Sound is Lord, yes.") is True  # "Sounds good, yes." misheard: the answer comes last
    assert yes_or_no("Well... no.") is False and yes_or_no("set a timer for five minutes") is None


@pytest.mark.parametrize("text,seconds", [
    ("ten minutes", 600), ("an hour and a half", 5400), ("1 hour 30 minutes", 5400), ("90 seconds", 90),
    ("half an hour", 1800), ("twenty five minutes", 1500), ("5 min", 300), ("one and a half hours", 5400),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["pasta", "", "soon", "ten"])
def test_parse_duration_rejects(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("text,iso,has_time", [
    ("at 5 pm", "2026-11-25T17:00:00+01:00", True),
    ("at five thirty p.m.", "2026-11-25T17:30:00+01:00", True),
    ("at 7", "2026-11-25T19:00:00+01:00", True),  # 7 am has passed at 8 am: the evening
    ("at 9", "2026-11-25T09:00:00+01:00", True),
    ("tomorrow at 9", "2026-11-26T09:00:00+01:00", True),
    ("next tuesday at 3 pm", "2026-12-01T15:00:00+01:00", True),
    ("next tuesday at three pm", "2026-12-01T15:00:00+01:00", True),
    ("in 10 minutes", "2026-11-25T08:10:00+01:00", True),
    ("december 3rd at noon", "2026-12-03T12:00:00+01:00", True),
    ("on the 3rd", "2026-12-03T00:00:00+01:00", False),
    ("friday", "2026-11-27T00:00:00+01:00", False),
    ("tonight at 8", "2026-11-25T20:00:00+01:00", True),
    ("at 17:30", "2026-11-25T17:30:00+01:00", True),
    ("at 830 tonight", "2026-11-25T20:30:00+01:00", True),  # Whisper's "eight thirty tonight"
    ("at 7.15 pm", "2026-11-25T19:15:00+01:00", True),  # British English writes a dot
    ("tomorrow at 9.45", "2026-11-26T09:45:00+01:00", True),
    ("2026-12-24", "2026-12-24T00:00:00+01:00", False),
    # "in forty... five minutes" said slowly, as Whisper writes it: one number, not "in 5 minutes" or 4 days
    ("in 40. Five minutes", "2026-11-25T08:45:00+01:00", True),
    ("in 4D. 5 minutes", "2026-11-25T08:45:00+01:00", True),
])
def test_parse_when(text, iso, has_time):
    when = parse_when(text, NOW)
    assert when is not None, text
    assert (when.start.isoformat(), when.has_time) == (iso, has_time)


@pytest.mark.parametrize("text", ["february 30th", "at 25 pm", "the oven", "whenever",
                                  "in 40", "in 4d", "on 12"])  # a number with no unit is not the year 2040
def test_parse_when_rejects_bad_dates(text):
    assert parse_when(text, NOW) is None


def test_parse_range():
    assert parse_range("tomorrow", NOW).label == "tomorrow"
    week = parse_range("this week", NOW)
    assert (week.start.day, week.end.day) == (25, 30)
    assert parse_range("next week", NOW).start.isoformat() == "2026-11-30T00:00:00+01:00"
    assert parse_range("on friday", NOW).label == "on Friday"
    assert parse_range("tv", NOW) is None


@pytest.mark.parametrize("text, read_only", [
    ("what time is it", True), ("what's on my calendar tomorrow", True), ("how much time is left", True),
    ("set a timer for ten minutes", False), ("add a dentist appointment next tuesday at 3 pm", False),
    ("remember that the wifi password is on the fridge", False), ("tell me about calendars", False),
])
def test_read_only_intents_may_run_before_the_turn_ends(tmp_path, text, read_only):
    from penny.config import PennyConfig
    from penny.plugins.loading import build_plugins

    assert build_plugins(PennyConfig(), data_dir=tmp_path).read_only("s", text) is read_only


def open_ended(registry, text: str) -> bool:
    match = registry.route(text)
    return match is not None and match.open_end


@pytest.mark.parametrize("text, open_end", [("Take a note: buy batteries, light bulbs", True),
                                            ("Remember that the keys are in the drawer.", True),
                                            ("Add eggs, milk and bread to my shopping list.", False),
                                            ("Set a timer for ten minutes.", False), ("What's on my calendar?", False),
                                            ("Why is the sky blue?", False)])
def test_a_request_ending_in_free_words_is_open_ended(registry, text, open_end):
    """Free words at the end (a note) may go on after a pause; the turn's end waits for the voice."""
    assert open_ended(registry, text) is open_end


@pytest.mark.parametrize("text, half", [("Remind me to call Mom in 4 of it.", True),  # "in forty," misheard
                                        ("Remind me to call mom", True), ("Set a timer.", True),
                                        ("Remind me to call mom in 45 minutes.", False),
                                        ("In two hours remind me to stretch", False),
                                        ("Set a timer for ten minutes.", False), ("What's on my calendar?", False)])
def test_a_request_still_missing_what_it_needs_is_half(registry, text, half):
    """A reminder with no time yet, a timer with no length: the pause after it is held for the rest."""
    match = registry.route(text)
    assert match is not None and match.half is half


def test_a_question_a_note_answers_is_not_open_ended(registry):
    """The note search reads "where is {topic}": a whole question, however its free words end it."""
    import asyncio

    asyncio.run(registry.handle_text("s", "Remember that the spare key is under the mat."))
    assert registry.route("Where is the spare key?").plugin == "notes"
    assert not open_ended(registry, "Where is the spare key?")
