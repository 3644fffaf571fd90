"""Calendar over local ICS fixtures: recurring, all-day and other-zone events, speech summaries,
unreadable files, confirmed writes, and an atomic write that survives a crash mid-write."""
from __future__ import annotations

import os
import shutil

import pytest

from fixtures_skills import DATA, make_config, make_registry
from penny.doctor import FAIL, OK, WARN
from penny.plugins import calendar as calendar_mod
from penny.plugins import store


@pytest.fixture
def week_ics(tmp_path):
    path = tmp_path / "week.ics"
    shutil.copy(DATA / "week.ics", path)
    return path


async def test_tomorrow_with_recurring_all_day_and_other_zone(tmp_path, week_ics):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(week_ics)]})
    r = await reg.handle_text("s", "what's on my calendar tomorrow")
    # Thursday: the weekly standup (9:30 Berlin), an all-day offsite, a 9 am New York call = 3 pm Berlin.
    assert r.text == ("You have three things tomorrow: Company offsite, all day, Team standup at 9:30 am "
                      "and Call with the New York office at 3 pm.")
    assert r.plugin == "calendar"
    starts = {e["summary"]: e["start"] for e in r.data["events"]}
    assert starts["Call with the New York office"] == "2026-11-26T15:00:00+01:00"
    assert starts["Company offsite"] == "2026-11-26T00:00:00+01:00"


async def test_week_next_day_and_empty_day(tmp_path, week_ics):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(week_ics)]})
    r = await reg.handle_text("s", "what do i have next week")
    # Next week: standups Monday and Thursday (recurrence), the dentist on Tuesday (UTC -> Berlin).
    assert r.text == ("You have three things next week: Monday: Team standup at 9:30 am. "
                      "Tuesday: Dentist at 3 pm. Thursday: Team standup at 9:30 am.")
    r = await reg.handle_text("s", "what's on my calendar today")
    assert r.text == "You have nothing on your calendar today."
    r = await reg.handle_text("s", "what's my next appointment")
    assert r.text == "Next up is Company offsite, tomorrow, all day."


async def test_unreadable_ics_gives_a_sentence_not_a_crash(tmp_path, caplog):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(DATA / "broken.ics")]})
    r = await reg.handle_text("s", "what's on my calendar tomorrow")
    assert r.text == "The calendar file broken.ics looks damaged, so I couldn't read it."
    assert r.data["error"] == "source-failed"
    assert "broken.ics" in caplog.text


async def test_one_broken_source_is_reported_next_to_the_good_one(tmp_path, week_ics):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(week_ics), str(tmp_path / "missing-dir" / "x.ics"),
                                                           str(DATA / "broken.ics")]})
    r = await reg.handle_text("s", "what's on my calendar tomorrow")
    assert r.text.startswith("I can't find the calendar file x.ics. The calendar file broken.ics looks damaged, "
                             "so I couldn't read it. From the other calendars: You have three things tomorrow")


async def test_no_sources_and_bad_day(tmp_path):
    reg, _ = make_registry(tmp_path)
    r = await reg.handle_text("s", "what's on my calendar tomorrow")
    assert "haven't connected a calendar" in r.text
    r = await reg.call_tool("get_calendar_events", '{"day": "the twelfth of never"}')
    assert r.text.startswith("Sorry, I couldn't tell which day")


async def test_add_with_confirmation_then_read_back(tmp_path, week_ics):
    reg, clock = make_registry(tmp_path, calendar={"sources": [str(week_ics)]})
    r = await reg.handle_text("s", "add a dentist appointment next tuesday at 3 pm")
    assert r.needs_confirmation
    assert r.text == "Shall I add Dentist appointment on Tuesday, December 1st at 3 pm to your calendar?"
    r = await reg.handle_text("s", "no")
    assert r.text == "Okay, I won't." and "Dentist appointment" not in week_ics.read_text()

    await reg.handle_text("s", "add a dentist appointment next tuesday at 3 pm")
    await clock.advance(minutes=6)  # too late: the question has expired, "yes" goes to the LLM
    assert await reg.handle_text("s", "yes") is None
    await reg.handle_text("s", "add a dentist appointment next tuesday at 3 pm")
    r = await reg.handle_text("s", "yes, add it to my calendar")
    assert r.text == "Done. Dentist appointment is on your calendar for Tuesday, December 1st at 3 pm."
    assert "Team standup" in week_ics.read_text()  # the old events are kept
    r = await reg.handle_text("s", "what do i have on december 1st")
    assert "Dentist appointment at 3 pm" in r.text and "Dentist at 3 pm" in r.text

    # An all-day event, written to a new file, through the tool interface.
    target = tmp_path / "new" / "penny.ics"
    reg2, _ = make_registry(tmp_path, calendar={"sources": [str(target)], "confirm_writes": False})
    r = await reg2.call_tool("add_calendar_event", '{"title": "Vacation", "start": "2026-12-24"}')
    assert r.text == "Done. Vacation is on your calendar for Thursday, December 24th."
    r = await reg2.handle_text("s", "what's on my calendar on december 24th")
    assert r.text == "You have one thing on Thursday, December 24th: Vacation, all day."


async def test_bad_date_in_add_is_not_guessed(tmp_path, week_ics):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(week_ics)]})
    r = await reg.call_tool("add_calendar_event", '{"title": "Party", "start": "february 30th"}')
    assert r.text == "Sorry, I couldn't understand the date 'february 30th'."
    assert reg.pending("default") is None


async def test_local_write_is_atomic(tmp_path, week_ics, monkeypatch):
    reg, _ = make_registry(tmp_path, calendar={"sources": [str(week_ics)], "confirm_writes": False})
    before = week_ics.read_bytes()
    real_fsync = os.fsync

    def crash(fd):  # the new contents are half on disk when the "power goes out"
        raise OSError("simulated crash mid-write")

    monkeypatch.setattr(store.os, "fsync", crash)
    r = await reg.handle_text("s", "add a dentist appointment next tuesday at 3 pm")
    assert r.text == "Sorry, I couldn't save the event to week.ics." and r.plugin == "calendar"
    assert week_ics.read_bytes() == before
    assert [p.name for p in week_ics.parent.iterdir() if p.name.endswith(".tmp")] == []

    monkeypatch.setattr(store.os, "fsync", real_fsync)
    r = await reg.handle_text("s", "add a dentist appointment next tuesday at 3 pm")
    assert r.text.startswith("Done.")
    assert b"Dentist appointment" in week_ics.read_bytes()


def test_atomic_write_crash_between_write_and_rename(tmp_path, monkeypatch):
    target = tmp_path / "cal.ics"
    target.write_bytes(b"old")
    monkeypatch.setattr(store.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        store.atomic_write(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_doctor_checks(tmp_path, week_ics):
    checks = calendar_mod.doctor_checks(make_config())
    assert [c.status for c in checks] == [WARN] and not checks[0].required
    cfg = make_config(calendar={"sources": [str(week_ics), str(DATA / "broken.ics")]})
    checks = calendar_mod.doctor_checks(cfg)
    assert [c.status for c in checks] == [OK, FAIL]
    assert "damaged" in checks[1].fix


async def test_ics_url_source(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = (DATA / "week.ics").read_bytes()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path == "/private.ics":
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        reg, _ = make_registry(tmp_path, calendar={"sources": [f"{base}/week.ics"]})
        r = await reg.handle_text("s", "what's on my calendar tomorrow")
        assert r.text.startswith("You have three things tomorrow: Company offsite, all day")
        r = await reg.handle_text("s", "add lunch to my calendar tomorrow at noon")
        assert r.text.startswith("I don't have a calendar I can write to.")  # a feed is read-only
        reg2, _ = make_registry(tmp_path, calendar={"sources": [f"{base}/private.ics"]})
        r = await reg2.handle_text("s", "what's on my calendar tomorrow")
        assert r.text == "The calendar feed at 127.0.0.1 refused my sign-in."
    finally:
        httpd.shutdown()
        httpd.server_close()
