"""Weather from Open-Meteo for the configured location. Offline: one sentence, quickly."""
from __future__ import annotations

import logging
import time

from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.speech import WEEKDAYS

log = logging.getLogger("penny.plugins.weather")

_CODES = {0: "clear", 1: "mostly clear", 2: "partly cloudy", 3: "overcast", 45: "foggy", 48: "foggy",
          51: "light drizzle", 53: "drizzle", 55: "heavy drizzle", 56: "freezing drizzle", 57: "freezing drizzle",
          61: "light rain", 63: "rain", 65: "heavy rain", 66: "freezing rain", 67: "freezing rain",
          71: "light snow", 73: "snow", 75: "heavy snow", 77: "snow grains", 80: "rain showers",
          81: "rain showers", 82: "heavy rain showers", 85: "snow showers", 86: "heavy snow showers",
          95: "thunderstorms", 96: "thunderstorms with hail", 99: "thunderstorms with hail"}
UNREACHABLE = "I can't reach the weather service right now."


class WeatherPlugin(Plugin):
    name = "weather"
    description = "Current weather and a short forecast for the user's configured location."
    keywords = ("weather", "forecast", "umbrella", "temperature")
    examples = ("What's the weather like today?", "What's the weather tomorrow?", "Will it rain today?",
                "What's the temperature outside?", "Do I need an umbrella today?")

    def __init__(self, ctx):
        super().__init__(ctx)
        self._cache: tuple[float, dict] | None = None

    def intents(self) -> list[Intent]:
        # Sentences: Home Assistant's HassGetWeather plus sentences/en/weather.yaml; `when` is one of
        # now, today, tomorrow, this week (the list there maps "tonight", "right now"... onto those).
        return [Intent("weather", "HassGetWeather", self._answer, read_only=True)]

    def tools(self) -> list[Tool]:
        return [Tool("get_weather", "Current weather and the forecast for the user's home location.",
                     {"type": "object", "properties": {"day": {
                         "type": "string", "enum": ["now", "today", "tomorrow", "this week"],
                         "description": "which forecast; default now"}}},
                     lambda a: self._answer({"when": a.get("day") or "now"}), read_only=True)]

    async def _fetch(self) -> dict:
        if self._cache and time.monotonic() - self._cache[0] < 600:
            return self._cache[1]
        import httpx

        s = self.ctx.settings
        params = {"latitude": s.latitude, "longitude": s.longitude, "timezone": "auto", "forecast_days": 3,
                  "current": "temperature_2m,weather_code,wind_speed_10m",
                  "daily": "weather_code,temperature_2m_max,temperature_2m_min,precipitation_probability_max",
                  "temperature_unit": s.units}
        timeout = httpx.Timeout(s.timeout_s, connect=min(s.timeout_s, 2.0))
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(s.base_url, params=params)
            resp.raise_for_status()
            data = resp.json()
        self._cache = (time.monotonic(), data)
        return data

    async def _answer(self, slots: dict) -> SkillResult:
        s = self.ctx.settings
        if s.latitude is None or s.longitude is None:
            return SkillResult("I don't know where you are yet. Set your latitude and longitude in the "
                               "weather settings.", {"error": "no-location"})
        try:
            data = await self._fetch()
        except Exception as exc:
            log.warning("weather: %s unreachable: %s", s.base_url, exc or type(exc).__name__)
            return SkillResult(UNREACHABLE, {"error": "unreachable"})
        try:
            return self._describe(data, (slots.get("when") or "now").replace("right now", "now"))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("weather: unexpected answer from %s: %s", s.base_url, exc)
            return SkillResult("The weather service sent an answer I couldn't read.", {"error": "bad-response"})

    def _describe(self, data: dict, when: str) -> SkillResult:
        place = f" in {self.ctx.settings.location_name}" if self.ctx.settings.location_name else ""
        if when in ("now", "outside"):
            cur = data["current"]
            sky = _CODES.get(int(cur["weather_code"]), "")
            text = f"It's {round(cur['temperature_2m'])} degrees{' and ' + sky if sky else ''}{place}."
            return SkillResult(text, {"current": cur, "units": self._unit()})
        daily = data["daily"]
        days = [0, 1, 2] if when == "this week" else [1] if when == "tomorrow" else [0]
        parts = []
        for i in days:
            label = "Today" if i == 0 else "Tomorrow" if i == 1 else self._weekday(daily["time"][i])
            sky = _CODES.get(int(daily["weather_code"][i]), "mixed weather")
            rain = daily.get("precipitation_probability_max", [None] * 3)[i]
            chance = f", {rain} percent chance of rain" if rain else ""
            parts.append(f"{label}{place if i == days[0] else ''}: {sky}, high of "
                         f"{round(daily['temperature_2m_max'][i])}, low of {round(daily['temperature_2m_min'][i])}"
                         f"{chance}.")
        return SkillResult(" ".join(parts), {"daily": daily, "when": when, "units": self._unit()})

    def _unit(self) -> str:
        return "°F" if self.ctx.settings.units == "fahrenheit" else "°C"

    @staticmethod
    def _weekday(iso: str) -> str:
        from datetime import date

        return WEEKDAYS[date.fromisoformat(iso).weekday()].capitalize()
