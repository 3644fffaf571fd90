"""Skill answers in the user's language (assistant.language other than English).

Plugins answer in English (SkillResult.text) and return structured data (SkillResult.data). In another
language the answer is rendered from a response template of the hassil intent that matched:
1. Home Assistant's (home-assistant-intents, e.g. "Es ist {{ slots.time.hour }}:..."), or the user's
   custom_sentences `responses:` (both in Library.responses), with `slots` built from the data;
2. Penny's own short templates, sentences/<lang>/responses.yaml, for what Home Assistant has none of:
   errors, "which timer?", "no timer to cancel", forecasts.
Templates run in a jinja2 sandbox. Where nothing fits, the English text stays (and a warning is logged).
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import yaml
from jinja2.sandbox import SandboxedEnvironment

from penny.intents.library import PACKAGE_SENTENCES
from penny.plugins.base import SkillResult

log = logging.getLogger("penny.intents")

# Every response template (Home Assistant's, Penny's, the user's, in any language) runs in this one sandbox.
TEMPLATES = SandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
# The data a Home Assistant template needs before it can say anything true.
_NEEDS = {"HassGetCurrentTime": "iso", "HassGetCurrentDate": "iso", "HassStartTimer": "timer",
          "HassCancelTimer": "cancelled", "HassCancelAllTimers": "cancelled", "HassTimerStatus": "timers",
          "HassPauseTimer": "timer", "HassUnpauseTimer": "timer", "HassIncreaseTimer": "timer",
          "HassDecreaseTimer": "timer", "HassGetWeather": "current", "HassShoppingListAddItem": "added",
          "HassListAddItem": "added", "HassShoppingListCompleteItem": "removed", "HassListCompleteItem": "removed",
          "HassListRemoveItem": "removed"}
# Tools whose result Penny speaks (not read-only ones, whose result goes back to the LLM).
TOOL_INTENTS = {"set_timer": "HassStartTimer", "cancel_timer": "HassCancelTimer"}
# Open-Meteo's WMO weather codes -> Home Assistant's conditions (as HA's Open-Meteo integration maps them).
_CONDITIONS = {0: "sunny", 1: "partlycloudy", 2: "partlycloudy", 3: "cloudy", 45: "fog", 48: "fog",
               51: "rainy", 53: "rainy", 55: "rainy", 56: "rainy", 57: "rainy", 61: "rainy", 63: "rainy",
               65: "pouring", 66: "rainy", 67: "rainy", 71: "snowy", 73: "snowy", 75: "snowy", 77: "snowy",
               80: "rainy", 81: "rainy", 82: "pouring", 85: "snowy", 86: "snowy", 95: "lightning",
               96: "lightning-rainy", 99: "lightning-rainy"}


@lru_cache(maxsize=8)
def own(language: str) -> dict:
    """Penny's responses.yaml for `language` ({} when it has none). The sentence loader skips this key."""
    path = PACKAGE_SENTENCES / language / "responses.yaml"
    try:
        return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}
    except FileNotFoundError:
        return {}


def phrase(key: str, language: str, default: str) -> str:
    """One of Penny's fixed sentences ("declined") in `language`."""
    return str((own(language).get("phrases") or {}).get(key) or default) if language != "en" else default


def _parts(seconds: float) -> tuple[int, int, int]:
    total = max(0, round(seconds))
    return total // 3600, total % 3600 // 60, total % 60


def _timer(item: dict, now: datetime) -> dict:
    """A timer as Home Assistant's HassTimerStatus template sees it (a paused one keeps its "left_s")."""
    paused = "left_s" in item
    left = float(item["left_s"]) if paused else (datetime.fromisoformat(item["due"]) - now).total_seconds()
    h, m, s = _parts(left)
    if h:  # "1 hour and 5 minutes": seconds don't matter then
        h, m, s = _parts(left + 30 - (left + 30) % 60)
    start_h, start_m, start_s = _parts(item.get("duration_s") or 0)
    return {"is_active": not paused, "total_seconds_left": max(0, round(left)), "rounded_hours_left": h,
            "rounded_minutes_left": m, "rounded_seconds_left": s, "start_hours": start_h,
            "start_minutes": start_m, "start_seconds": start_s, "name": item.get("name"), "area": None}


def _duration(out: dict, seconds: float) -> None:
    for key, value in zip(("hours", "minutes", "seconds"), _parts(seconds)):
        if value:
            out[key] = str(value)  # HA's templates compare them with the words said ("1", "eine")


def slots(data: dict, now: datetime, said: dict | None = None) -> dict[str, Any]:
    """Home Assistant's speech slots: what was said (`said`, the match's typed slots), what a plugin returned."""
    said = said or {}
    out: dict[str, Any] = {k: v for k, v in said.items() if isinstance(v, (str, int, float))}  # {item}, {name}
    if isinstance(said.get("duration"), timedelta):  # "add 5 minutes": the amount said, not the timer's
        _duration(out, said["duration"].total_seconds())
    iso = data.get("iso")
    if isinstance(iso, str):
        when = datetime.fromisoformat(iso) if "T" in iso else datetime.combine(date.fromisoformat(iso), now.time())
        out["time"], out["date"] = when.time(), when.date()
    timer = data.get("timer")
    if isinstance(timer, dict):
        if not any(k in out for k in ("hours", "minutes", "seconds")):
            _duration(out, timer.get("duration_s") or 0)
        if timer.get("name"):
            out["name"] = timer["name"]
    for key in ("timers", "candidates"):  # "which one?" lists the candidates as timers too
        if isinstance(data.get(key), list):
            out["timers"] = [_timer(t, now) for t in data[key] if isinstance(t, dict) and "due" in t]
    if isinstance(data.get("cancelled"), list):
        out["canceled"] = len(data["cancelled"])
    if isinstance(data.get("daily"), dict):
        out["days"] = _days(data["daily"], data.get("when"))
    return out


def _days(daily: dict, when: str | None) -> list[dict]:
    picked = [0, 1, 2] if when == "this week" else [1] if when == "tomorrow" else [0]
    rain = daily.get("precipitation_probability_max") or [None] * len(daily["time"])
    return [{"date": date.fromisoformat(daily["time"][i]), "index": i,
             "condition": _CONDITIONS.get(int(daily["weather_code"][i]), "exceptional"),
             "high": round(daily["temperature_2m_max"][i]), "low": round(daily["temperature_2m_min"][i]),
             "rain": rain[i]} for i in picked if i < len(daily["time"])]


def state(data: dict, now: datetime) -> SimpleNamespace | None:
    """The weather as a Home Assistant weather entity's state (what HassGetWeather's templates read)."""
    cur = data.get("current")
    if not isinstance(cur, dict):
        return None
    condition = _CONDITIONS.get(int(cur.get("weather_code", -1)), "exceptional")
    if condition == "sunny" and not 7 <= now.hour < 19:
        condition = "clear-night"
    attributes = {"temperature": round(cur["temperature_2m"]), "temperature_unit": data.get("units") or "°C",
                  "wind_speed": cur.get("wind_speed_10m"), "wind_speed_unit": "km/h"}
    return SimpleNamespace(state=condition, attributes=attributes)


def _templates(intent: str | None, data: dict, ha: dict, mine: dict) -> list[str]:
    """The templates that could phrase this result, best first."""
    theirs = ha.get(intent) or {} if intent else {}
    ours = (mine.get("intents") or {}).get(intent) or {} if intent else {}
    errors = mine.get("errors") or {}
    if data.get("error"):
        code = str(data["error"])
        return [t for t in (ours.get(f"error_{code}"), errors.get(code), errors.get("default")) if t]
    if "candidates" in data:
        return [t for t in (ours.get("which"), errors.get("which")) if t]
    needed = _NEEDS.get(intent or "")
    ready = needed is not None and needed in data and (needed == "timers" or bool(data[needed]))
    if ready:  # HA's "default", or its only response ("item_added")
        first = theirs.get("default") or (next(iter(theirs.values())) if len(theirs) == 1 else None)
        return [t for t in (first, ours.get("default")) if t]
    for key in ("already", "missing"):  # "milk is already on the list", "no bread on it"
        if data.get(key):
            return [t for t in (ours.get(key),) if t]
    if any(data.get(k) == [] for k in ("cancelled", "timers")):  # nothing to cancel, pause, ...
        return [t for t in (ours.get("none"), errors.get("nothing")) if t]
    if "daily" in data:
        return [t for t in (ours.get("forecast"),) if t]
    return [t for t in (ours.get("otherwise"), None if needed else ours.get("default")) if t]


def render(template: str, data: dict, now: datetime, said: dict | None = None) -> str:
    text = TEMPLATES.from_string(template).render(slots=slots(data, now, said), state=state(data, now))
    text = " ".join(text.split())
    if not text:
        return ""
    text = text[0].upper() + text[1:]  # "{{ slots.item }} hinzugefügt" with the item as said, lower case
    return text if text[-1] in ".!?" else text + "."


def localize(result: SkillResult, intent: str | None, language: str, ha_responses: dict,
             now: datetime, said: dict | None = None) -> SkillResult:
    """`result` with its text in `language` (English results come back as they are). `intent` is the hassil
    intent that matched (None: a tool call), `said` the match's slots."""
    if language == "en":
        return result
    for template in _templates(intent, result.data, ha_responses, own(language)):
        try:
            text = render(template, result.data, now, said)
        except Exception as exc:  # a template that can't use these slots: try the next one
            log.debug("response template for %s failed: %s", intent, exc)
            continue
        if text:
            result.data.setdefault("english", result.text)
            result.text = text
            return result
    log.warning("no %s answer for %s %s; saying it in English", language, intent, sorted(result.data))
    return result
