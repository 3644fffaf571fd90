"""Clock and date: "what time is it", "what's the date", "what day is it"."""
from __future__ import annotations

from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.speech import format_date, format_time

class ClockPlugin(Plugin):
    name = "clock"
    description = "The current time and date in the user's time zone."
    examples = ("What time is it?", "What's the time?", "What's the date today?", "What day is it today?",
                "What day of the week is it?", "Tell me today's date.")

    def intents(self) -> list[Intent]:
        return [Intent("time", "HassGetCurrentTime", self._time, read_only=True),
                Intent("date", "HassGetCurrentDate", self._date, read_only=True)]

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
