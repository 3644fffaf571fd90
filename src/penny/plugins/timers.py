"""Timers and reminders: several named timers, time left, pause, add time, cancel, reminders at a time.

Requests arrive through Home Assistant's timer intents (HassStartTimer, HassTimerStatus, ...) plus Penny's
own sentences (intents/sentences/<lang>/timers.yaml). Pending items live in timer_state.TimerState, so they
survive a restart; one scheduler task sleeps on the plugin clock until the next is due and emits an `Alert`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from penny.core.events import Alert
from penny.intents.slots import as_duration
from penny.plugins.base import Intent, Plugin, SkillResult, Tool, current_session
from penny.plugins.dates import parse_when
from penny.plugins.notes import second_person
from penny.plugins.speech import format_duration, join_list, plural, when_label
from penny.plugins.timer_state import LEADS, TimerState, alert_text, label, purpose, reminder_due, rest_of, \
    short_name, specific, split_reminder

log = logging.getLogger("penny.plugins.timers")


class TimersPlugin(Plugin):
    name = "timers"
    description = "Countdown timers and reminders that speak up when they are due."
    keywords = ("timer", "timers", "remind", "reminder", "reminders", "countdown")
    examples = ("How much time is left on my timer?", "Cancel my timer.", "Stop the timer.", "What timers do I have?",
                "Pause the timer.", "Resume the timer.")

    def __init__(self, ctx):
        super().__init__(ctx)
        self.state = TimerState(ctx.data_dir / "timers.json", ctx.now)
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def _items(self) -> list[dict]:
        return self.state.items

    # ------------------------------------------------------------ wiring

    def undoer(self, intent: str, result: SkillResult):
        item = result.data.get("timer" if intent == "set_timer" else "reminder" if intent == "reminder" else "")
        if item is None:
            return None

        def cancel() -> None:
            self.state.remove([item])
            self._changed.set()
        return cancel

    def intents(self) -> list[Intent]:
        has_duration = lambda s: as_duration(s.get("duration")) is not None and short_name(s)  # noqa: E731
        return [
            Intent("set_timer", "HassStartTimer", self._set, accept=has_duration),
            Intent("set_timer_bare", "PennyTimerSetBare", self._ask_duration,
                   accept=lambda s: short_name(s) and as_duration(s.get("name")) is None
                   and not any(c.isdigit() for c in str(s.get("name") or "")), complete=lambda s: False),
            Intent("time_left", "HassTimerStatus", self._left, accept=self._names_a_timer, read_only=True),
            Intent("list", "PennyTimerList", self._list, read_only=True),
            Intent("cancel", "HassCancelTimer", self._cancel, accept=short_name),
            Intent("cancel_all", "HassCancelAllTimers", lambda s: self._cancel({**s, "all": True})),
            Intent("pause", "HassPauseTimer", self._pause, accept=short_name),
            Intent("resume", "HassUnpauseTimer", self._resume, accept=short_name),
            Intent("add_time", "HassIncreaseTimer", lambda s: self._adjust(s, 1), accept=has_duration),
            Intent("remove_time", "HassDecreaseTimer", lambda s: self._adjust(s, -1), accept=has_duration),
            Intent("reminder", "PennyReminder", self._remind, accept=self._is_reminder, complete=self._has_when),
        ]

    def tools(self) -> list[Tool]:
        obj = lambda props, req=(): {"type": "object", "properties": props, "required": list(req)}  # noqa: E731
        name = {"name": {"type": "string", "description": "optional label, e.g. 'pasta'"}}
        return [
            Tool("set_timer", "Start a countdown timer.",
                 obj({"duration": {"type": "string", "description": "e.g. '10 minutes', '1 hour 30 minutes'"},
                      **name}, ["duration"]), self._set),
            Tool("set_reminder", "Remind the user of something at a time.",
                 obj({"text": {"type": "string", "description": "what to remind about"},
                      "when": {"type": "string", "description": "ISO 8601 local time or words like 'tomorrow at 9 am'"}},
                     ["text", "when"]), self._remind_tool),
            Tool("list_timers", "List running timers and pending reminders with the time left.", obj({}),
                 self._list, read_only=True),
            Tool("cancel_timer", "Cancel a timer or reminder by name (or the only one).",
                 obj({"name": {"type": "string"}, "kind": {"type": "string", "enum": ["timer", "reminder"]}}),
                 self._cancel),
            Tool("change_timer", "Pause, resume, or add or take time off a running timer.",
                 obj({"action": {"type": "string", "enum": ["pause", "resume", "add", "remove"]}, **name,
                      "duration": {"type": "string", "description": "for add/remove, e.g. '5 minutes'"}},
                     ["action"]), self._change_tool),
        ]

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._scheduler(), name="penny-timers")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # ------------------------------------------------------------ scheduler

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
        due = self.state.due(now)
        if due:
            self.state.items = [i for i in self.state.items if i not in due]
            for item in sorted(due, key=lambda i: datetime.fromisoformat(i["due"])):
                await self._fire(item, now)
            try:
                self.state.save()
            except OSError:
                log.exception("could not save timers; a fired one may fire again after a restart")
            return
        nxt = self.state.next_due()
        if nxt is None:  # nothing running (paused timers wait for a resume)
            await self._changed.wait()
            return
        sleeper = asyncio.ensure_future(self.ctx.clock.sleep_until(nxt))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, changed):
                t.cancel()

    async def _fire(self, item: dict, now: datetime) -> None:
        try:
            await self.ctx.emit_alert(Alert(kind=item["kind"], text=alert_text(item, now), id=item["id"],
                                            session_id=item.get("session", "")))
        except Exception:
            log.exception("could not deliver alert %s", item["id"])

    # ------------------------------------------------------------ timers

    async def _set(self, slots: dict) -> SkillResult:
        duration = as_duration(slots.get("duration"))
        if duration is None:
            return SkillResult("Sorry, how long should the timer be?", {"error": "bad-duration"})
        if duration > timedelta(days=1):
            return SkillResult("Timers can run for up to a day. For later than that, ask me for a reminder.",
                               {"error": "too-long"})
        name = specific(slots.get("name"))
        item = self.state.add_timer(name, duration, self.ctx.now(), session=current_session.get())
        self._changed.set()
        return SkillResult(f"Okay, {name + ' timer' if name else 'timer'} set for {format_duration(duration)}.",
                           {"timer": item})

    async def _ask_duration(self, slots: dict) -> SkillResult:
        name = specific(slots.get("name"))
        return SkillResult(f"How long should the {name + ' ' if name else ''}timer be?", {"error": "no-duration"})

    def _none(self, slots: dict, kind: str = "timer", verb: str = "running") -> SkillResult:
        name = specific(slots.get("name"))
        what = f"{'an' if name[0] in 'aeiou' else 'a'} {name} {kind}" if name else f"that {kind}" if slots.get("start_duration") else f"any {kind}s"
        return SkillResult(f"You don't have {what} {verb}.", {"timers": []})

    def _names_a_timer(self, slots: dict) -> bool:
        """'how long until the pasta is done' asks about a timer only while a pasta timer runs."""
        return short_name(slots) and ("running" not in slots or bool(self.state.matching(slots["running"])))

    async def _left(self, slots: dict) -> SkillResult:
        now = self.ctx.now()
        timers = self.state.matching(slots.get("name") or slots.get("running"), "timer", slots.get("start_duration"))
        if not timers:
            return self._none(slots)
        text = join_list([self.state.describe(i, now) for i in timers])
        return SkillResult(text[0].upper() + text[1:] + ".", {"timers": timers})

    async def _list(self, slots: dict) -> SkillResult:
        now = self.ctx.now()
        timers, reminders = self.state.pending("timer"), self.state.pending("reminder")
        if not timers and not reminders:
            return SkillResult("You have no timers or reminders.", {"timers": [], "reminders": []})
        parts = [self.state.describe(i, now, listing=True) for i in timers]
        parts += [f"a reminder {when_label(datetime.fromisoformat(i['due']), now)}"
                  + (f" {purpose(i['name'])}" if i["name"] else "") for i in reminders]
        return SkillResult(join_list(parts).capitalize() + ".", {"timers": timers, "reminders": reminders})

    def _found(self, slots: dict, kind: str = "timer") -> list[dict]:
        name = specific(slots.get("name"))
        if kind == "reminder" and name:
            name = second_person(name)
        return self.state.matching(name, kind, slots.get("start_duration"))

    def _one(self, slots: dict, verb: str) -> tuple[dict | None, SkillResult | None]:
        """The single timer a request means, or what to say instead (none, or which one?)."""
        found = self._found(slots)
        if not found:
            return None, self._none(slots, "timer", "to " + verb)
        if len(found) > 1:
            return None, self._which(found, "timer", verb)
        return found[0], None

    @staticmethod
    def _which(found: list[dict], kind: str, verb: str) -> SkillResult:
        names = join_list([label(i) if kind == "timer" else i["name"] or "a reminder" for i in found])
        return SkillResult(f"You have {plural(len(found), kind)}: {names}. Which one should I {verb}?",
                           {"candidates": found})

    async def _cancel(self, slots: dict) -> SkillResult:
        kind = slots.get("kind") if slots.get("kind") in ("timer", "reminder") else "timer"
        found = self._found(slots, kind)
        if not found:
            return self._none(slots, kind, "to cancel")
        named = specific(slots.get("name")) or slots.get("start_duration")
        if len(found) > 1 and not slots.get("all") and not named:
            return self._which(found, kind, "cancel")
        self.state.remove(found)
        self._changed.set()
        said = label(found[0]) if kind == "timer" else "reminder"
        text = f"Cancelled your {said}." if len(found) == 1 else f"Cancelled {plural(len(found), kind)}."
        return SkillResult(text, {"cancelled": found})

    async def _pause(self, slots: dict) -> SkillResult:
        item, answer = self._one(slots, "pause")
        if answer is not None:
            return answer
        now = self.ctx.now()
        if not self.state.pause(item, now):
            return SkillResult(f"Your {label(item)} is already paused.", {"timer": item, "error": "already-paused"})
        self._changed.set()
        return SkillResult(f"Paused your {label(item)} with {format_duration(self.state.left(item, now))} left.",
                           {"timer": item})

    async def _resume(self, slots: dict) -> SkillResult:
        item, answer = self._one(slots, "resume")
        if answer is not None:
            return answer
        if not self.state.resume(item, now := self.ctx.now()):
            return SkillResult(f"Your {label(item)} isn't paused.", {"timer": item, "error": "not-paused"})
        self._changed.set()
        return SkillResult(f"Resumed your {label(item)}; {format_duration(self.state.left(item, now))} to go.",
                           {"timer": item})

    async def _adjust(self, slots: dict, sign: int) -> SkillResult:
        delta = as_duration(slots.get("duration"))
        if delta is None:
            return SkillResult("Sorry, how much time should I change it by?", {"error": "bad-duration"})
        item, answer = self._one(slots, "change")
        if answer is not None:
            return answer
        left = self.state.adjust(item, delta * sign, self.ctx.now())
        self._changed.set()
        verb = "Added" if sign > 0 else "Took"
        where = "to" if sign > 0 else "off"
        tail = f"{format_duration(left)} left" if left else "it's done"
        return SkillResult(f"{verb} {format_duration(delta)} {where} your {label(item)}; {tail}.", {"timer": item})

    async def _change_tool(self, args: dict) -> SkillResult:
        action = str(args.get("action") or "")
        slots = {"name": args.get("name"), "duration": args.get("duration")}
        if action in ("add", "remove"):
            return await self._adjust(slots, 1 if action == "add" else -1)
        if action not in ("pause", "resume"):
            return SkillResult("Sorry, I can pause, resume, or add or take time off a timer.", {"error": "action"})
        return await (self._pause if action == "pause" else self._resume)(slots)

    # ------------------------------------------------------------ reminders

    def _is_reminder(self, slots: dict) -> bool:
        """'remind me to ...' always; 'remind me what X is' only when it holds a time."""
        leads = tuple(w + " " for w in LEADS)
        if slots.get("when"):  # "in two hours remind me to stretch": both halves must be what they seem
            return str(slots.get("rest")).startswith(leads) and bool(parse_when(str(slots["when"]), self.ctx.now()))
        rest = rest_of(slots)
        return rest.startswith(leads) or split_reminder(self.ctx.now(), rest)[1] is not None

    def _has_when(self, slots: dict) -> bool:
        return split_reminder(self.ctx.now(), rest_of(slots))[1] is not None

    async def _remind(self, slots: dict) -> SkillResult:
        what, when = split_reminder(self.ctx.now(), rest_of(slots))
        if when is None:
            return SkillResult("Sorry, I couldn't tell when. When should I remind you? For example: at 5 pm, "
                               "or in an hour.", {"error": "bad-date"})  # the answer alone completes it (registry)
        return self._add_reminder(what, when)

    async def _remind_tool(self, args: dict) -> SkillResult:
        text, raw = str(args.get("text") or ""), str(args.get("when") or "")
        due = reminder_due(raw, self.ctx.now())
        if due is None:
            return SkillResult(f"Sorry, I couldn't understand the time '{raw}'.", {"error": "bad-date"})
        return self._add_reminder(text, due)

    def _add_reminder(self, what: str, due: datetime) -> SkillResult:
        now = self.ctx.now()
        if due <= now:
            return SkillResult(f"That time, {when_label(due, now)}, has already passed.", {"error": "past"})
        what = second_person(what.strip().rstrip("."))
        item = self.state.add("reminder", what, now, due, session=current_session.get())
        self._changed.set()
        about = f" {purpose(what)}" if what else ""
        return SkillResult(f"Okay, I'll remind you{about} {when_label(due, now)}.", {"reminder": item})
