"""Spoken numbers both ways: numbers, times and lists into short sentences, and number words into digits."""
from __future__ import annotations

from datetime import date, datetime, timedelta

MONTHS = ("january february march april may june july august september october november december").split()
WEEKDAYS = ("monday tuesday wednesday thursday friday saturday sunday").split()


def number_word(n: int) -> str:
    """Small counts as words ("three things"), larger ones as digits (the voice reads those itself)."""
    from penny.core.speakable import number_words

    return number_words(n) if 0 <= n <= 20 else str(n)


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{number_word(n)} {word if n == 1 else (words or word + 's')}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def join_list(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def format_time(dt: datetime) -> str:
    """'3 pm', '3:30 pm', 'noon', 'midnight'."""
    if dt.minute == 0 and dt.hour == 12:
        return "noon"
    if dt.minute == 0 and dt.hour == 0:
        return "midnight"
    hour = dt.hour % 12 or 12
    ampm = "am" if dt.hour < 12 else "pm"
    return f"{hour} {ampm}" if dt.minute == 0 else f"{hour}:{dt.minute:02d} {ampm}"


def format_date(d: date) -> str:
    return f"{WEEKDAYS[d.weekday()].capitalize()}, {MONTHS[d.month - 1].capitalize()} {ordinal(d.day)}"


def day_label(d: date, today: date) -> str:
    """'today', 'tomorrow', 'on Tuesday', or 'on Tuesday, December 3rd' when further away."""
    delta = (d - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    if 1 < delta < 7:
        return f"on {WEEKDAYS[d.weekday()].capitalize()}"
    return f"on {format_date(d)}"


def when_label(dt: datetime, now: datetime) -> str:
    """'at 5 pm', 'tomorrow at 9 am', 'on Friday at noon'."""
    day = day_label(dt.date(), now.date())
    return f"at {format_time(dt)}" if day == "today" else f"{day} at {format_time(dt)}"


def format_duration(td: timedelta | float) -> str:
    """'ten minutes', 'one hour and five minutes', 'forty seconds'."""
    total = int(round(td.total_seconds() if isinstance(td, timedelta) else td))
    if total <= 0:
        return "no time"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(plural(hours, "hour"))
    if minutes:
        parts.append(plural(minutes, "minute"))
    if seconds and not hours:
        parts.append(plural(seconds, "second"))
    return join_list(parts) if parts else "less than a minute"


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_ORDS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split())}
_ORDS.update({"twentieth": 20, "thirtieth": 30})


def words_to_numbers(text: str) -> str:
    """'twenty five minutes' -> '25 minutes', 'the third' -> 'the 3rd', 'five thirty' -> '5 30'."""
    toks, out, i = text.split(), [], 0
    while i < len(toks):
        w, nxt = toks[i], toks[i + 1] if i + 1 < len(toks) else ""
        if w in _TENS and nxt in _UNITS and 0 < _UNITS[nxt] < 10:
            out.append(str(_TENS[w] + _UNITS[nxt]))
            i += 1
        elif w in _TENS and nxt in _ORDS and _ORDS[nxt] < 10:
            out.append(ordinal(_TENS[w] + _ORDS[nxt]))
            i += 1
        elif w in _TENS:
            out.append(str(_TENS[w]))
        elif w in _UNITS:
            out.append(str(_UNITS[w]))
        elif w in _ORDS and w != "second":  # "second" is usually the unit
            out.append(ordinal(_ORDS[w]))
        else:
            out.append(w)
        i += 1
    return " ".join(out)
