"""Natural dates, times and durations as people say them: 'ten minutes', 'next tuesday at 3 pm'.

A small deterministic parser covers the common spoken forms (and returns None rather than guess);
`dateparser` is the fallback for the rest. Every result is relative to an aware `now`, so the user's
time zone is always the one in `now.tzinfo`.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from penny.plugins.speech import MONTHS, WEEKDAYS, day_label, words_to_numbers

log = logging.getLogger("penny.plugins.dates")


def clean(text: str) -> str:
    t = text.lower().replace("a.m.", "am").replace("p.m.", "pm")
    t = re.sub(r"o'?\s?clock", " oclock", t)
    t = re.sub(r"(?<=\d)-(?=\d)", "\x00", t)  # keep ISO dates 2026-12-03
    t = re.sub(r"(?<=\d)[.:](?=\d)", lambda m: "\x01" if m.group() == "." else "\x02", t)
    t = re.sub(r"[^a-z0-9\x00\x01\x02 ]+", " ", t.replace("'", ""))
    t = t.replace("\x00", "-").replace("\x01", ".").replace("\x02", ":")
    t = re.sub(r"(?<=\d)(am|pm|hours?|hrs?|minutes?|mins?|seconds?|secs?|h|m|s)\b", r" \1", t)
    # Whisper writes "at 12:30" as "at 1230", and British English as "at 7.15": a clock time, not a year.
    t = re.sub(r"\b(at|by|around) ([01]?\d|2[0-3])\.?([0-5]\d)\b", r"\1 \2:\3", t)
    # ... "7.15 pm" too (a dot between hours and minutes; "1.5 hours" stays).
    t = re.sub(r"\b([01]?\d|2[0-3])\.([0-5]\d) (am|pm)\b", r"\1:\2 \3", t)
    t = words_to_numbers(" ".join(t.split()))
    # "forty... five minutes" said slowly: Whisper writes "40. 5 minutes" or "4D. 5 minutes" - one number.
    return _SPLIT_TENS.sub(r"\1\2 \3", t)


_SPLIT_TENS = re.compile(r"\b([2-9])[0d] ([1-9]) (hours?|hrs?|minutes?|mins?|seconds?|secs?)\b")



_UNIT_S = {"h": 3600, "hr": 3600, "hour": 3600, "m": 60, "min": 60, "minute": 60, "s": 1, "sec": 1, "second": 1}
_DUR_RE = re.compile(
    r"\b(?:(?P<num>\d+(?:\.\d+)?|an?)(?P<half> and a half| and a quarter)? "
    r"(?P<unit>hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b(?P<half2> and a half)?"
    r"|half an? (?P<hunit>hour|minute)\b|(?:an? )?quarter (?:of an )?hour\b)")
_FILLER = {"and", "for", "about", "just", "exactly", "only", "a", "of", "another", "more"}


def parse_duration(text: str) -> timedelta | None:
    """'ten minutes', 'an hour and a half', '1 hour 30 minutes', '90 seconds' -> timedelta; else None."""
    t = clean(text)
    total, rest = 0.0, t
    for m in _DUR_RE.finditer(t):
        if m.group("hunit"):
            total += _UNIT_S[m.group("hunit")] / 2
        elif m.group("unit"):
            num = m.group("num")
            n = 1.0 if num in ("a", "an") else float(num)
            n += 0.5 if "half" in (m.group("half") or m.group("half2") or "") else 0
            n += 0.25 if "quarter" in (m.group("half") or "") else 0
            unit = m.group("unit").rstrip("s") or "s"
            total += n * _UNIT_S[unit]
        else:
            total += 900
        rest = rest.replace(m.group(), " ", 1)
    if total <= 0 or any(w not in _FILLER for w in rest.split()):
        return None
    return timedelta(seconds=round(total))



_MON = "|".join(sorted({m for full in MONTHS for m in (full, full[:3])} | {"sept"}, key=len, reverse=True))
_WD = "|".join(WEEKDAYS)
_DAY_RES = [
    ("after", re.compile(r"\b(?:the )?day after tomorrow\b")),
    ("today", re.compile(r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b")),
    ("tomorrow", re.compile(r"\btomorrow\b")),
    ("iso", re.compile(r"\b(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})\b")),
    ("wd", re.compile(rf"\b(?:(?P<rel>this coming|this|next|coming|on) )?(?P<wd>{_WD})s?\b")),
    ("md", re.compile(rf"\b(?:on )?(?P<mon>{_MON}) (?:the )?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?: (?P<y>\d{{4}}))?\b")),
    ("dm", re.compile(rf"\b(?:on )?(?:the )?(?P<d>\d{{1,2}})(?:st|nd|rd|th)? (?:of )?(?P<mon>{_MON})(?: (?P<y>\d{{4}}))?\b")),
    ("d", re.compile(r"\b(?:on )?the (?P<d>\d{1,2})(?:st|nd|rd|th)\b")),
    ("in", re.compile(r"\bin (?P<n>\d+|a) (?P<u>days?|weeks?)\b")),
]


def _month(name: str) -> int:
    return next(i + 1 for i, m in enumerate(MONTHS) if m.startswith(name[:3]))


def _find_day(t: str, today: date) -> tuple[date, str] | None:
    """The first day expression in `t` and the matched text, or None. Raises ValueError on 'february 30'."""
    for kind, rx in _DAY_RES:
        m = rx.search(t)
        if not m:
            continue
        g = m.groupdict()
        if kind == "after":
            return today + timedelta(days=2), m.group()
        if kind == "today":
            return today, m.group()
        if kind == "tomorrow":
            return today + timedelta(days=1), m.group()
        if kind == "iso":
            return date(int(g["y"]), int(g["mo"]), int(g["d"])), m.group()
        if kind == "wd":
            ahead = (WEEKDAYS.index(g["wd"]) - today.weekday()) % 7
            if g["rel"] == "next" and ahead == 0:
                ahead = 7
            return today + timedelta(days=ahead), m.group()
        if kind == "in":
            n = 1 if g["n"] == "a" else int(g["n"])
            return today + timedelta(days=n * (7 if g["u"].startswith("week") else 1)), m.group()
        day = int(g["d"])
        month = _month(g["mon"]) if g.get("mon") else today.month
        year = int(g["y"]) if g.get("y") else today.year
        d = date(year, month, day)
        if d < today and not g.get("y"):
            d = date(year + 1, month, day) if g.get("mon") else _next_month(d)
        return d, m.group()
    return None


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, d.day)



_AMPM = r"(?: (?P<ampm>am|pm))?"
_TIME_RES = [
    ("noon", re.compile(r"\b(?:at )?(?:12 )?(?:noon|midday)\b")),
    ("midnight", re.compile(r"\b(?:at )?(?:12 )?midnight\b")),
    ("past", re.compile(r"\b(?:at )?(?P<m>half|quarter|\d{1,2}) (?:minutes )?(?:past|after) (?P<h>\d{1,2})" + _AMPM + r"\b")),
    ("to", re.compile(r"\b(?:at )?(?P<m>quarter|\d{1,2}) (?:minutes )?(?:to|till|before) (?P<h>\d{1,2})" + _AMPM + r"\b")),
    ("hm", re.compile(r"\b(?:at )?(?P<h>\d{1,2})(?::(?P<m>\d{2})| (?P<m2>[0-5]\d))? (?P<ampm>am|pm)\b")),
    ("hm", re.compile(r"\b(?:at )?(?P<h>\d{1,2}):(?P<m>\d{2})" + _AMPM + r"\b")),
    ("hm", re.compile(r"\b(?:at|by|around) (?P<h>\d{1,2})(?: (?P<m2>[0-5]\d))?(?: oclock)?\b")),
    ("hm", re.compile(r"\b(?P<h>\d{1,2}) oclock\b")),
]
_PM_WORDS = re.compile(r"\b(?:in the (?:afternoon|evening)|this (?:afternoon|evening)|tonight|at night)\b")
_AM_WORDS = re.compile(r"\b(?:in the morning|this morning|tomorrow morning)\b")


def _find_time(t: str) -> tuple[int, int, bool, str] | None:
    """(hour, minute, ambiguous, matched text). Ambiguous: '5' could be 5 am or 5 pm."""
    for kind, rx in _TIME_RES:
        m = rx.search(t)
        if not m:
            continue
        g = m.groupdict()
        if kind == "noon":
            return 12, 0, False, m.group()
        if kind == "midnight":
            return 0, 0, False, m.group()
        h = int(g["h"])
        if kind in ("past", "to"):
            mins = {"half": 30, "quarter": 15}.get(g["m"]) or int(g["m"])
            if kind == "to":
                h, mins = (h - 1) % 24 if h else 23, 60 - mins
        else:
            mins = int(g.get("m") or g.get("m2") or 0)
        if h > 23 or mins > 59:
            raise ValueError(f"{h}:{mins:02d} is not a time")
        ampm = g.get("ampm")
        if ampm:
            if h > 12 or h == 0:
                raise ValueError(f"{h} {ampm} is not a time")
            return h % 12 + (12 if ampm == "pm" else 0), mins, False, m.group()
        # "17:30" is a 24-hour time, but "8:30 tonight" (Whisper's "eight thirty") is still evening
        return h, mins, 1 <= h <= 12 and (":" not in m.group() or bool(_PM_WORDS.search(t))), m.group()
    return None



_DAY_WORDS = re.compile(r"\b(?:today|tonight|tomorrow|this (?:morning|afternoon|evening|weekend)|next (?:week|weekend))\b")
_COUNTED = re.compile(r"\b\d+(?:\.\d+)? (?:hours?|hrs?|minutes?|mins?|seconds?|secs?)\b|\bhalf an? hour\b")


def mentions_when(text: str) -> bool:
    """A day, a clock time or a counted duration ("tomorrow", "at 8 pm", "50 minutes"): what the user's
    own requests of timers, reminders, the calendar and the weather hold, and open questions rarely do
    ("how many minutes are in an hour" counts nothing)."""
    t = clean(text)
    try:
        return bool(_DAY_WORDS.search(t) or _COUNTED.search(t)) or _find_time(t) is not None
    except ValueError:  # "25:70": no time, but a try at one
        return True


@dataclass(frozen=True)
class When:
    start: datetime  # aware, in now's zone
    has_time: bool  # False: a whole day ("next tuesday")


_LEFTOVER_OK = {"at", "on", "the", "in", "of", "by", "around", "about", "oclock", "morning", "afternoon",
                "evening", "night", "this", "from", "now", "for", "and", "starting"}


def parse_when(text: str, now: datetime, *, fallback: bool = True) -> When | None:
    """A moment or a day in the future (or today). None when the text is not clearly a date/time.

    `fallback=False` skips dateparser (used while searching for where the date starts in a sentence).
    """
    t = clean(text)
    if not t:
        return None
    m = re.fullmatch(r"(?:in|after) (.+?)(?: from now)?|(.+?) from now", t)
    if m and (d := parse_duration(m.group(1) or m.group(2))):
        return When((now.astimezone(timezone.utc) + d).astimezone(now.tzinfo), True)
    try:
        day = _find_day(t, now.date())
        tod = _find_time(t)
    except ValueError as exc:
        log.info("not a date: %r (%s)", text, exc)
        return None
    rest = t
    for found in (day, tod):
        if found:
            rest = rest.replace(found[-1], " ", 1)
    if (not day and not tod) or any(w not in _LEFTOVER_OK for w in rest.split()):
        if re.fullmatch(r"(?:(?:in|after|at|on|the|by)\s+)*\d+[a-z]?", t):
            return None  # "in 40" is half a duration, not the year 2040 (dateparser's reading)
        return _dateparser(text, now) if fallback else None
    the_day = day[0] if day else now.date()
    if not tod:
        return When(datetime.combine(the_day, time(0, 0), tzinfo=now.tzinfo), False)
    hour, minute, ambiguous, _ = tod
    if ambiguous and hour < 12:
        if _PM_WORDS.search(t):
            hour += 12
        elif _AM_WORDS.search(t):
            pass
        elif day and day[0] != now.date():
            hour += 12 if hour < 7 else 0  # "tomorrow at 3" is 3 pm, "tomorrow at 9" is 9 am
        else:  # today: the next time the clock shows that hour
            am = datetime.combine(the_day, time(hour, minute), tzinfo=now.tzinfo)
            hour += 0 if am > now else 12
    elif ambiguous and hour == 12 and _AM_WORDS.search(t) is None and _PM_WORDS.search(t) is None:
        pass  # "at 12" is noon
    start = datetime.combine(the_day, time(hour % 24, minute), tzinfo=now.tzinfo)
    if start <= now and not day:
        start += timedelta(days=1)  # "at 7 am" said in the evening means tomorrow
    return When(start, True)


def _dateparser(text: str, now: datetime) -> When | None:
    try:
        import dateparser

        got = dateparser.parse(text, languages=["en"], settings={
            "RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False, "STRICT_PARSING": False})
    except Exception as exc:  # dateparser raises on some odd inputs
        log.info("dateparser failed on %r: %s", text, exc)
        return None
    if got is None:
        return None
    start = got.replace(tzinfo=now.tzinfo)
    return When(start, (start.hour, start.minute, start.second) != (0, 0, 0))


def warm_up() -> None:
    """Import and exercise dateparser once (about half a second), e.g. in a thread at start-up."""
    _dateparser("in two weeks", datetime.now().astimezone())


@dataclass(frozen=True)
class DayRange:
    start: datetime
    end: datetime
    label: str  # "today", "tomorrow", "on Tuesday", "this week"


def parse_range(text: str | None, now: datetime) -> DayRange | None:
    """The span a calendar question asks about: a day, 'this week', 'next week', 'this weekend'."""
    t = clean(text or "")
    t = re.sub(r"^(?:for|on|during|over|in) ", "", t).strip()
    t = re.sub(r"^(?:the rest of )", "", t)
    today = datetime.combine(now.date(), time(0, 0), tzinfo=now.tzinfo)
    monday = today - timedelta(days=now.weekday())
    if t in ("", "today", "the day", "now"):
        return DayRange(today, today + timedelta(days=1), "today")
    if t in ("tonight", "this evening"):
        return DayRange(max(now, today.replace(hour=17)), today + timedelta(days=1), "tonight")
    if t in ("this week", "the week", "the rest of the week", "week"):
        return DayRange(today, monday + timedelta(days=7), "this week")
    if t == "next week":
        return DayRange(monday + timedelta(days=7), monday + timedelta(days=14), "next week")
    if t in ("this weekend", "the weekend", "weekend", "next weekend"):
        sat = monday + timedelta(days=5 + (7 if t == "next weekend" else 0))
        return DayRange(max(sat, today), sat + timedelta(days=2), "this weekend" if t != "next weekend" else "next weekend")
    try:
        found = _find_day(t, now.date())
    except ValueError:
        return None
    if not found or any(w not in {"on", "the", "of"} for w in t.replace(found[1], " ", 1).split()):
        return None
    start = datetime.combine(found[0], time(0, 0), tzinfo=now.tzinfo)
    return DayRange(start, start + timedelta(days=1), day_label(found[0], now.date()))


SPLIT_WORDS = {"at", "on", "in", "by", "around", "after", "from", "this", "next", "the", "tomorrow", "tonight",
               "today", *WEEKDAYS, *MONTHS}


def _clock_time(words: list[str], i: int) -> bool:
    """A time said with no "at" before it: "email david 3pm", "3 pm", "5:30"."""
    w, nxt = words[i], words[i + 1] if i + 1 < len(words) else ""
    return bool(re.fullmatch(r"\d{1,2}(?::\d{2})?(?:am|pm)?", w)) and (w[-1] == "m" or ":" in w or nxt in ("am", "pm"))


def split_what_when(words: list[str], now: datetime, split_words=SPLIT_WORDS) -> tuple[str, When] | None:
    """['dentist', 'next', 'tuesday', 'at', '3', 'pm'] -> ('dentist', When(...)): the date is a tail.

    Every split point is tried strictly first, so 'look at the oven at 5 pm' finds 'at 5 pm'.
    """
    for fallback in (False, True):
        for i in range(1, len(words)):
            if words[i] in split_words or _clock_time(words, i):
                when = parse_when(" ".join(words[i:]), now, fallback=fallback)
                if when is not None:
                    return " ".join(words[:i]), when
    return None
