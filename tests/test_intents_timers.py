"""Timers and reminders through hassil: many phrasings per intent (typed and transcript-style) with their
typed slots, questions that must not become a timer, and pause / resume / add and take time off."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from fixtures_skills import NOW, make_registry
from penny.plugins.base import ManualClock

M = lambda n: timedelta(minutes=n)  # noqa: E731
S = lambda n: timedelta(seconds=n)  # noqa: E731
H = lambda n: timedelta(hours=n)  # noqa: E731

ROUTES = [
    # set_timer: Home Assistant's HassStartTimer, digits and words
    ("Set a timer for 10 minutes.", "set_timer", {"duration": M(10)}),
    ("set a timer for ten minutes", "set_timer", {"duration": M(10)}),
    ("Set a timer for forty five minutes.", "set_timer", {"duration": M(45)}),
    ("Set a timer for 5 minutes and 30 seconds.", "set_timer", {"duration": S(330)}),
    ("set a timer for 1 hour and 20 minutes", "set_timer", {"duration": M(80)}),
    ("Start a 20 minute timer.", "set_timer", {"duration": M(20)}),
    ("set a two minute timer", "set_timer", {"duration": M(2)}),
    ("Set a 1 hour timer.", "set_timer", {"duration": H(1)}),
    ("ten minute timer", "set_timer", {"duration": M(10)}),
    ("timer for 90 seconds", "set_timer", {"duration": S(90)}),
    ("create a timer for 3 minutes", "set_timer", {"duration": M(3)}),
    ("Hey Penny, set a timer for 10 minutes.", "set_timer", {"duration": M(10)}),
    ("Penny, set a timer for five minutes please.", "set_timer", {"duration": M(5)}),
    ("Can you set a timer for 10 minutes?", "set_timer", {"duration": M(10)}),
    ("could you please set a timer for three minutes", "set_timer", {"duration": M(3)}),
    ("set a timer for 10 minutes called eggs", "set_timer", {"duration": M(10), "name": "eggs"}),
    ("set a timer called pasta for 10 minutes", "set_timer", {"duration": M(10), "name": "pasta"}),
    # set_timer: Penny's phrasings ({duration} free text, names before "timer")
    ("set a 5 minute pasta timer", "set_timer", {"duration": M(5), "name": "pasta"}),
    ("start a 5-minute egg timer", "set_timer", {"duration": M(5), "name": "egg"}),
    ("set a 90 second tea timer", "set_timer", {"duration": S(90), "name": "tea"}),
    ("set a pasta timer for ten minutes", "set_timer", {"duration": M(10), "name": "pasta"}),
    ("set a timer for 5 minutes for the pasta", "set_timer", {"duration": M(5), "name": "pasta"}),
    ("set a timer for an hour and a half called roast", "set_timer", {"duration": M(90), "name": "roast"}),
    ("set a timer for an hour and a half", "set_timer", {"duration": M(90)}),
    ("set a timer for half an hour", "set_timer", {"duration": M(30)}),
    ("set a timer for 2 and a half hours", "set_timer", {"duration": M(150)}),
    ("set a timer for 1 hour 15 minutes", "set_timer", {"duration": M(75)}),
    ("set a timer for a minute", "set_timer", {"duration": M(1)}),
    ("set timer 5 minutes", "set_timer", {"duration": M(5)}),
    ("a ten minute timer", "set_timer", {"duration": M(10)}),
    ("time eight minutes", "set_timer", {"duration": M(8)}),
    ("time the eggs for 7 minutes", "set_timer", {"duration": M(7), "name": "eggs"}),
    ("I need a timer for 10 minutes", "set_timer", {"duration": M(10)}),
    ("give me a 3 minute timer", "set_timer", {"duration": M(3)}),
    ("countdown for 3 minutes", "set_timer", {"duration": M(3)}),
    ("a countdown 5 minutes", "set_timer", {"duration": M(5)}),
    ("set me a timer ten minutes for the pasta", "set_timer", {"duration": M(10), "name": "pasta"}),
    ("put on a timer for 12 minutes", "set_timer", {"duration": M(12)}),
    ("set a quarter of an hour timer", "set_timer", {"duration": M(15)}),
    # set_timer_bare
    ("set a timer", "set_timer_bare", {}),
    ("Start a timer.", "set_timer_bare", {}),
    ("set a pasta timer", "set_timer_bare", {"name": "pasta"}),
    # time_left
    ("How much time is left on my timer?", "time_left", {}),
    ("how much time is left", "time_left", {}),
    ("How long is left on the timer?", "time_left", {}),
    ("how much time do i have left", "time_left", {}),
    ("how much longer on the timer", "time_left", {}),
    ("when does my timer go off", "time_left", {}),
    ("When will the timer be done?", "time_left", {}),
    ("how long until my timer goes off", "time_left", {}),
    ("hows the timer doing", "time_left", {}),
    ("is the timer done yet", "time_left", {}),
    ("how many minutes are left on the timer", "time_left", {}),
    ("timer status", "time_left", {}),
    ("What's the status of my timer?", "time_left", {}),
    ("what's the timer status", "time_left", {}),
    ("pasta timer status", "time_left", {"name": "pasta"}),
    ("is my timer still running", "time_left", {}),
    ("How much time is left on the pasta timer?", "time_left", {"name": "pasta"}),
    ("What's the time left on the pasta timer?", "time_left", {"name": "pasta"}),
    ("how long until the pasta timer is done", "time_left", {"name": "pasta"}),
    ("check on the pasta timer", "time_left", {"name": "pasta"}),
    ("how much longer on the pasta timer", "time_left", {"name": "pasta"}),
    ("how much time is left on the 10 minute timer", "time_left", {"start_duration": M(10)}),
    # list
    ("What timers do I have?", "list", {}),
    ("what timers are running", "list", {}),
    ("what reminders do i have", "list", {}),
    ("which reminders are set", "list", {}),
    ("list my reminders", "list", {}),
    ("show me my timers", "list", {}),
    ("do i have any timers running", "list", {}),
    ("are there any timers running", "list", {}),
    ("read me my timers and reminders", "list", {}),
    # cancel
    ("Cancel my timer.", "cancel", {}),
    ("Stop the timer.", "cancel", {}),
    ("turn off the timer", "cancel", {}),
    ("get rid of the timer", "cancel", {}),
    ("kill the timer", "cancel", {}),
    ("Never mind the timer, cancel it.", "cancel", {}),
    ("Clear the timer, I don't need it anymore.", "cancel", {}),
    ("never mind the timer", "cancel", {}),
    ("cancel the pasta timer", "cancel", {"name": "pasta"}),
    ("delete the pasta timer", "cancel", {"name": "pasta"}),
    ("cancel the timer called pasta", "cancel", {"name": "pasta"}),
    ("cancel the timer for pasta", "cancel", {"name": "pasta"}),
    ("stop the 5 minute timer", "cancel", {"start_duration": M(5)}),
    ("cancel the reminder", "cancel", {"kind": "reminder"}),
    ("cancel the reminder to call mom", "cancel", {"kind": "reminder", "name": "call mom"}),
    ("don't remind me to call mom", "cancel", {"kind": "reminder", "name": "call mom"}),
    # cancel_all
    ("cancel all timers", "cancel_all", {}),
    ("Cancel all the timers.", "cancel_all", {}),
    ("cancel all of my timers", "cancel_all", {}),
    ("cancel both timers", "cancel_all", {}),
    ("delete all timers", "cancel_all", {}),
    ("cancel all reminders", "cancel_all", {"kind": "reminder"}),
    ("delete my reminders", "cancel_all", {"kind": "reminder"}),
    # pause / resume
    ("Pause the timer.", "pause", {}),
    ("pause my pasta timer", "pause", {"name": "pasta"}),
    ("pause the 10 minute timer", "pause", {"start_duration": M(10)}),
    ("put the timer on hold", "pause", {}),
    ("Resume the timer.", "resume", {}),
    ("continue the timer", "resume", {}),
    ("unpause the pasta timer", "resume", {"name": "pasta"}),
    ("start the timer again", "resume", {}),
    # add_time / remove_time
    ("Add 5 minutes to the timer.", "add_time", {"duration": M(5)}),
    ("add five minutes to my pasta timer", "add_time", {"duration": M(5), "name": "pasta"}),
    ("add 30 seconds to the timer", "add_time", {"duration": S(30)}),
    ("increase the timer by 2 minutes", "add_time", {"duration": M(2)}),
    ("add an hour and a half to the timer", "add_time", {"duration": M(90)}),
    ("add another minute to the timer", "add_time", {"duration": M(1)}),
    ("give the timer another 2 minutes", "add_time", {"duration": M(2)}),
    ("Take 2 minutes off the timer.", "remove_time", {"duration": M(2)}),
    ("remove 1 minute from the pasta timer", "remove_time", {"duration": M(1), "name": "pasta"}),
    ("subtract 30 seconds from the timer", "remove_time", {"duration": S(30)}),
    ("decrease the timer by 5 minutes", "remove_time", {"duration": M(5)}),
    # reminder: the request's own words, parsed by the handler
    ("remind me to call mom at 5 pm", "reminder", {"rest": "to call mom at 5 pm"}),
    ("Remind me at 5 p.m. to call Mom.", "reminder", {"rest": "at 5 pm to call mom"}),
    ("remind me tomorrow to take out the trash", "reminder", {"rest": "tomorrow to take out the trash"}),
    ("remind me in twenty minutes to check the oven", "reminder", {"rest": "in twenty minutes to check the oven"}),
    ("Remind me in an hour to check the laundry.", "reminder", {"rest": "in an hour to check the laundry"}),
    ("in two hours remind me to stretch", "reminder", {"when": "in two hours", "rest": "to stretch"}),
    ("tomorrow morning remind me to water the plants", "reminder",
     {"when": "tomorrow morning", "rest": "to water the plants"}),
    ("set a reminder to call bob at 6 pm", "reminder", {"rest": "to call bob at 6 pm"}),
    ("set a reminder for tomorrow at 8 to call bob", "reminder", {"rest": "for tomorrow at 8 to call bob"}),
    ("Create a reminder to feed the cat at 6 pm.", "reminder", {"rest": "to feed the cat at 6 pm"}),
    ("don't let me forget to buy milk tomorrow", "reminder", {"rest": "to buy milk tomorrow"}),
    ("remind me that the plumber comes at 2 pm", "reminder", {"rest": "that the plumber comes at 2 pm"}),
]

NOT_TIMERS = [
    "set up the timer for 4 minutes",  # Whisper's "set the timer": no timer named "up the"
    "set a t timer for 4 minutes",  # "a tea timer" misheard: no timer named "t"
    "how do i set a timer on my phone",
    "tell me a joke about timers",
    "what time did the titanic sink",
    "set the table",
    "remind me what a calendar year is",
    "can you remind me what a calendar year is",
    "what is a timer",
    "timer",
    "how long is a marathon",
    "how much longer until christmas",
    "how long do i boil an egg",
    "what timer apps are good",
    "set a timer on the oven",
    "time flies",
    "start the car",
    "add two and three",
    "remind me",
    "stop",
    "cancel",
    "pause the music",
    "resume",
    "add 5 minutes",
    "set a reminder",
    "what time is it",
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg, _ = make_registry(tmp_path_factory.mktemp("timers"))
    return reg


@pytest.mark.parametrize("text,intent,slots", ROUTES)
def test_timer_phrasings(registry, text, intent, slots):
    match = registry.route(text)
    assert match is not None, f"{text!r} was not recognised"
    assert (match.plugin, match.intent, match.slots) == ("timers", intent, slots)


@pytest.mark.parametrize("text", NOT_TIMERS)
def test_not_a_timer(registry, text):
    match = registry.route(text)
    assert match is None or match.plugin != "timers", f"{text!r} became {match}"


async def _say(reg, text: str) -> str:
    return (await reg.handle_text("s", text)).text


async def test_a_timer_named_without_the_word_timer_only_while_it_runs(tmp_path):
    reg, _ = make_registry(tmp_path)
    asked = ["how long until the pasta is done", "how much longer for the pasta", "whats the time left on the pasta",
             "how much time do i have remaining on the pasta"]
    assert [reg.route(t) for t in asked] == [None] * len(asked)
    await _say(reg, "set a timer for 10 minutes called pasta")
    for text in asked:
        match = reg.route(text)
        assert (match.intent, match.slots) == ("time_left", {"running": "pasta"}), text
    assert await _say(reg, asked[0]) == "Ten minutes left on your pasta timer."
    assert reg.route("how long until christmas") is None and reg.route("how much longer until christmas") is None
    await reg.aclose()


async def test_pause_resume_and_time_left(tmp_path):
    reg, clock = make_registry(tmp_path)
    reg.start()
    fired = []

    async def on_alert(alert):
        fired.append(alert.text)

    reg.on_alert = on_alert
    assert await _say(reg, "set a 10 minute pasta timer") == "Okay, pasta timer set for ten minutes."
    await clock.advance(minutes=4)
    assert await _say(reg, "pause the timer") == "Paused your pasta timer with six minutes left."
    assert await _say(reg, "pause the pasta timer") == "Your pasta timer is already paused."
    await clock.advance(minutes=30)  # a paused timer does not fire
    assert fired == []
    assert await _say(reg, "how much time is left") == "Your pasta timer is paused with six minutes left."
    assert await _say(reg, "what timers do i have") == "Your pasta timer is paused with six minutes left."
    assert await _say(reg, "resume the timer") == "Resumed your pasta timer; six minutes to go."
    assert await _say(reg, "resume the timer") == "Your pasta timer isn't paused."
    await clock.advance(minutes=5)
    assert await _say(reg, "how much time is left on the pasta timer") == "One minute left on your pasta timer."
    await clock.advance(minutes=1)
    assert fired == ["Your pasta timer is done."]
    assert await _say(reg, "pause the timer") == "You don't have any timers to pause."
    await reg.aclose()


async def test_add_and_take_time(tmp_path):
    reg, clock = make_registry(tmp_path)
    reg.start()
    fired = []

    async def on_alert(alert):
        fired.append(alert.text)

    reg.on_alert = on_alert
    await _say(reg, "set a timer for 10 minutes")
    assert await _say(reg, "add 5 minutes to the timer") == \
        "Added five minutes to your ten minute timer; fifteen minutes left."
    assert await _say(reg, "take two minutes off the timer") == \
        "Took two minutes off your ten minute timer; thirteen minutes left."
    await clock.advance(minutes=12)
    assert fired == []
    await clock.advance(minutes=1)
    assert fired == ["Your ten minute timer is done."]

    # a paused timer changes its time left; taking more than is left ends a running one
    await _say(reg, "set a timer for 3 minutes called tea")
    await _say(reg, "pause the tea timer")
    assert await _say(reg, "add an hour and a half to the tea timer") == \
        "Added one hour and 30 minutes to your tea timer; one hour and 33 minutes left."
    assert await _say(reg, "resume the tea timer") == "Resumed your tea timer; one hour and 33 minutes to go."
    assert await _say(reg, "remove 2 hours from the tea timer") == \
        "Took two hours off your tea timer; it's done."
    await clock.advance(seconds=1)
    assert fired[-1] == "Your tea timer is done."
    await reg.aclose()


async def test_which_timer_and_by_duration(tmp_path):
    reg, _ = make_registry(tmp_path)
    await _say(reg, "set a timer for 10 minutes called eggs")
    await _say(reg, "set a timer for 5 minutes")
    assert await _say(reg, "pause the timer") == \
        "You have two timers: five minute timer and eggs timer. Which one should I pause?"
    assert await _say(reg, "pause the 5 minute timer") == "Paused your five minute timer with five minutes left."
    assert await _say(reg, "add 2 minutes to the eggs timer") == \
        "Added two minutes to your eggs timer; twelve minutes left."
    assert await _say(reg, "cancel the 5 minute timer") == "Cancelled your five minute timer."
    assert await _say(reg, "how much time is left on the rice timer") == "You don't have a rice timer running."
    assert await _say(reg, "cancel the reminder") == "You don't have any reminders to cancel."
    await reg.aclose()


async def test_paused_timer_survives_a_restart(tmp_path):
    reg, clock = make_registry(tmp_path)
    await _say(reg, "set a timer for 20 minutes called bread")
    await clock.advance(minutes=5)
    await _say(reg, "pause the bread timer")
    await reg.aclose()
    saved = json.loads((tmp_path / "data" / "timers.json").read_text())["items"]
    assert saved[0]["left_s"] == 900

    clock2 = ManualClock(NOW + timedelta(hours=2))
    reg2, _ = make_registry(tmp_path, clock2)
    fired = []

    async def on_alert(alert):
        fired.append(alert.text)

    reg2.on_alert = on_alert
    reg2.start()
    await asyncio.sleep(0)
    assert fired == []  # not "finished while I was away": it was paused
    assert await _say(reg2, "how much time is left") == "Your bread timer is paused with fifteen minutes left."
    await _say(reg2, "continue the bread timer")
    await clock2.advance(minutes=15)
    assert fired == ["Your bread timer is done."]
    await reg2.aclose()


async def test_reminders_cancel_by_name_and_all(tmp_path):
    reg, _ = make_registry(tmp_path)
    await _say(reg, "remind me to call my mom at 5 pm")
    await _say(reg, "in two hours remind me to stretch")
    assert "Which one" in await _say(reg, "cancel the reminder")
    assert await _say(reg, "cancel my reminder to call my mom") == "Cancelled your reminder."
    assert await _say(reg, "what reminders do i have") == "A reminder at 10 am to stretch."
    assert await _say(reg, "cancel all reminders") == "Cancelled your reminder."
    assert await _say(reg, "what timers do i have") == "You have no timers or reminders."
    await reg.aclose()


async def test_tools_take_strings(tmp_path):
    reg, clock = make_registry(tmp_path)
    r = await reg.call_tool("set_timer", json.dumps({"duration": "an hour and a half", "name": "roast"}))
    assert r.text == "Okay, roast timer set for one hour and 30 minutes."
    r = await reg.call_tool("change_timer", json.dumps({"action": "add", "duration": "10 minutes", "name": "roast"}))
    assert r.text == "Added ten minutes to your roast timer; one hour and 40 minutes left."
    r = await reg.call_tool("change_timer", json.dumps({"action": "pause"}))
    assert r.text == "Paused your roast timer with one hour and 40 minutes left."
    r = await reg.call_tool("change_timer", json.dumps({"action": "resume", "name": "roast"}))
    assert r.text.startswith("Resumed your roast timer")
    r = await reg.call_tool("cancel_timer", json.dumps({"name": "roast"}))
    assert r.text == "Cancelled your roast timer."
    await reg.aclose()
