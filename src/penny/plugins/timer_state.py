"""The timers plugin's state: pending timers and reminders, kept in <data_dir>/timers.json.

An item is {"id", "kind": "timer"|"reminder", "name", "due", "created"} plus, for timers, "duration_s"
(what it was set for: its label) and, while paused, "left_s" (the time it still had; "due" is then stale);
"session": the session that set it (its alert is said there), "" when unknown.
"""
from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, time, timedelta, timezone
from typing import Any

from penny.intents import slots as typed
from penny.plugins.dates import SPLIT_WORDS, parse_when, split_what_when
from penny.plugins.speech import format_duration, when_label
from penny.plugins.store import JsonStore

log = logging.getLogger("penny.plugins.timers")

# Words a name slot may hold that name no particular timer ("cancel the timer", "set a new timer").
_NO_NAME = {"", "a", "an", "the", "my", "new", "a new", "that", "this", "all", "all my", "all the", "timer", "timers",
            "reminder", "reminders", "countdown"}
_ARTICLE = re.compile(r"^(?:the|my|a|an|that|this) ")


def specific(name: Any) -> str | None:
    """'the pasta timer' -> 'pasta'; 'timer', 'all', '' -> None (no particular one)."""
    name = _ARTICLE.sub("", str(name or "").strip().lower())
    name = name.removesuffix(" timer").removesuffix(" reminder").strip()
    return None if name in _NO_NAME else name


# Words of a request, never of a timer's name ("I want to set a timer": not a timer called "to set a").
_REQUEST_WORDS = {"to", "set", "start", "create", "make", "want", "need", "i", "me", "please", "can", "you", "a", "an"}


# A name ends on none of these, and no word of it is a lone letter: Whisper's "set up the timer" and
# "set a t timer" (for "a tea timer") name no timer "up the" or "t".
_NO_LAST = {"the", "a", "an", "my", "your", "this", "that", "up", "for", "of", "to", "in", "on", "and", "or"}


def short_name(slots: dict) -> bool:
    """A timer's name is a word or three ('pasta', 'roast chicken'), never a whole clause."""
    words = str(slots.get("name") or "").split()
    if slots.get("kind") == "reminder":
        return len(words) <= 8
    return len(words) <= 3 and not (set(words) & _REQUEST_WORDS) and not (
        words and (words[-1] in _NO_LAST or any(len(w) == 1 and w.isalpha() for w in words)))


def label(item: dict) -> str:
    if item.get("name"):
        return f"{item['name']} timer"
    spoken = format_duration(item.get("duration_s", 0))
    return re.sub(r"\b(hour|minute|second)s\b", r"\1", spoken) + " timer"


def alert_text(item: dict, now: datetime) -> str:
    due = datetime.fromisoformat(item["due"])
    late = now - due > timedelta(minutes=2)
    if item["kind"] == "timer":
        return f"Your {label(item)} finished while I was away." if late else f"Your {label(item)} is done."
    what = item["name"] or "you asked me to remind you"
    return f"I missed a reminder {when_label(due, now)}: {what}." if late else f"Reminder: {what}."


def _valid(item: Any) -> bool:
    try:
        return item["kind"] in ("timer", "reminder") and datetime.fromisoformat(item["due"]).tzinfo is not None \
            and float(item.get("left_s", 0)) >= 0
    except (KeyError, TypeError, ValueError):
        log.warning("dropping an unreadable timer entry: %r", item)
        return False


def _later(now: datetime, delta: timedelta) -> datetime:
    return (now.astimezone(timezone.utc) + delta).astimezone(now.tzinfo)  # exact across DST changes


class TimerState:
    def __init__(self, path, now):
        self.now = now
        self.store = JsonStore(path, {"items": []})
        self.items: list[dict] = [i for i in self.store.load().get("items", []) if _valid(i)]

    def save(self) -> None:
        self.store.save({"items": self.items})

    def add(self, kind: str, name: str | None, now: datetime, due: datetime, **extra) -> dict:
        item = {"id": uuid.uuid4().hex[:8], "kind": kind, "name": name, "due": due.isoformat(),
                **extra, "created": now.isoformat()}
        self.items.append(item)
        self.save()
        return item

    def add_timer(self, name: str | None, duration: timedelta, now: datetime, **extra) -> dict:
        return self.add("timer", name, now, _later(now, duration), duration_s=duration.total_seconds(), **extra)

    def remove(self, found: list[dict]) -> None:
        ids = {i["id"] for i in found}
        self.items = [i for i in self.items if i["id"] not in ids]
        self.save()

    # ------------------------------------------------------------ queries

    def pending(self, kind: str | None = None) -> list[dict]:
        """Paused timers sort by the time they still have, the rest by when they are due."""
        now = self.now()
        return sorted((i for i in self.items if kind is None or i["kind"] == kind),
                      key=lambda i: self.left(i, now))

    def matching(self, name: Any, kind: str = "timer", start: Any = None) -> list[dict]:
        """Items a request names: by name words ('pasta'), or by what it was set for ('10 minute')."""
        items = self.pending(kind)
        name = specific(name)
        wanted = typed.as_duration(start) if start else (typed.as_duration(name) if name else None)
        if not name and wanted is None:
            return items
        words = set((name or "").split())
        return [i for i in items if (name and i.get("name") and words <= set(i["name"].split()))
                or (wanted is not None and abs(i.get("duration_s", -1) - wanted.total_seconds()) < 1)]

    @staticmethod
    def left(item: dict, now: datetime) -> timedelta:
        if "left_s" in item:
            return timedelta(seconds=float(item["left_s"]))
        return max(datetime.fromisoformat(item["due"]) - now, timedelta(0))

    def describe(self, item: dict, now: datetime, listing: bool = False) -> str:
        left = format_duration(self.left(item, now))
        if "left_s" in item:
            return f"your {label(item)} is paused with {left} left"
        return f"your {label(item)} has {left} left" if listing else f"{left} left on your {label(item)}"

    def running(self) -> list[dict]:
        return [i for i in self.items if "left_s" not in i]

    def due(self, now: datetime) -> list[dict]:
        return [i for i in self.running() if datetime.fromisoformat(i["due"]) <= now]

    def next_due(self) -> datetime | None:
        return min((datetime.fromisoformat(i["due"]) for i in self.running()), default=None)

    # ------------------------------------------------------------ changes

    def pause(self, item: dict, now: datetime) -> bool:
        if "left_s" in item:
            return False
        item["left_s"] = self.left(item, now).total_seconds()
        self.save()
        return True

    def resume(self, item: dict, now: datetime) -> bool:
        if "left_s" not in item:
            return False
        item["due"] = _later(now, timedelta(seconds=float(item.pop("left_s")))).isoformat()
        self.save()
        return True

    def adjust(self, item: dict, delta: timedelta, now: datetime) -> timedelta:
        """Add (or, negative, take) time; a timer taken below zero is due now. Returns the time left."""
        left = max(self.left(item, now) + delta, timedelta(0))
        if "left_s" in item:
            item["left_s"] = left.total_seconds()
        else:
            item["due"] = _later(now, left).isoformat()
        self.save()
        return left


# ---------------------------------------------------------------- reminder text

LEADS = ("to", "that", "about")
_SPLIT_WORDS = SPLIT_WORDS - {"the"}


def rest_of(slots: dict) -> str:
    """'in two hours, remind me to stretch': the time said first goes after the task."""
    rest = str(slots.get("rest") or "")
    return f"{rest} {slots['when']}" if slots.get("when") else rest


def purpose(what: str) -> str:
    """'call mom' -> 'to call mom'; 'about the car' and 'that the oven is on' keep their own word."""
    return what if what.startswith(("about ", "that ")) else f"to {what}"


def _at_nine(when) -> datetime:
    """A day without a time ('tomorrow') means 9 am."""
    return when.start if when.has_time else datetime.combine(when.start.date(), time(9, 0), tzinfo=when.start.tzinfo)


def reminder_due(raw: str, now: datetime) -> datetime | None:
    """The LLM's 'when': ISO 8601 local time, or words."""
    try:
        due = datetime.fromisoformat(raw)
        return due.replace(tzinfo=now.tzinfo) if due.tzinfo is None else due
    except ValueError:
        parsed = parse_when(raw, now)
        return None if parsed is None else _at_nine(parsed)


def split_reminder(now: datetime, rest: str) -> tuple[str, datetime | None]:
    """'to call mom at 5 pm' / 'at 5 pm to call mom' / 'in an hour' -> (what, when)."""
    words = rest.split()
    found = None
    if words and words[0] in LEADS:  # "to call mom at 5 pm": the time is a tail
        found = split_what_when(words[1:] if words[0] == "to" else words, now, _SPLIT_WORDS)
    else:  # "at 5 pm to call mom", "tomorrow at 9 about the car", "in an hour"
        for fallback in (False, True):
            for i in range(1, len(words)):
                if words[i] in LEADS and not found:
                    when = parse_when(" ".join(words[:i]), now, fallback=fallback)
                    found = (" ".join(words[i + (words[i] == "to"):]), when) if when else None
        if not found and (when := parse_when(rest, now)):
            found = ("", when)
    if not found:
        return " ".join(words[1:] if words and words[0] in LEADS else words), None
    return found[0], _at_nine(found[1])
