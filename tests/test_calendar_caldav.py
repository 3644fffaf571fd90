"""Calendar against a real Radicale CalDAV server started on 127.0.0.1 by the test."""
from __future__ import annotations

import pytest

from fixtures_skills import make_config, make_registry, radicale  # noqa: F401  (fixture)
from penny.doctor import FAIL, OK
from penny.plugins import calendar as calendar_mod

pytestmark = pytest.mark.slow

WEEKLY_NY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Penny tests//EN
BEGIN:VEVENT
UID:yoga@penny-tests
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/New_York:20261104T120000
DTEND;TZID=America/New_York:20261104T130000
RRULE:FREQ=WEEKLY
SUMMARY:Yoga with Ana
END:VEVENT
END:VCALENDAR
"""


def _settings(radicale, cal_url, **extra):  # noqa: F811
    return {"sources": [cal_url], "username": radicale.user, "password": radicale.password, **extra}


async def test_create_and_read_back(tmp_path, radicale):  # noqa: F811
    url = radicale.make_calendar("home")
    reg, _ = make_registry(tmp_path, calendar=_settings(radicale, url))
    r = await reg.handle_text("s", "add a dentist appointment next tuesday at 3 pm")
    assert r.needs_confirmation
    r = await reg.handle_text("s", "yes")
    assert r.text == "Done. Dentist appointment is on your calendar for Tuesday, December 1st at 3 pm."
    r = await reg.handle_text("s", "what do i have next tuesday")
    assert r.text == "You have one thing on Tuesday: Dentist appointment at 3 pm."
    assert r.data["events"][0]["start"] == "2026-12-01T15:00:00+01:00"

    # All-day event through the tool, read back as "all day".
    r = await reg.call_tool("add_calendar_event", '{"title": "Vacation", "start": "2026-11-27", "all_day": true}')
    assert r.needs_confirmation
    r = await reg.handle_text("default", "yes")
    assert r.text == "Done. Vacation is on your calendar for Friday, November 27th."
    r = await reg.handle_text("s", "what's on my calendar on friday")
    assert r.text == "You have one thing on Friday: Vacation, all day."


async def test_weekly_recurring_event_in_another_time_zone(tmp_path, radicale):  # noqa: F811
    import caldav

    url = radicale.make_calendar("classes")
    client = caldav.DAVClient(url=url, username=radicale.user, password=radicale.password, enable_rfc6764=False)
    client.calendar(url=url).add_event(WEEKLY_NY)
    reg, _ = make_registry(tmp_path, calendar=_settings(radicale, url))
    # Noon in New York is 6 pm in Berlin; the series started three weeks before "now".
    r = await reg.handle_text("s", "what's on my calendar today")
    assert r.text == "You have one thing today: Yoga with Ana at 6 pm."
    r = await reg.handle_text("s", "what do i have next week")
    assert r.text == "You have one thing next week: Wednesday: Yoga with Ana at 6 pm."
    r = await reg.handle_text("s", "what's my next appointment")
    assert r.text == "Next up is Yoga with Ana, at 6 pm."


async def test_account_url_reads_every_calendar(tmp_path, radicale):  # noqa: F811
    work = radicale.make_calendar("work")
    play = radicale.make_calendar("play")
    account = radicale.url + radicale.user + "/"
    for url, title in ((work, "Review"), (play, "Climbing")):
        reg, _ = make_registry(tmp_path, calendar=_settings(radicale, url, confirm_writes=False))
        r = await reg.call_tool("add_calendar_event", f'{{"title": "{title}", "start": "2026-11-28T10:00:00"}}')
        assert r.text.startswith("Done."), r.text
    reg, _ = make_registry(tmp_path, calendar=_settings(radicale, account))
    r = await reg.handle_text("s", "what's on my calendar on saturday")
    assert r.text in ("You have two things on Saturday: Review at 10 am and Climbing at 10 am.",
                      "You have two things on Saturday: Climbing at 10 am and Review at 10 am.")


async def test_auth_failure_is_a_spoken_sentence(tmp_path, radicale, caplog):  # noqa: F811
    url = radicale.calendar_url("home")
    reg, _ = make_registry(tmp_path, calendar={"sources": [url], "username": radicale.user, "password": "wrong"})
    r = await reg.handle_text("s", "what's on my calendar tomorrow")
    assert r.text == ("The calendar server at 127.0.0.1 didn't accept my username and password. "
                      "Please check them in the calendar settings.")
    assert "sign-in refused" in caplog.text
    r = await reg.handle_text("s", "add lunch to my calendar tomorrow at noon")
    r = await reg.handle_text("s", "yes")
    assert r.text.startswith("Sorry, I couldn't add it. The calendar server at 127.0.0.1 didn't accept")

    checks = calendar_mod.doctor_checks(make_config(calendar={"sources": [url], "username": "penny",
                                                              "password": "wrong"}))
    assert [c.status for c in checks] == [FAIL]
    good = calendar_mod.doctor_checks(make_config(calendar=_settings(radicale, url)))
    assert [c.status for c in good] == [OK]


async def test_unreachable_server(tmp_path):
    from fixtures_skills import free_port

    reg, _ = make_registry(tmp_path, calendar={"sources": [f"http://127.0.0.1:{free_port()}/dav/"]})
    r = await reg.handle_text("s", "what's on my calendar tomorrow")
    assert r.text == "I can't reach the calendar server at 127.0.0.1."
