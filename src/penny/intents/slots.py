"""One conversion layer from matched words to typed slot values.

A template's slot name says its type: {duration} (or Home Assistant's {hours}/{minutes}/{seconds}) becomes
a timedelta, {day} a DayRange, {at} a When, range lists numbers; other wildcards stay text, normalised.
A slot that doesn't convert ("set a timer for banana") means the sentence did not match.
Handlers also get strings from the LLM's tool calls, so the `as_*` helpers take either.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from penny.intents.text import normalize, without
from penny.plugins.dates import DayRange, When, parse_duration, parse_range, parse_when

_PARTS = {"hours": 3600, "minutes": 60, "seconds": 1}


def as_duration(value: Any) -> timedelta | None:
    if isinstance(value, timedelta):
        return value if value.total_seconds() > 0 else None
    return parse_duration(str(value or ""))


def as_day(value: Any, now: datetime) -> DayRange | None:
    return value if isinstance(value, DayRange) else parse_range(None if value is None else str(value), now)


def as_when(value: Any, now: datetime) -> When | None:
    return value if isinstance(value, When) else parse_when(str(value or ""), now)


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _sum(slots: dict, prefix: str) -> timedelta | None:
    found = [k for k in _PARTS if prefix + k in slots]
    if not found:
        return None
    return timedelta(seconds=sum(float(slots.pop(prefix + k)) * _PARTS[k] for k in found))


def convert(entities: dict, now: datetime, said: str = "", drop: frozenset[str] = frozenset()) -> dict | None:
    """hassil's entities -> typed slots, or None when one of them isn't what its name says.
    `said`: the text matched, whose commas hassil drops but a list of items needs ("milk, eggs and bread");
    `drop`: words a free-text value leaves out (hesitations: "um buy milk" -> "buy milk")."""
    slots: dict[str, Any] = {}
    for name, entity in entities.items():
        if entity.is_wildcard and name == "item" and entity.text_span:
            raw = said[entity.text_span[0]:entity.text_span[1]]
            slots[name] = ", ".join(filter(None, (without(drop, normalize(p)) for p in raw.split(","))))
        elif entity.is_wildcard:
            slots[name] = without(drop, normalize(entity.text))
        else:
            slots[name] = _number(entity.value)
        if entity.is_wildcard and not slots[name]:
            return None  # only a hesitation: no value
    for prefix in ("", "start_"):
        total = _sum(slots, prefix)
        if total is not None:
            if prefix + "duration" in slots or total.total_seconds() <= 0:
                return None
            slots[prefix + "duration"] = total
    for name, parse in (("duration", as_duration), ("start_duration", as_duration),
                        ("day", lambda v: as_day(v, now)), ("at", lambda v: as_when(v, now))):
        if name in slots:
            typed = parse(slots[name])
            if typed is None:
                return None
            slots[name] = typed
    return slots
