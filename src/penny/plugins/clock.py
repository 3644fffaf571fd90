"""Clock and date: "what time is it", "what's the date", "what day is it"."""
from __future__ import annotations

from datetime import timedelta

from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.speech import format_date, format_time


def _one_day(slots: dict) -> bool:
    """The date of one day; "what's the date next week" is no question for the clock."""
    day = slots.get("day")
    return day is None or day.end - day.start <= timedelta(days=1)


class ClockPlugin(Plugin):
    name = "clock"
    description = "The current time and date in the user's time zone."
    examples = ("What time is it?", "What's the time?", "What's the date today?", "What day is it today?",
                "What day of the week is it?", "Tell me today's date.")

    def intents(self) -> list[Intent]:
        return [Intent("time", "HassGetCurrentTime", self._time, read_only=True),
                Intent("date", "HassGetCurrentDate", self._date, read_only=True, accept=_one_day)]

    def tools(self) -> list[Tool]:
        return [Tool("get_current_time", "Get the current local time, date and weekday of the user.",
                     {"type": "object", "properties": {}}, self._now, read_only=True)]

    async def _time(self, slots: dict) -> SkillResult:
        now = self.ctx.now()
        return SkillResult(f"It's {format_time(now)}.", {"iso": now.isoformat()})

    async def _date(self, slots: dict) -> SkillResult:
        day = slots.get("day")
        date = day.start.date() if day is not None else self.ctx.now().date()
        said = {"today": "Today is", "tonight": "Today is", "tomorrow": "Tomorrow is",
                "yesterday": "Yesterday was"}.get(day.label if day is not None else "today", "That's")
        return SkillResult(f"{said} {format_date(date)}.", {"iso": date.isoformat()})

    async def _now(self, args: dict) -> SkillResult:
        now = self.ctx.now()
        return SkillResult(f"It's {format_time(now)} on {format_date(now.date())}.",
                           {"iso": now.isoformat(), "timezone": str(self.ctx.tz)})
