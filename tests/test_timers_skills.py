"""Timers and reminders fire on a controllable clock (no real waiting), survive restarts, and are
delivered through both `registry.alerts()` and `registry.on_alert`, even mid-conversation."""
from __future__ import annotations

import asyncio
import json

import pytest

from fixtures_skills import NOW, make_registry
from penny.plugins.base import ManualClock


async def _next_alert(stream, timeout=2.0):
    return await asyncio.wait_for(stream.__anext__(), timeout)


async def test_timers_fire_on_the_manual_clock(tmp_path):
    reg, clock = make_registry(tmp_path)
    reg.start()
    stream = reg.alerts()
    first = asyncio.ensure_future(_next_alert(stream))
    await asyncio.sleep(0)
    r = await reg.handle_text("s", "set a timer for ten minutes")
    assert r.text == "Okay, timer set for ten minutes." and r.plugin == "timers"
    r = await reg.handle_text("s", "set a 5 minute pasta timer")
    assert r.text == "Okay, pasta timer set for five minutes."

    await clock.advance(minutes=2, seconds=30)
    r = await reg.handle_text("s", "how much time is left on the pasta timer")
    assert r.text == "Two minutes and 30 seconds left on your pasta timer."
    assert not first.done()

    await clock.advance(minutes=3)
    alert = await first
    assert (alert.kind, alert.text) == ("timer", "Your pasta timer is done.")

    r = await reg.handle_text("s", "how much time is left")
    assert r.text == "Four minutes and 30 seconds left on your ten minute timer."
    await clock.advance(minutes=5)
    alert = await _next_alert(stream)
    assert alert.text == "Your ten minute timer is done."
    r = await reg.handle_text("s", "how much time is left")
    assert r.text == "You don't have any timers running."
    await stream.aclose()
    await reg.aclose()


async def test_cancel_and_several_timers(tmp_path):
    reg, clock = make_registry(tmp_path)
    reg.start()
    fired = []

    async def on_alert(alert):
        fired.append(alert)

    reg.on_alert = on_alert
    await reg.handle_text("s", "set a timer for 3 minutes called eggs")
    await reg.handle_text("s", "set a timer for 10 minutes called rice")
    r = await reg.handle_text("s", "cancel the timer")
    assert "Which one" in r.text and "eggs timer" in r.text
    r = await reg.handle_text("s", "cancel the eggs timer")
    assert r.text == "Cancelled your eggs timer."
    await clock.advance(minutes=4)
    assert fired == []
    r = await reg.handle_text("s", "cancel all timers")
    assert r.text == "Cancelled your rice timer."
    await clock.advance(minutes=20)
    assert fired == []
    await reg.aclose()


async def test_reminder_fires_mid_conversation(tmp_path):
    reg, clock = make_registry(tmp_path)
    reg.start()
    fired = []

    async def on_alert(alert):
        fired.append(alert)

    reg.on_alert = on_alert
    r = await reg.handle_text("s", "remind me to call my mom at 5 pm")
    assert r.text == "Okay, I'll remind you to call your mom at 5 pm."
    r = await reg.handle_text("s", "remind me in twenty minutes to check the oven")
    assert r.text == "Okay, I'll remind you to check the oven at 8:20 am."
    await clock.advance(minutes=20)
    assert [a.text for a in fired] == ["Reminder: check the oven."]
    # Another conversation is going on; the alert still arrives when due.
    assert (await reg.handle_text("s", "what's the date")).text == "Today is Wednesday, November 25th."
    await clock.set(NOW.replace(hour=17))
    assert [a.text for a in fired][-1] == "Reminder: call your mom."
    assert fired[-1].kind == "reminder"
    await reg.aclose()


async def test_reminder_bad_date_and_past(tmp_path):
    reg, _ = make_registry(tmp_path)
    r = await reg.handle_text("s", "remind me to water the plants on february 30th")
    assert "couldn't tell when" in r.text
    r = await reg.call_tool("set_reminder", json.dumps({"text": "x", "when": "2020-01-01T10:00:00"}))
    assert "already passed" in r.text


async def test_pending_timers_survive_a_restart(tmp_path):
    reg, clock = make_registry(tmp_path)
    reg.start()
    await reg.handle_text("s", "set a timer for 30 minutes called laundry")
    await reg.handle_text("s", "remind me to feed the cat at 9 am")
    await reg.aclose()

    # A new process a little later: the same data folder, a fresh clock.
    clock2 = ManualClock(NOW.replace(minute=10))
    reg2, _ = make_registry(tmp_path, clock2)
    r = await reg2.handle_text("s", "how much time is left on the laundry timer")
    assert r.text == "Twenty minutes left on your laundry timer."
    fired = []

    async def on_alert(alert):
        fired.append(alert.text)

    reg2.on_alert = on_alert
    reg2.start()
    await clock2.advance(minutes=20)
    assert fired == ["Your laundry timer is done."]
    await clock2.advance(minutes=30)
    assert fired[-1] == "Reminder: feed the cat."
    await reg2.aclose()


async def test_alert_missed_while_off_is_delivered_at_start(tmp_path):
    reg, _ = make_registry(tmp_path)
    await reg.handle_text("s", "set a timer for 5 minutes called tea")
    clock2 = ManualClock(NOW.replace(hour=11))
    reg2, _ = make_registry(tmp_path, clock2)
    stream = reg2.alerts()
    waiting = asyncio.ensure_future(_next_alert(stream))
    await asyncio.sleep(0)
    reg2.start()
    alert = await waiting
    assert alert.text == "Your tea timer finished while I was away."
    await stream.aclose()
    await reg2.aclose()


async def test_system_clock_fires_a_short_timer(tmp_path):
    from fixtures_skills import make_config
    from penny.plugins.loading import build_plugins

    reg = build_plugins(make_config(), data_dir=tmp_path)  # the real clock
    reg.start()
    stream = reg.alerts()
    waiting = asyncio.ensure_future(_next_alert(stream, timeout=10))
    await asyncio.sleep(0)
    assert (await reg.handle_text("s", "set a timer for 1 second")).text == "Okay, timer set for one second."
    assert (await waiting).text == "Your one second timer is done."
    await stream.aclose()
    await reg.aclose()


async def test_corrupt_timer_entries_are_dropped(tmp_path):
    (tmp_path / "data").mkdir()
    good = {"id": "a", "kind": "timer", "name": "soup", "due": "2026-11-25T08:05:00+01:00", "duration_s": 300}
    (tmp_path / "data" / "timers.json").write_text(json.dumps({"items": [{"kind": "timer", "due": "soon"}, good]}))
    reg, clock = make_registry(tmp_path)
    fired = []

    async def on_alert(alert):
        fired.append(alert.text)

    reg.on_alert = on_alert
    reg.start()
    await clock.advance(minutes=5)
    assert fired == ["Your soup timer is done."]
    await reg.aclose()


@pytest.mark.parametrize("said, answer", [
    ("remind me tomorrow at 9 about the car", "Okay, I'll remind you about the car tomorrow at 9 am."),
    ("remind me about the car tomorrow at 9", "Okay, I'll remind you about the car tomorrow at 9 am."),
    ("remind me at 5 pm that the oven is on", "Okay, I'll remind you that the oven is on at 5 pm."),
])
async def test_reminder_keeps_about_and_that(tmp_path, said, answer):
    reg, _ = make_registry(tmp_path)
    assert (await reg.handle_text("s", said)).text == answer
    listed = (await reg.handle_text("s", "what reminders do i have")).text
    assert " to about" not in listed and " to that" not in listed
    await reg.aclose()


@pytest.mark.parametrize("request_, answer, want", [
    ("set a timer", "ten minutes", "timer set for ten minutes"),
    ("remind me to call mom", "at 5 pm", "remind you to call mom at 5 pm"),
    ("take a note", "the bike lock is in the garage", "remember that the bike lock is in the garage"),
    ("remind me", "at 5 pm to call mom", "remind you to call mom at 5 pm"),
])
async def test_the_answer_to_penny_asking_for_a_missing_part_completes_the_request(tmp_path, request_, answer, want):
    """Penny asks what a half request lacks ("How long should the timer be?"); the answer alone does it."""
    reg, _ = make_registry(tmp_path)
    asked = await reg.handle_text("s", request_) or await reg.act("s", request_)
    assert asked is not None and ("?" in asked.text or "when" in asked.text)
    done = await reg.handle_text("s", answer)
    assert done is not None and want in done.text.lower()
    assert await reg.handle_text("s", answer) is None  # answered once: the same words again are no request
    await reg.aclose()


async def test_an_answer_too_late_or_a_new_request_is_not_taken_as_the_missing_part(tmp_path):
    reg, clock = make_registry(tmp_path)
    await reg.handle_text("s", "set a timer")
    assert (await reg.handle_text("s", "what time is it")).plugin == "clock"  # a request of its own
    assert await reg.handle_text("s", "ten minutes") is None  # the user moved on: the question is dropped
    await reg.handle_text("s", "set a timer")
    assert await reg.handle_text("other", "ten minutes") is None  # another room was not asked
    await clock.advance(minutes=2)
    assert await reg.handle_text("s", "ten minutes") is None  # a minute on, the question is forgotten
    assert reg.plugins["timers"].state.pending("timer") == []
    await reg.aclose()
