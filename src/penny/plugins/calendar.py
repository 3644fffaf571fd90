"""Calendar skill: read today / tomorrow / a day / this week / what's next; add events after a yes.

Sources (local .ics, ICS URLs, CalDAV) are in calendar_sources.py; their blocking I/O runs in a
worker thread so the event loop stays free.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from penny.health import FAIL, OK, WARN, Check
from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.calendar_sources import CalendarError, Event, Source, make_source, new_vevent
from penny.intents.slots import as_day, as_when
from penny.plugins.dates import DayRange, When, parse_when, split_what_when
from penny.plugins.speech import WEEKDAYS, format_date, format_time, join_list, plural, when_label

log = logging.getLogger("penny.plugins.calendar")

MAX_SPOKEN = 6
_CAL_WORDS = {"calendar", "schedule", "agenda", "diary"}


def names_calendar(title: str) -> bool:
    """'lunch to my calendar': the title swallowed the "on my calendar" of a longer sentence."""
    words = title.split()
    for i, w in enumerate(words):
        before = [x for x in words[max(0, i - 2):i] if x not in ("the", "my", "our")]
        if w in _CAL_WORDS and before and before[-1] in ("to", "on", "in", "into"):
            return True
    return False


def split_event(text: str, now: datetime) -> tuple[str, When] | None:
    """'dentist appointment next tuesday at 3 pm' -> ('dentist appointment', When(...))."""
    found = split_what_when(text.split(), now)
    if found is None:
        return None
    what = found[0].removesuffix(" for").strip()
    return (what, found[1]) if what else None


def summarize(events: list[Event], rng: DayRange, now: datetime) -> str:
    label = rng.label
    if not events:
        return f"You have nothing on your calendar {label}."
    events = sorted(events, key=lambda e: (e.start.date(), not e.all_day, e.start))
    multi_day = (rng.end - rng.start) > timedelta(days=1)

    def item(e: Event) -> str:
        return f"{e.summary}, all day" if e.all_day else f"{e.summary} at {format_time(e.start)}"

    head = f"You have {plural(len(events), 'thing')} {label}"
    shown = events[:MAX_SPOKEN]
    if not multi_day:
        body = join_list([item(e) for e in shown])
    else:
        days: dict = {}
        for e in shown:
            days.setdefault(max(e.start, rng.start).date(), []).append(item(e))
        body = ". ".join(f"{WEEKDAYS[d.weekday()].capitalize()}: {join_list(v)}" for d, v in days.items())
    more = f", and {plural(len(events) - len(shown), 'more thing')}" if len(events) > len(shown) else ""
    return f"{head}: {body}{more}."


class CalendarPlugin(Plugin):
    name = "calendar"
    description = "Read and add events in the user's calendars (local ICS, ICS URLs, CalDAV)."
    keywords = ("calendar", "schedule", "appointment", "appointments", "meeting", "meetings")
    examples = ("What's on my calendar today?", "What's on my calendar tomorrow?", "Do I have any meetings today?",
                "Do I have any meetings tomorrow?", "What's my next appointment?", "What's next on my calendar?",
                "What do I have this week?")

    def __init__(self, ctx):
        super().__init__(ctx)
        s = ctx.settings
        self.sources: list[Source] = [make_source(spec, s.username, s.password) for spec in s.sources]
        self._titles: list[str] = []  # titles seen in the last reads, newest first (for vocabulary())

    def vocabulary(self) -> list[str]:
        return self._titles[:12]

    async def start(self) -> None:
        """Read the coming fortnight once so recognition knows the titles before the first question."""
        if self.sources:
            now = self.ctx.now()
            await self.fetch(now - timedelta(days=1), now + timedelta(days=14))

    # ------------------------------------------------------------ wiring

    def intents(self) -> list[Intent]:
        # Sentences: penny/intents/sentences/en/calendar.yaml. {day} arrives as a DayRange.
        ok_add = lambda s: self._parse_add(s) is not None  # noqa: E731
        return [Intent("next", "PennyCalendarNext", self._next, read_only=True),
                Intent("read", "PennyCalendarRead", self._read, read_only=True),
                Intent("add", "PennyCalendarAdd", self._add, accept=ok_add),
                # "when is my dentist appointment": only for a title the calendar has shown (else the LLM)
                Intent("find", "PennyCalendarFind", self._next, read_only=True,
                       accept=lambda s: any(_titled(s["event"], t) for t in self._titles))]

    def tools(self) -> list[Tool]:
        return [
            Tool("get_calendar_events", "List the user's calendar events for a day or span.",
                 {"type": "object", "properties": {"day": {"type": "string", "description":
                  "'today', 'tomorrow', 'this week', 'next week', a weekday, or a date like 2026-12-24"}}},
                 lambda a: self._read({"day": str(a.get("day") or "today")}), read_only=True),
            Tool("add_calendar_event", "Add an event to the user's calendar (the user is asked to confirm).",
                 {"type": "object", "properties": {
                     "title": {"type": "string"},
                     "start": {"type": "string", "description": "ISO 8601 local time, or words like 'next tuesday at 3 pm'"},
                     "duration_minutes": {"type": "integer", "default": 60},
                     "all_day": {"type": "boolean", "default": False}}, "required": ["title", "start"]},
                 self._add_tool),
        ]

    # ------------------------------------------------------------ reading

    async def fetch(self, start: datetime, end: datetime) -> tuple[list[Event], list[str]]:
        """Events from every source, plus one spoken sentence per source that failed."""
        results = await asyncio.gather(*(asyncio.to_thread(src.events, start, end, self.ctx.tz)
                                         for src in self.sources), return_exceptions=True)
        events, problems = [], []
        for src, res in zip(self.sources, results):
            if isinstance(res, BaseException):
                spoken = res.spoken if isinstance(res, CalendarError) else f"I couldn't read {src.name}."
                log.warning("calendar source %s failed: %s", src.name, res)
                problems.append(spoken)
            else:
                events += res
        self._titles = list(dict.fromkeys([e.summary for e in events if e.summary] + self._titles))[:50]
        return events, problems

    def _no_sources(self) -> SkillResult | None:
        if not self.sources:
            return SkillResult("You haven't connected a calendar yet. Add an ICS file or a CalDAV address to "
                               "the calendar sources in your settings.", {"error": "no-sources"})
        return None

    async def _read(self, slots: dict) -> SkillResult:
        now = self.ctx.now()
        rng = as_day(slots.get("day"), now)
        if rng is None:
            return SkillResult(f"Sorry, I couldn't tell which day '{slots.get('day')}' is.", {"error": "bad-date"})
        if (r := self._no_sources()) is not None:
            return r
        events, problems = await self.fetch(rng.start, rng.end)
        data = {"events": [_event_dict(e) for e in events], "range": [rng.start.isoformat(), rng.end.isoformat()]}
        if problems and not events:
            return SkillResult(" ".join(problems), {**data, "error": "source-failed"})
        text = summarize(events, rng, now)
        if problems:  # never present a partial calendar as the whole truth
            text = " ".join(problems) + " From the other calendars: " + text
        return SkillResult(text, data)

    async def _next(self, slots: dict) -> SkillResult:
        if (r := self._no_sources()) is not None:
            return r
        now = self.ctx.now()
        events, problems = await self.fetch(now, now + timedelta(days=60))
        title = slots.get("event")
        upcoming = sorted((e for e in events if (e.start >= now or (e.all_day and e.end > now))
                           and (not title or _titled(title, e.summary))), key=lambda e: e.start)
        if not upcoming:
            text = " ".join(problems) if problems else (f"I don't see {title} on your calendar in the next two "
                                                        "months." if title else
                                                        "There's nothing on your calendar in the next two months.")
            return SkillResult(text, {"events": []})
        e = upcoming[0]
        when = (f"{when_label(e.start, now).split(' at ')[0]}, all day" if e.all_day else when_label(e.start, now))
        text = f"{e.summary} is {when}." if title else f"Next up is {e.summary}, {when}."
        return SkillResult((" ".join(problems) + " " + text).strip(), {"events": [_event_dict(e)]})

    # ------------------------------------------------------------ writing

    def _parse_add(self, slots: dict) -> tuple[str, When] | None:
        """{event} is the title, with its time unless {at} ("... on my calendar for friday") holds it."""
        now = self.ctx.now()
        if slots.get("at"):
            when = as_when(slots["at"], now)
            return (slots.get("event", ""), when) if when and slots.get("event") else None
        found = split_event(slots.get("event", ""), now)
        return None if found is None or names_calendar(found[0]) else found

    async def _add(self, slots: dict) -> SkillResult:
        parsed = self._parse_add(slots)
        if parsed is None:
            return SkillResult("Sorry, I couldn't tell when that should be. Try: add dentist next Tuesday at 3 pm.",
                               {"error": "bad-date"})
        what, when = parsed
        return await self._propose(what, when.start, None, not when.has_time)

    async def _add_tool(self, args: dict) -> SkillResult:
        title, raw = str(args.get("title") or "").strip(), str(args.get("start") or "")
        try:
            start = datetime.fromisoformat(raw)
            start = start.replace(tzinfo=self.ctx.tz) if start.tzinfo is None else start.astimezone(self.ctx.tz)
            has_time = "T" in raw or " " in raw.strip()
        except ValueError:
            when = parse_when(raw, self.ctx.now())
            if when is None:
                return SkillResult(f"Sorry, I couldn't understand the date '{raw}'.", {"error": "bad-date"})
            start, has_time = when.start, when.has_time
        all_day = bool(args.get("all_day")) or not has_time
        minutes = args.get("duration_minutes") or 60
        end = None if all_day else start + timedelta(minutes=int(minutes))
        return await self._propose(title or "an event", start, end, all_day)

    async def _propose(self, what: str, start: datetime, end: datetime | None, all_day: bool) -> SkillResult:
        now = self.ctx.now()
        if self._target() is None:
            return SkillResult("I don't have a calendar I can write to. Add a local .ics file or a CalDAV "
                               "calendar to your calendar settings.", {"error": "read-only"})
        summary = what[:1].upper() + what[1:]
        if all_day:
            when = f"on {format_date(start.date())}, all day"
        else:
            when = f"on {format_date(start.date())} at {format_time(start)}"
        if (start.date() < now.date()) if all_day else (start < now):
            return SkillResult(f"{when_label(start, now).capitalize()} has already passed. When should it be?",
                               {"error": "past"})
        action = {"summary": summary, "start": start.isoformat(), "all_day": all_day,
                  "end": end.isoformat() if end else None}
        if self.ctx.settings.confirm_writes:
            return SkillResult(f"Shall I add {summary} {when} to your calendar?",
                               {"action": action}, needs_confirmation=True)
        return await self.confirm(action)

    def _target(self) -> Source | None:
        want = self.ctx.settings.write_to
        if want:
            return make_source(want, self.ctx.settings.username, self.ctx.settings.password)
        return next((s for s in self.sources if s.writable), None)

    async def confirm(self, action: dict) -> SkillResult:
        target = self._target()
        if target is None:
            return SkillResult("I don't have a calendar I can write to.", {"error": "read-only"})
        start = datetime.fromisoformat(action["start"])
        end = datetime.fromisoformat(action["end"]) if action.get("end") else None
        vevent = new_vevent(action["summary"], start, end, action["all_day"])
        try:
            await asyncio.to_thread(target.add, vevent)
        except CalendarError as exc:
            log.warning("calendar write to %s failed: %s", target.name, exc)
            return SkillResult(f"Sorry, I couldn't add it. {exc.spoken}", {"error": "write-failed"})
        except Exception as exc:  # a full disk, a vanished folder: the old calendar file is untouched
            log.exception("calendar write to %s failed", target.name)
            return SkillResult(f"Sorry, I couldn't save the event to {target.name}.", {"error": "write-failed",
                                                                                        "detail": str(exc)})
        label = day_when = format_date(start.date())
        if not action["all_day"]:
            day_when = f"{label} at {format_time(start)}"
        return SkillResult(f"Done. {action['summary']} is on your calendar for {day_when}.",
                           {"added": {**action, "uid": str(vevent.get("UID"))}})


def _titled(asked: str, title: str) -> bool:
    """Every word asked about is in the title: 'dentist' and 'dentist appointment' name "Dentist appointment"."""
    words = set(asked.lower().split()) - {"my", "the", "a", "an"}
    return bool(words) and words <= set(title.lower().replace(",", " ").split())


def _event_dict(e: Event) -> dict:
    return {"summary": e.summary, "start": e.start.isoformat(), "end": e.end.isoformat(), "all_day": e.all_day,
            "location": e.location, "source": e.source}


def _check(src: Source, tz) -> Check:
    from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout

    now = datetime.now(tz)
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        events = pool.submit(src.events, now, now + timedelta(days=7), tz).result(timeout=20)
    except FutureTimeout:
        return Check("calendar", FAIL, f"{src.name}: no answer within 20 s", "Check the address and network.")
    except CalendarError as exc:
        return Check("calendar", FAIL, f"{src.name}: {exc.message}",
                     f"{exc.spoken} Check plugins.calendar.sources, username and password.")
    except Exception as exc:
        return Check("calendar", FAIL, f"{src.name}: {exc}")
    finally:
        pool.shutdown(wait=False)
    return Check("calendar", OK, f"{src.name}: readable, {len(events)} events in the next 7 days")


def doctor_checks(cfg) -> list[Check]:
    """One check per calendar source: can it be read? Blocking (the doctor runs it once)."""
    from penny.plugins.loading import user_timezone

    cal = cfg.plugins.calendar
    if not cal.enabled:
        return [Check("calendar", OK, "disabled", required=False)]
    if not cal.sources:
        return [Check("calendar", WARN, "no calendar sources configured",
                      "Add .ics paths or CalDAV URLs to plugins.calendar.sources.", required=False)]
    tz = user_timezone(cfg)
    return [_check(make_source(s, cal.username, cal.password), tz) for s in cal.sources]
