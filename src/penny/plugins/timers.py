"""Timers and reminders: several named timers, time left, cancel, reminders at a time.

Pending items live in <data_dir>/timers.json (written atomically), so they survive a restart; one
scheduler task sleeps on the plugin clock until the next one is due and emits an `Alert`.
"""
from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import datetime, time, timedelta, timezone

from penny.core.events import Alert
from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.dates import SPLIT_WORDS, parse_duration, parse_when, split_what_when
from penny.plugins.notes import second_person
from penny.plugins.speech import format_duration, join_list, plural, when_label
from penny.plugins.store import JsonStore

log = logging.getLogger("penny.plugins.timers")

_UNIT = r"(?:hours?|minutes?|seconds?|mins?|secs?|hrs?)\b"
_NAME = rf"(?!{_UNIT})(?P<name>[a-z]+)"
_SET = [
    r"(?:set|start|create|make|put on|add)(?: me)? (?:a |an |the )?(?:new )?timer (?:for |of |on )?(?P<duration>.+?)"
    r"(?: (?:called|named|for(?: the| my)?) (?P<name2>[a-z ]+))?",
    rf"(?:(?:set|start|create|make)(?: me)? )?(?:a |an )?(?P<duration>[a-z0-9. ]+?) (?:{_NAME} )?timer"
    r"(?: (?:for|called|named)(?: the| my)? (?P<name2>[a-z ]+))?",
    r"(?:(?:set|start|create|make|put on)(?: me)? )?(?:a |an )?(?!(?:a|an|the|my|new) )"
    rf"{_NAME} timer (?:for|of) (?P<duration>.+)",
    r"(?:an? )?(?:timer|countdown) (?:for )?(?P<duration>.+)",
    r"(?:i need|give me|can i have) (?:a |an )?(?:timer|countdown) (?:for |of )?(?P<duration>.+)",
    r"(?:start|set) (?:a |an )?countdown (?:for |of )?(?P<duration>.+)",
    r"time (?P<duration>.+?)(?: for me)?",
]
_SET_BARE = [r"(?:set|start|create|make)(?: me)? (?:a |an |the )?(?:(?P<name>[a-z]+) )?timer"]
_LEFT = [
    r"how (?:much|long) (?:time )?(?:is |do i have )?(?:left|remaining|to go)"
    r"(?: on (?:the |my )?(?P<name>[a-z0-9 ]+?)(?: timer)?)?",
    r"how long (?:until|till|before) (?:the |my )?(?P<name>[a-z0-9 ]+?)(?: timer)? (?:is done|goes off|rings|ends|finishes)",
    r"(?:whats|what is) (?:the )?(?:time )?(?:left|remaining) on (?:the |my )?(?P<name>[a-z0-9 ]+?)(?: timer)?",
    r"how (?:much )?longer (?:on|for|until) (?:the |my )?(?P<name>[a-z0-9 ]+?)(?: timer)?",
    r"(?:hows|how is) (?:the |my )?(?P<name>[a-z0-9 ]*?)timer(?: doing| going| coming along)?",
    r"(?:when|what time) (?:does|will) (?:the |my )?(?P<name>[a-z0-9 ]*?)timer (?:go off|ring|end|finish|be done)",
    r"(?:check|how about) (?:on )?(?:the |my )?(?P<name>[a-z0-9 ]*?)timer",
    r"how many (?:minutes|seconds|hours) (?:are )?(?:left|remaining) on (?:the |my )?(?P<name>[a-z0-9 ]*?)timer",
]
_LIST = [
    r"(?:what|which) (?:timers|reminders) (?:are there|are running|are set|do i have)(?: running| set| going)?",
    r"(?:list|show|read)(?: me)? (?:my |the |all )?(?:timers|reminders)(?: and reminders)?",
    r"do i have any (?:timers|reminders)(?: running| set)?|(?:any|my) (?:timers|reminders)",
]
_CANCEL = [
    r"(?:cancel|stop|delete|remove|clear|turn off|kill|end|get rid of|never mind) (?:(?P<all>all|both|every) )?(?:of )?"
    r"(?:the |my |that |this )?(?:(?P<name>[a-z0-9 ]+?) )?(?P<kind>timer|reminder)s?"
    r"(?: for (?:the )?(?P<name2>[a-z0-9 ]+))?",
]
_REMIND = [r"remind me (?P<rest>.+)", r"(?:set|create|add|make) (?:me )?a reminder (?P<rest>(?:for |to |that |about )?.+)",
           r"(?P<when>(?:in|at|on|tomorrow|tonight|this) .+?) remind me (?P<rest>(?:to|that|about) .+)",
           r"dont let me forget (?P<rest>(?:to|about) .+)"]
_SPLIT_WORDS = SPLIT_WORDS - {"the"}


def _valid(item) -> bool:
    try:
        return item["kind"] in ("timer", "reminder") and datetime.fromisoformat(item["due"]).tzinfo is not None
    except (KeyError, TypeError, ValueError):
        log.warning("dropping an unreadable timer entry: %r", item)
        return False


def _specific(name: str | None) -> str | None:
    """'pasta timer' -> 'pasta'; 'timer', 'all', '' -> None (no particular one)."""
    name = (name or "").removesuffix(" timer").removesuffix(" reminder").strip()
    return None if name in ("", "all", "all my", "all the", "the", "timer", "timers", "reminder", "reminders") \
        else name


def _rest(slots: dict) -> str:
    """'in two hours, remind me to stretch': the time said first goes after the task."""
    return f"{slots['rest']} {slots['when']}" if slots.get("when") else slots["rest"]


def _label(item: dict) -> str:
    if item.get("name"):
        return f"{item['name']} timer"
    spoken = format_duration(item.get("duration_s", 0))
    return re.sub(r"\b(hour|minute|second)s\b", r"\1", spoken) + " timer"


def _purpose(what: str) -> str:
    """'call mom' -> 'to call mom'; 'about the car' and 'that the oven is on' keep their own word."""
    return what if what.startswith(("about ", "that ")) else f"to {what}"


class TimersPlugin(Plugin):
    name = "timers"
    description = "Countdown timers and reminders that speak up when they are due."
    keywords = ("timer", "timers", "remind", "reminder", "reminders", "countdown")
    examples = ("How much time is left on my timer?", "Cancel my timer.", "Stop the timer.", "What timers do I have?")

    def __init__(self, ctx):
        super().__init__(ctx)
        self.store = JsonStore(ctx.data_dir / "timers.json", {"items": []})
        self._items: list[dict] = [i for i in self.store.load().get("items", []) if _valid(i)]
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------ wiring

    def intents(self) -> list[Intent]:
        ok_duration = lambda s: parse_duration(s["duration"]) is not None  # noqa: E731
        return [
            Intent("reminder", _REMIND, self._remind, accept=self._is_reminder),
            Intent("time_left", _LEFT, self._left, read_only=True),
            Intent("list", _LIST, self._list, read_only=True),
            Intent("cancel", _CANCEL, self._cancel),
            Intent("set_timer", _SET, self._set, accept=ok_duration),
            Intent("set_timer_bare", _SET_BARE, self._ask_duration),
        ]

    def tools(self) -> list[Tool]:
        obj = lambda props, req=(): {"type": "object", "properties": props, "required": list(req)}  # noqa: E731
        return [
            Tool("set_timer", "Start a countdown timer.",
                 obj({"duration": {"type": "string", "description": "e.g. '10 minutes', '1 hour 30 minutes'"},
                      "name": {"type": "string", "description": "optional label, e.g. 'pasta'"}}, ["duration"]),
                 lambda a: self._set({"duration": str(a.get("duration", "")), "name": a.get("name")})),
            Tool("set_reminder", "Remind the user of something at a time.",
                 obj({"text": {"type": "string", "description": "what to remind about"},
                      "when": {"type": "string", "description": "ISO 8601 local time or words like 'tomorrow at 9 am'"}},
                     ["text", "when"]), self._remind_tool),
            Tool("list_timers", "List running timers and pending reminders with the time left.", obj({}),
                 self._list, read_only=True),
            Tool("cancel_timer", "Cancel a timer or reminder by name (or the only one).",
                 obj({"name": {"type": "string"}, "kind": {"type": "string", "enum": ["timer", "reminder"]}}),
                 lambda a: self._cancel({"name": a.get("name"), "kind": a.get("kind") or "timer"})),
        ]

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._scheduler(), name="penny-timers")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    # ------------------------------------------------------------ scheduler

    def _add(self, item: dict) -> None:
        self._items.append(item)
        self._save()

    def _save(self) -> None:
        self.store.save({"items": self._items})
        self._changed.set()

    async def _scheduler(self) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad entry or a full disk must not silence every later alert
                log.exception("timer scheduler error; retrying")
                await asyncio.sleep(1.0)

    async def _tick(self) -> None:
        """Fire what is due, then wait until the next item is due or the list changes."""
        self._changed.clear()
        now = self.ctx.now()
        due = [i for i in self._items if datetime.fromisoformat(i["due"]) <= now]
        if due:
            self._items = [i for i in self._items if i not in due]
            for item in sorted(due, key=lambda i: i["due"]):
                await self._fire(item, now)
            try:
                self._save()
            except OSError:
                log.exception("could not save timers; a fired one may fire again after a restart")
            return
        if not self._items:
            await self._changed.wait()
            return
        nxt = min(datetime.fromisoformat(i["due"]) for i in self._items)
        sleeper = asyncio.ensure_future(self.ctx.clock.sleep_until(nxt))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, changed):
                t.cancel()

    async def _fire(self, item: dict, now: datetime) -> None:
        late = now - datetime.fromisoformat(item["due"]) > timedelta(minutes=2)
        if item["kind"] == "timer":
            text = f"Your {_label(item)} is done." if not late else f"Your {_label(item)} finished while I was away."
        else:
            what = item["name"] or "you asked me to remind you"
            text = f"Reminder: {what}." if not late else (
                f"I missed a reminder {when_label(datetime.fromisoformat(item['due']), now)}: {what}.")
        try:
            await self.ctx.emit_alert(Alert(kind=item["kind"], text=text, id=item["id"]))
        except Exception:
            log.exception("could not deliver alert %s", item["id"])

    # ------------------------------------------------------------ handlers

    async def _set(self, slots: dict) -> SkillResult:
        duration = parse_duration(slots.get("duration") or "")
        if duration is None:
            return SkillResult("Sorry, how long should the timer be?", {"error": "bad-duration"})
        if duration > timedelta(days=1):
            return SkillResult("Timers can run for up to a day. For later than that, ask me for a reminder.")
        name = (slots.get("name") or slots.get("name2") or "").strip() or None
        now = self.ctx.now()
        due = (now.astimezone(timezone.utc) + duration).astimezone(now.tzinfo)  # exact across DST changes
        item = {"id": uuid.uuid4().hex[:8], "kind": "timer", "name": name, "due": due.isoformat(),
                "duration_s": duration.total_seconds(), "created": now.isoformat()}
        self._add(item)
        spoken = format_duration(duration)
        return SkillResult(f"Okay, {name + ' timer' if name else 'timer'} set for {spoken}.", {"timer": item})

    async def _ask_duration(self, slots: dict) -> SkillResult:
        name = slots.get("name")
        return SkillResult(f"How long should the {name + ' ' if name else ''}timer be?", {"error": "no-duration"})

    def _pending(self, kind: str | None = None) -> list[dict]:
        return sorted((i for i in self._items if kind is None or i["kind"] == kind), key=lambda i: i["due"])

    def _matching(self, name: str | None, kind: str) -> list[dict]:
        items = self._pending(kind)
        name = _specific(name)
        if not name:
            return items
        dur = parse_duration(name)
        words = set(name.split())
        return [i for i in items if (i.get("name") and words <= set(i["name"].split()))
                or (dur is not None and abs(i.get("duration_s", -1) - dur.total_seconds()) < 1)]

    async def _left(self, slots: dict) -> SkillResult:
        now = self.ctx.now()
        name = _specific(slots.get("name"))
        timers = self._matching(name, "timer")
        if not timers:
            what = f"a {name} timer" if name else "any timers"
            return SkillResult(f"You don't have {what} running.", {"timers": []})
        parts = [f"{format_duration(datetime.fromisoformat(i['due']) - now)} left on your {_label(i)}" for i in timers]
        return SkillResult(join_list(parts).capitalize() + ".", {"timers": timers})

    async def _list(self, slots: dict) -> SkillResult:
        now = self.ctx.now()
        timers, reminders = self._pending("timer"), self._pending("reminder")
        if not timers and not reminders:
            return SkillResult("You have no timers or reminders.", {"timers": [], "reminders": []})
        parts = [f"your {_label(i)} has {format_duration(datetime.fromisoformat(i['due']) - now)} left" for i in timers]
        parts += [f"a reminder {when_label(datetime.fromisoformat(i['due']), now)} {_purpose(i['name'])}"
                  if i["name"] else f"a reminder {when_label(datetime.fromisoformat(i['due']), now)}" for i in reminders]
        return SkillResult(join_list(parts).capitalize() + ".", {"timers": timers, "reminders": reminders})

    async def _cancel(self, slots: dict) -> SkillResult:
        kind = slots.get("kind") or "timer"
        name = _specific(slots.get("name") or slots.get("name2"))
        found = self._matching(name, kind)
        if not found:
            return SkillResult(f"You don't have {'that ' + kind if name else 'any ' + kind + 's'} to cancel.",
                               {"cancelled": []})
        everything = bool(slots.get("all"))
        if len(found) > 1 and not everything and name is None:
            names = join_list([_label(i) if kind == "timer" else i["name"] or "a reminder" for i in found])
            return SkillResult(f"You have {plural(len(found), kind)}: {names}. Which one should I cancel?",
                               {"candidates": found})
        ids = {i["id"] for i in found}
        self._items = [i for i in self._items if i["id"] not in ids]
        self._save()
        said = _label(found[0]) if kind == "timer" else "reminder"
        text = f"Cancelled your {said}." if len(found) == 1 else f"Cancelled {plural(len(found), kind)}."
        return SkillResult(text, {"cancelled": found})

    def _is_reminder(self, slots: dict) -> bool:
        """'remind me to ...' always; 'remind me what X is' only when it holds a time."""
        rest = _rest(slots)
        return rest.startswith(("to ", "that ", "about ")) or self._split_reminder(rest)[1] is not None

    async def _remind(self, slots: dict) -> SkillResult:
        what, when = self._split_reminder(_rest(slots))
        if when is None:
            return SkillResult("Sorry, I couldn't tell when to remind you. You can say something like: "
                               "remind me to call mom at 5 pm.", {"error": "bad-date"})
        return self._add_reminder(what, when)

    async def _remind_tool(self, args: dict) -> SkillResult:
        text, raw = str(args.get("text") or ""), str(args.get("when") or "")
        now = self.ctx.now()
        try:
            due = datetime.fromisoformat(raw)
            due = due.replace(tzinfo=self.ctx.tz) if due.tzinfo is None else due
        except ValueError:
            parsed = parse_when(raw, now)
            due = None if parsed is None else parsed.start if parsed.has_time else \
                datetime.combine(parsed.start.date(), time(9, 0), tzinfo=self.ctx.tz)
        if due is None:
            return SkillResult(f"Sorry, I couldn't understand the time '{raw}'.", {"error": "bad-date"})
        return self._add_reminder(text, due)

    def _split_reminder(self, rest: str) -> tuple[str, datetime | None]:
        now = self.ctx.now()
        words = rest.split()
        found = None
        if words and words[0] in ("to", "that", "about"):  # "to call mom at 5 pm": the time is a tail
            found = split_what_when(words[1:] if words[0] == "to" else words, now, _SPLIT_WORDS)
        else:  # "at 5 pm to call mom", "tomorrow at 9 about the car", "in an hour"
            for fallback in (False, True):
                for i in range(1, len(words)):
                    if words[i] in ("to", "that", "about") and not found:
                        when = parse_when(" ".join(words[:i]), now, fallback=fallback)
                        found = (" ".join(words[i + (words[i] == "to"):]), when) if when else None
            if not found and (when := parse_when(rest, now)):
                found = ("", when)
        if not found:
            return " ".join(words[1:] if words and words[0] in ("to", "that", "about") else words), None
        what, when = found
        start = when.start if when.has_time else datetime.combine(when.start.date(), time(9, 0),
                                                                    tzinfo=when.start.tzinfo)
        return what, start

    def _add_reminder(self, what: str, due: datetime) -> SkillResult:
        now = self.ctx.now()
        if due <= now:
            return SkillResult(f"That time, {when_label(due, now)}, has already passed.", {"error": "past"})
        what = second_person(what.strip().rstrip("."))
        item = {"id": uuid.uuid4().hex[:8], "kind": "reminder", "name": what, "due": due.isoformat(),
                "created": now.isoformat()}
        self._add(item)
        about = f" {_purpose(what)}" if what else ""
        return SkillResult(f"Okay, I'll remind you{about} {when_label(due, now)}.", {"reminder": item})
