"""Calendar, notes (with the shopping and to-do lists) and weather through hassil templates: many phrasings
per intent, typed and as a transcript, their slot values, what must not match, and the list behaviour."""
from __future__ import annotations

import pytest

from fixtures_skills import make_registry
from penny.plugins import lists
from penny.plugins.dates import DayRange, When


def plain(slots: dict) -> dict:
    """Typed slots as comparable values: a DayRange by its first day and label, a When by its ISO start."""
    out = {}
    for k, v in slots.items():
        if isinstance(v, DayRange):
            out[k] = (v.start.date().isoformat(), v.label)
        elif isinstance(v, When):
            out[k] = v.start.isoformat() if v.has_time else v.start.date().isoformat()
        else:
            out[k] = v
    return out


TOMORROW = ("2026-11-26", "tomorrow")
TODAY = ("2026-11-25", "today")
FRIDAY = ("2026-11-27", "on Friday")
WEEK = ("2026-11-25", "this week")
WEEKEND = ("2026-11-28", "this weekend")
NEXT_TUESDAY = ("2026-12-01", "on Tuesday")

CALENDAR = [
    # read
    ("What's on my calendar tomorrow?", "read", {"day": TOMORROW}),
    ("whats on my calendar tomorrow", "read", {"day": TOMORROW}),
    ("What's on my calendar for tomorrow?", "read", {"day": TOMORROW}),
    ("Hey Penny, what's on my calendar today?", "read", {"day": TODAY}),
    ("whats on my calendar", "read", {}),
    ("what is on the calendar", "read", {}),
    ("what do i have on friday", "read", {"day": FRIDAY}),
    ("What do I have next week?", "read", {"day": ("2026-11-30", "next week")}),
    ("what's on my schedule this week", "read", {"day": WEEK}),
    ("whats on my agenda for friday", "read", {"day": FRIDAY}),
    ("do i have anything next tuesday", "read", {"day": NEXT_TUESDAY}),
    ("have i got anything planned for the weekend", "read", {"day": WEEKEND}),
    ("is there anything on my calendar tomorrow", "read", {"day": TOMORROW}),
    ("whats on tomorrow", "read", {"day": TOMORROW}),
    ("What's on today?", "read", {"day": TODAY}),
    ("whats happening this weekend", "read", {"day": WEEKEND}),
    ("what's going on tomorrow", "read", {"day": TOMORROW}),
    ("do i have any meetings today", "read", {"day": TODAY}),
    ("Do I have any appointments on Friday?", "read", {"day": FRIDAY}),
    ("have i got meetings tomorrow", "read", {"day": TOMORROW}),
    ("what are my appointments for tomorrow", "read", {"day": TOMORROW}),
    ("what are my plans for the weekend", "read", {"day": WEEKEND}),
    ("read my calendar", "read", {}),
    ("show me my appointments for next week", "read", {"day": ("2026-11-30", "next week")}),
    ("check my calendar for friday", "read", {"day": FRIDAY}),
    ("tell me my meetings tomorrow", "read", {"day": TOMORROW}),
    ("how does my calendar look for tomorrow", "read", {"day": TOMORROW}),
    ("how's my schedule looking this week", "read", {"day": WEEK}),
    ("what does tomorrow look like", "read", {"day": TOMORROW}),
    ("What does Friday look like for me?", "read", {"day": FRIDAY}),
    ("am i free friday", "read", {"day": FRIDAY}),
    ("Am I free tomorrow afternoon?", "read", {"day": TOMORROW}),  # the whole day is read
    ("anything on tomorrow morning", "read", {"day": TOMORROW}),
    ("Am I busy on the 3rd?", "read", {"day": ("2026-12-03", "on Thursday, December 3rd")}),
    ("are we booked this weekend", "read", {"day": WEEKEND}),
    ("is my calendar clear on monday", "read", {"day": ("2026-11-30", "on Monday")}),
    ("is the calendar free tomorrow", "read", {"day": TOMORROW}),
    ("what do i have on december 1st", "read", {"day": ("2026-12-01", "on Tuesday")}),
    # next
    ("what's my next appointment", "next", {}),
    ("What's my next meeting?", "next", {}),
    ("when is my next meeting", "next", {}),
    ("whats next on my calendar", "next", {}),
    ("what is next in my schedule", "next", {}),
    ("what's the next event on my calendar", "next", {}),
    # add
    ("schedule a meeting with bob tomorrow at 10", "add", {"event": "meeting with bob tomorrow at 10"}),
    ("Add a dentist appointment next Tuesday at 3 pm.", "add", {"event": "dentist appointment next tuesday at 3 pm"}),
    ("add a dentist appointment next tuesday at three pm", "add",
     {"event": "dentist appointment next tuesday at three pm"}),
    ("put lunch with sam on my calendar for friday at noon", "add",
     {"event": "lunch with sam", "at": "2026-11-27T12:00:00+01:00"}),
    ("add lunch to my calendar tomorrow at noon", "add", {"event": "lunch", "at": "2026-11-26T12:00:00+01:00"}),
    ("add lunch on friday at noon to my calendar", "add", {"event": "lunch on friday at noon"}),
    ("put on my calendar yoga tomorrow at 7 pm", "add", {"event": "yoga tomorrow at 7 pm"}),
    ("book a haircut on friday at 4 pm", "add", {"event": "haircut on friday at 4 pm"}),
    ("create a new event called team dinner on december 3rd at 7 pm", "add",
     {"event": "team dinner on december 3rd at 7 pm"}),
    ("set up a call with the bank tomorrow at 9", "add", {"event": "call with the bank tomorrow at 9"}),
]

WEATHER = [
    ("What's the weather like?", {}),
    ("whats the weather like", {}),
    ("what is the weather", {}),
    ("weather", {}),
    ("tell me the weather", {}),
    ("hows the weather", {}),
    ("How's the weather outside?", {}),  # "outside" is a literal word here; {} means now
    ("what's the weather right now", {"when": "now"}),
    ("whats the weather tomorrow", {"when": "tomorrow"}),
    ("What's the weather going to be like tomorrow?", {"when": "tomorrow"}),
    ("whats the weather gonna be like tomorrow", {"when": "tomorrow"}),
    ("how's the weather looking tomorrow", {"when": "tomorrow"}),
    ("what does the weather look like today", {"when": "today"}),
    ("Hey Penny, what's the weather like today?", {"when": "today"}),
    ("what is the weather like outside today", {"when": "today"}),
    ("the weather for tomorrow", {"when": "tomorrow"}),
    ("weather forecast for this week", {"when": "this week"}),
    ("what's the forecast", {}),
    ("What's the forecast for tomorrow?", {"when": "tomorrow"}),
    ("whats the weather forecast for this week", {"when": "this week"}),
    ("will it rain today", {"when": "today"}),
    ("Will it rain tomorrow?", {"when": "tomorrow"}),
    ("is it going to rain", {}),
    ("is it gonna snow tonight", {"when": "today"}),
    ("will it be sunny this afternoon", {"when": "today"}),
    ("is it going to be cold tomorrow", {"when": "tomorrow"}),
    ("is it raining", {}),
    ("is it raining outside right now", {"when": "now"}),
    ("is it windy", {}),
    ("do i need an umbrella", {}),
    ("Do I need an umbrella today?", {"when": "today"}),
    ("should i wear a jacket", {}),
    ("should I bring a coat tomorrow", {"when": "tomorrow"}),
    ("do i need sunscreen today", {"when": "today"}),
    ("how hot will it get", {}),
    ("how hot will it get tomorrow", {"when": "tomorrow"}),
    ("how cold is it going to be tonight", {"when": "today"}),
    ("how cold is it outside", {}),
    ("what's the temperature outside", {}),
    ("whats the temperature tomorrow", {"when": "tomorrow"}),
]

NOTES = [
    ("Remember that the wifi password is on the fridge.", "remember", {"note": "the wifi password is on the fridge"}),
    ("remember my keys are in the blue drawer", "remember", {"note": "my keys are in the blue drawer"}),
    ("note: the spare key is under the mat", "remember", {"note": "the spare key is under the mat"}),
    ("make a note that the boiler was serviced in march", "remember", {"note": "the boiler was serviced in march"}),
    ("take a note the car is in level 3", "remember", {"note": "the car is in level 3"}),
    ("Take a note, um, buy milk.", "remember", {"note": "buy milk"}),  # a hesitation is no part of the note
    ("jot down the plumber's number is 555 1234", "remember", {"note": "the plumbers number is 555 1234"}),
    ("write down that the gate code is 4711", "remember", {"note": "the gate code is 4711"}),
    ("Add a note: call the plumber about the leak.", "remember", {"note": "call the plumber about the leak"}),
    ("save a note saying the meeting moved to thursday", "remember", {"note": "the meeting moved to thursday"}),
    ("what did i ask you to remember", "recall", {}),
    ("What did I ask you to remember?", "recall", {}),
    ("what did i tell you to note down", "recall", {}),
    ("what do you remember", "recall", {}),
    ("what notes do i have", "recall", {}),
    ("read my notes", "recall", {}),
    ("show me all my notes", "recall", {}),
    ("what's in my notes", "recall", {}),
    ("my notes", "recall", {}),
    ("forget all my notes", "forget_all", {}),
    ("delete all notes", "forget_all", {}),
    ("clear my notes", "forget_all", {}),
    ("erase all of my notes", "forget_all", {}),
    ("forget everything i told you", "forget_all", {}),
    # lists
    ("add milk to my shopping list", "list_add", {"item": "milk"}),
    ("Add some eggs to the shopping list.", "list_add", {"item": "some eggs"}),
    ("add milk to the list", "list_add", {"item": "milk"}),
    ("put apples on my shopping list", "list_add", {"item": "apples"}),
    ("Add bread to my grocery list.", "list_add", {"item": "bread"}),
    ("add call the bank to my to do list", "list_add", {"item": "call the bank", "name": "todo"}),
    ("add pay rent to my todo list", "list_add", {"item": "pay rent", "name": "todo"}),
    ("put water the plants on my to-do list", "list_add", {"item": "water the plants", "name": "todo"}),
    ("add dentist tomorrow at 3 to my todo list", "list_add", {"item": "dentist tomorrow at 3", "name": "todo"}),
    ("what's on my shopping list", "list_read", {"name": "shopping"}),
    ("What's on my to-do list?", "list_read", {"name": "todo"}),
    ("whats on my to do list", "list_read", {"name": "todo"}),
    ("read me my shopping list", "list_read", {"name": "shopping"}),
    ("what's left on my shopping list", "list_read", {"name": "shopping"}),
    ("what do i need to buy", "list_read", {}),
    ("what's on my list", "list_read", {}),
    ("remove milk from my shopping list", "list_remove", {"item": "milk"}),
    ("take eggs off the shopping list", "list_remove", {"item": "eggs"}),
    ("check off bread from my shopping list", "list_remove", {"item": "bread"}),
    ("check off call the bank from my to do list", "list_remove", {"item": "call the bank", "name": "todo"}),
    ("cross pay rent off my todo list", "list_remove", {"item": "pay rent", "name": "todo"}),
    ("remove pay rent from my to do list", "list_remove", {"item": "pay rent", "name": "todo"}),
    ("clear my shopping list", "list_clear", {"name": "shopping"}),
    ("empty the to do list", "list_clear", {"name": "todo"}),
]

NOT_SKILLS = [
    "tell me about calendars",
    "whats on tv tonight",
    "what's going on this week in the news",
    "schedule",
    "where is the eiffel tower",
    "remember when we went to paris",
    "remember to call mom",
    "what's the weather like on mars",
    "what's the weather like in berlin",
    "what do you think about time travel",
    "what is the capital of france",
    "add two and three",
    "put the kettle on",
    "what does the fox say",
    "am i free to go",
    "is the calendar year longer than 365 days",
    "what are my chances of winning the lottery",
    "add milk",
    "what's the plan",
    "is it true that cats sleep a lot",
    "note to self buy a better microphone",
    "add a note",
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg, _ = make_registry(tmp_path_factory.mktemp("cnw"))
    return reg


@pytest.mark.parametrize("text,intent,slots", CALENDAR)
def test_calendar_phrasings(registry, text, intent, slots):
    match = registry.route(text)
    assert match is not None, f"{text!r} was not recognised"
    assert (match.plugin, match.intent, plain(match.slots)) == ("calendar", intent, slots)


@pytest.mark.parametrize("text,slots", WEATHER)
def test_weather_phrasings(registry, text, slots):
    match = registry.route(text)
    assert match is not None, f"{text!r} was not recognised"
    assert (match.plugin, match.intent, match.slots) == ("weather", "weather", slots)


@pytest.mark.parametrize("text,intent,slots", NOTES)
def test_notes_and_list_phrasings(registry, text, intent, slots):
    match = registry.route(text)
    assert match is not None, f"{text!r} was not recognised"
    assert (match.plugin, match.intent, match.slots) == ("notes", intent, slots)


@pytest.mark.parametrize("text", NOT_SKILLS)
def test_must_not_match(registry, text):
    assert registry.route(text) is None, registry.route(text)


async def test_note_questions_and_forget_need_a_matching_note(tmp_path):
    reg, _ = make_registry(tmp_path)
    for text in ("where is the wifi password", "whats the wifi password", "forget the note about the wifi password"):
        assert reg.route(text) is None
    await reg.handle_text("s", "remember that the wifi password is on the fridge")
    for text, intent in [("where is the wifi password", "search"), ("what's the wifi password", "search"),
                         ("what did i tell you about the wifi", "search"),
                         ("forget the note about the wifi password", "forget")]:
        match = reg.route(text)
        assert (match.plugin, match.intent) == ("notes", intent), text
    await reg.handle_text("s", "remember the recycling goes out every wednesday")
    assert reg.route("Which day does the recycling go out?").intent == "search"
    assert reg.route("Sorry, what time is it out?") is None  # a misheard question shares only "out" with the note
    assert reg.route("where is the eiffel tower") is None
    assert reg.route("what do you think about time travel") is None
    assert reg.route("what time is it").plugin == "clock"  # a note never shadows another skill
    assert reg.route("whats on my calendar tomorrow").plugin == "calendar"
    r = await reg.handle_text("s", "forget the note about the wifi password")
    assert r.text == "Okay, I forgot one note."
    assert reg.route("where is the wifi password") is None


async def test_a_note_question_finds_words_whisper_spelled_nearly_alike(tmp_path):
    """"Who did I lend my ladder to?" (the note says "lent"), and Whisper's "square key" for "spare key"."""
    reg, _ = make_registry(tmp_path)
    await reg.handle_text("s", "remember I lent my ladder to Tom")
    await reg.handle_text("s", "remember the spare house key is with Mrs. Patel")
    for text, answer in [("Who did I lend my ladder to?", "Tom"), ("Who has the square key?", "Patel")]:
        r = await reg.handle_text("s", text)
        assert r is not None and answer.lower() in r.text.lower() and not r.text.endswith(".."), (text, r)
    for text in ("What is a letter?", "Who invented the key?", "Where is the Eiffel tower?"):
        assert reg.route(text) is None, text


async def test_a_question_that_shares_one_word_with_a_note_is_no_note_question(tmp_path):
    """Misheard questions for the LLM, each sharing a word with a note and spelling another nearly alike
    ("fighter"/"flight", "plans"/"lands"): they were answered "You told me Mom's flight lands on Saturday"."""
    reg, _ = make_registry(tmp_path)
    await reg.handle_text("s", "remember Mom's flight lands on Saturday afternoon")
    for text in ("How many lands does this fighter have?", "What's the capital of plans?"):
        assert await reg.handle_text("s", text) is None, text
    r = await reg.handle_text("s", "When does mom's flight land?")
    assert r is not None and "saturday" in r.text.lower()


async def test_shopping_list_add_read_remove_clear(tmp_path):
    reg, _ = make_registry(tmp_path)
    say = lambda text: reg.handle_text("s", text)  # noqa: E731
    assert (await say("what's on my shopping list")).text == "Your shopping list is empty."
    assert (await say("add milk to my shopping list")).text == "Okay, I added milk to your shopping list."
    assert (await say("add some milk to the shopping list")).text == "Milk is already on your shopping list."
    assert (await say("add eggs and bread to my grocery list")).text == \
        "Okay, I added eggs and bread to your shopping list."
    assert (await say("add bread and butter to the list")).text == \
        "Okay, I added butter to your shopping list. Bread was already on it."
    r = await say("what do i need to buy")
    assert r.text == "You have four things on your shopping list: milk, eggs, bread and butter."
    assert [i["text"] for i in r.data["items"]] == ["milk", "eggs", "bread", "butter"]
    assert (await say("take the egg off my shopping list")).text == "Okay, I took eggs off your shopping list."
    assert (await say("remove cheese from my shopping list")).text == "I couldn't find cheese on your shopping list."
    assert (await say("remove milk and cheese from my shopping list")).text == \
        "Okay, I took milk off your shopping list. I couldn't find cheese on it."
    assert (await say("whats on my list")).text == "You have two things on your shopping list: bread and butter."
    assert (await say("clear my shopping list")).text == "Done, I cleared two things from your shopping list."
    assert (await say("clear my shopping list")).text == "Your shopping list is already empty."


async def test_todo_list_is_separate_and_kept_with_the_notes(tmp_path):
    reg, _ = make_registry(tmp_path)
    await reg.handle_text("s", "remember that the spare key is under the mat")
    assert (await reg.handle_text("s", "add call the bank to my to do list")).text == \
        "Okay, I added call the bank to your to-do list."
    await reg.handle_text("s", "add milk to my shopping list")
    reg2, _ = make_registry(tmp_path)  # a restart: one store holds notes and both lists
    assert (await reg2.handle_text("s", "What's on my to-do list?")).text == \
        "You have one thing on your to-do list: call the bank."
    assert (await reg2.handle_text("s", "whats on my shopping list")).text == \
        "You have one thing on your shopping list: milk."
    assert (await reg2.handle_text("s", "forget all my notes")).text == "Done, I deleted one note."
    assert "milk" in (await reg2.handle_text("s", "whats on my shopping list")).text  # lists survive
    assert (await reg2.handle_text("s", "cross call the bank off my todo list")).text == \
        "Okay, I took call the bank off your to-do list."
    assert (await reg2.handle_text("s", "what's on my todo list")).text == "Your to-do list is empty."
    assert (await reg2.handle_text("s", "what did i ask you to remember")).text == \
        "You haven't asked me to remember anything yet."


async def test_list_tools(tmp_path):
    reg, _ = make_registry(tmp_path)
    r = await reg.call_tool("add_to_list", '{"item": "coffee", "list": "shopping"}')
    assert r.text == "Okay, I added coffee to your shopping list."
    r = await reg.call_tool("add_to_list", '{"item": "book flights", "list": "todo"}')
    assert r.text == "Okay, I added book flights to your to-do list."
    r = await reg.call_tool("read_list", '{"list": "todo"}')
    assert r.text == "You have one thing on your to-do list: book flights."
    r = await reg.call_tool("read_list", "{}")
    assert r.text == "You have one thing on your shopping list: coffee."


def test_list_helpers():
    assert [lists.list_name(v) for v in (None, "groceries", "to do", "to-do list", "todo", "garden")] == \
        ["shopping", "shopping", "todo", "todo", "todo", "shopping"]
    assert lists.split_items("some milk and a loaf of bread") == ["milk", "loaf of bread"]
    assert lists.split_items("") == []


async def test_calendar_add_from_slots_and_veto(tmp_path):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(tmp_path / "c.ics")]})
    r = await reg.handle_text("s", "put lunch with sam on my calendar for friday at noon")
    assert r.text == "Shall I add Lunch with sam on Friday, November 27th at noon to your calendar?"
    assert (await reg.handle_text("s", "yes")).text == \
        "Done. Lunch with sam is on your calendar for Friday, November 27th at noon."
    r = await reg.handle_text("s", "add lunch to my calendar tomorrow at noon")
    assert r.text == "Shall I add Lunch on Thursday, November 26th at noon to your calendar?"
    await reg.handle_text("s", "no")
    for text in ("add lunch to my calendar", "put the cat on my calendar", "schedule something"):
        assert reg.route(text) is None, text  # no time that parses: not a calendar request
    assert (await reg.handle_text("s", "am i free friday")).text == \
        "You have one thing on Friday: Lunch with sam at noon."
    r = await reg.call_tool("get_calendar_events", '{"day": "friday"}')
    assert r.text == "You have one thing on Friday: Lunch with sam at noon."


async def test_when_is_an_event_the_calendar_has(tmp_path):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(tmp_path / "c.ics")]})
    await reg.handle_text("s", "put lunch with sam on my calendar for friday at noon")
    await reg.handle_text("s", "yes")
    assert reg.route("when is my dentist appointment") is None  # a title the calendar never showed: the LLM
    assert reg.route("when is lunch with sam") is None  # titles are learnt by reading the calendar
    await reg.handle_text("s", "what's on my calendar this week")
    assert (await reg.handle_text("s", "When is lunch with Sam?")).text == "Lunch with sam is on Friday at noon."
    assert (await reg.handle_text("s", "what time is my lunch")).text == "Lunch with sam is on Friday at noon."
    assert reg.route("what time is it").plugin == "clock" and reg.route("when is christmas") is None


@pytest.mark.parametrize("text,read_only", [
    ("what's on my calendar tomorrow", True), ("what's my next appointment", True),
    ("add a dentist appointment next tuesday at 3 pm", False), ("what's the weather tomorrow", True),
    ("what's on my shopping list", True), ("add milk to my shopping list", False),
    ("remember that the wifi password is on the fridge", False), ("what did i ask you to remember", True),
    ("clear my shopping list", False),
])
def test_read_only(registry, text, read_only):
    assert registry.read_only("s", text) is read_only


def test_examples_route_to_their_own_plugin(registry):
    for name in ("calendar", "notes", "weather"):
        for example in registry.plugins[name].examples:
            match = registry.route(example)
            assert match is not None and match.plugin == name, example
