"""Clock and date: "what time is it", "what's the date", "what day is it"."""
from __future__ import annotations

from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.speech import format_date, format_time

_TIME = [
    r"(?:so )?what time is it(?: now| right now| please)?",
    r"(?:do you know |tell me )?what time it is(?: now)?",
    r"whats the time(?: now| right now)?|what is the time(?: now| right now)?",
    r"whats the current time|what is the current time|current time|the time|time",
    r"(?:tell me|give me) the time",
    r"how late is it(?: now)?|time check|(?:have you )?got the time",
]
_DATE = [
    r"whats the date(?: today)?|what is the date(?: today)?|whats todays date|what is todays date",
    r"what day is (?:it|today)(?: today)?|what date is (?:it|today)(?: today)?",
    r"whats today|what is today|(?:tell me )?(?:the |todays )?date(?: today)?",
    r"what day of the week is it(?: today)?",
]


class ClockPlugin(Plugin):
    name = "clock"
    description = "The current time and date in the user's time zone."
    examples = ("What time is it?", "What's the time?", "What's the date today?", "What day is it today?",
                "What day of the week is it?", "Tell me today's date.")

    def intents(self) -> list[Intent]:
        return [Intent("time", _TIME, self._time, read_only=True), Intent("date", _DATE, self._date, read_only=True)]

    def tools(self) -> list[Tool]:
        return [Tool("get_current_time", "Get the current local time, date and weekday of the user.",
                     {"type": "object", "properties": {}}, self._now, read_only=True)]

    async def _time(self, slots: dict) -> SkillResult:
        now = self.ctx.now()
        return SkillResult(f"It's {format_time(now)}.", {"iso": now.isoformat()})

    async def _date(self, slots: dict) -> SkillResult:
        now = self.ctx.now()
        return SkillResult(f"Today is {format_date(now.date())}.", {"iso": now.date().isoformat()})

    async def _now(self, args: dict) -> SkillResult:
        now = self.ctx.now()
        return SkillResult(f"It's {format_time(now)} on {format_date(now.date())}.",
                           {"iso": now.isoformat(), "timezone": str(self.ctx.tz)})
