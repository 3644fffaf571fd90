"""Text a voice can read: no markdown, code or emoji; numbers, times, dates and units as words.

`speakable(text)` is pure and deterministic, so it is safe to use inside cache keys.
"""
from __future__ import annotations

import re
from functools import lru_cache

from unicode_rbnf import FormatPurpose, RbnfEngine

from penny.languages import base

MONTHS = ("January February March April May June July August September October "
          "November December").split()
_MONTH_RE = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
             r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")


@lru_cache(maxsize=1)
def _rbnf() -> RbnfEngine:
    return RbnfEngine.for_language("en")


def _spell(n: int, purpose: FormatPurpose | None = None) -> str:
    """CLDR's own spelling of `n` (unicode-rbnf, as Home Assistant uses), not a hand-kept table."""
    return _rbnf().format_number(n, purpose).text


def number_words(n: int) -> str:
    """12 -> 'twelve', 1500 -> 'one thousand five hundred' (US style, no 'and')."""
    return _spell(n)


def ordinal_words(n: int) -> str:
    """3 -> 'third', 21 -> 'twenty-first', 40 -> 'fortieth'."""
    from unicode_rbnf import FormatPurpose

    return _spell(n, FormatPurpose.ORDINAL)


def year_words(y: int) -> str:
    """1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand five', 2024 -> 'twenty twenty-four'."""
    from unicode_rbnf import FormatPurpose

    return _spell(y, FormatPurpose.YEAR)


def _digits(s: str) -> str:
    return " ".join(number_words(int(c)) for c in s)


def _int_words(s: str) -> str:
    s = s.replace(",", "")
    if len(s) > 1 and s.startswith("0") or len(s) > 12:
        return _digits(s)  # codes, zip codes, long digit strings
    return number_words(int(s))


def _decimal_words(s: str) -> str:
    whole, _, frac = s.replace(",", "").partition(".")
    return _int_words(whole or "0") + (" point " + _digits(frac) if frac else "")


def _month(name: str) -> str:
    return next(m for m in MONTHS if m.lower().startswith(name[:3].lower()))


# ---- markdown, code, emoji -------------------------------------------------------------------

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"\b(?:https?://|www\.)([^\s/?#<>()]+?)(?:[/?#:][^\s<>()]*?)?(?=[.,;:!?'\")]*(?:\s|$))", re.I)
_HTML = re.compile(r"</?[A-Za-z][^>]{0,200}>")
_LINE_MARKS = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+•▪◦‣][ \t]+|\d{1,3}[.)][ \t]+)+", re.M)
_RULE = re.compile(r"^[ \t]*(?:[-*_=][ \t]*){3,}$", re.M)
_EMPH = re.compile(r"(\*{1,3}|_{1,3}|~~)(?=\S)(.+?)(?<=\S)\1")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0001F1E6-\U0001F1FF"
                    "\U00002B00-\U00002BFF\U0000FE0F\U0000200D\U000020E3\U0001F3FB-\U0001F3FF]+")
_ABBREV = [(re.compile(p, re.I), w) for p, w in (
    (r"\be\.g\.(?=\s|,|$)", "for example"), (r"\bi\.e\.(?=\s|,|$)", "that is"),
    (r"\betc\.(?=\s*$)", "et cetera."), (r"\betc\.", "et cetera"), (r"\bvs\.?(?=\s)", "versus"), (r"\bapprox\.", "approximately"),
    (r"\bDr\.(?=\s+[A-Z])", "Doctor"), (r"\bMr\.(?=\s+[A-Z])", "Mister"),
    (r"\bMrs\.(?=\s+[A-Z])", "Missus"), (r"\bNo\.(?=\s*\d)", "number"),
)]

# ---- numbers ---------------------------------------------------------------------------------

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "m": ("meter", "meters"), "mi": ("mile", "miles"),
    "ft": ("foot", "feet"), "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "ml": ("milliliter", "milliliters"), "l": ("liter", "liters"),
    "kb": ("kilobyte", "kilobytes"), "mb": ("megabyte", "megabytes"), "gb": ("gigabyte", "gigabytes"),
    "tb": ("terabyte", "terabytes"), "hz": ("hertz", "hertz"), "khz": ("kilohertz", "kilohertz"),
    "mhz": ("megahertz", "megahertz"), "ghz": ("gigahertz", "gigahertz"), "ms": ("millisecond", "milliseconds"),
    "s": ("second", "seconds"), "sec": ("second", "seconds"), "min": ("minute", "minutes"),
    "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "w": ("watt", "watts"),
    "kw": ("kilowatt", "kilowatts"), "kwh": ("kilowatt hour", "kilowatt hours"), "v": ("volt", "volts"),
}
_ATTACHED_ONLY = {"m", "s", "h", "g", "l", "w", "v", "mi"}  # "5 m" is too ambiguous; "5m" is not
_UNIT_RE = re.compile(r"(?<![\w.])(" + _NUM + r")(\s?)(" + "|".join(
    sorted((re.escape(u) for u in _UNITS), key=len, reverse=True)) + r")(?![\w/])", re.I)
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence")}
_MONEY_BIG = re.compile(r"([$€£])(" + _NUM + r")\s?(thousand|million|billion|trillion|[kKmMbB]n?)\b")
_MONEY = re.compile(r"([$€£])(\d+(?:,\d{3})*)(?:\.(\d{2}))?(?!\d)")
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?(?:\s?([ap])\.?\s?m\b(?:\.(?!\s+(?-i:[A-Z])|\s*$))?)?", re.I)
_HOUR_AMPM = re.compile(r"\b(1[0-2]|0?[1-9])\s?([ap])\.?\s?m\b(?:\.(?!\s+(?-i:[A-Z])|\s*$))?", re.I)
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[-. ])?(?:\(\d{3}\)\s?|\d{3}[-. ])?\d{3}-\d{4}\b")
_ISO_DATE = re.compile(r"\b(1\d{3}|20\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b")
_MONTH_DAY = re.compile(r"\b(" + _MONTH_RE + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(1\d{3}|20\d\d)\b)?")
_DAY_MONTH = re.compile(r"(?:\b([Tt]he)\s+)?\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + _MONTH_RE + r")\b\.?(?:,?\s+(1\d{3}|20\d\d)\b)?")
_YEAR_CTX = re.compile(r"\b(in|since|by|from|until|till|of|year|circa|around|before|after)\s+(1[1-9]\d\d|20\d\d)\b(?!\s*(?:%|[-–]\d|\.\d))", re.I)
_DECADE = re.compile(r"\b(1[1-9]\d0|20\d0)'?s\b")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.I)
_PERCENT = re.compile(r"(" + _NUM + r")\s?%")
_TEMP = re.compile(r"(-?" + _NUM + r")\s?°\s?([CF])\b")
_RANGE = re.compile(r"(?<![\d.:-])(?:(\d{1,4})\s?[–—]\s?(\d{1,4})|(\d{1,3})-(\d{1,3})|(1\d{3}|20\d\d)-(1\d{3}|20\d\d))(?![\d:-])")
_VERSION = re.compile(r"\b\d+(?:\.\d+){2,}\b")
_NEG = re.compile(r"(?<![\w.])[-−](?=\d)")
_NUMBER = re.compile(r"(?<![\w.])" + _NUM + r"\b")


def _plural(n: str) -> bool:
    return n.replace(",", "") not in ("1", "1.0")


def _sub_money_big(m: re.Match) -> str:
    scale = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion"}
    word = scale.get(m.group(3).lower(), m.group(3).lower())
    return f"{_decimal_words(m.group(2))} {word} {_CURRENCY[m.group(1)][1]}"


def _sub_money(m: re.Match) -> str:
    one, many, cent, cents = _CURRENCY[m.group(1)]
    whole = m.group(2)
    out = f"{_int_words(whole)} {many if _plural(whole) else one}"
    if m.group(3) and int(m.group(3)):
        c = int(m.group(3))
        out += f" and {number_words(c)} {cents if c != 1 else cent}"
    return out


def _sub_time(m: re.Match) -> str:
    h, mins, ampm = int(m.group(1)), int(m.group(2)), m.group(3)
    words = number_words(h)
    if mins == 0:
        words += "" if ampm else " o'clock"
    else:
        words += (" oh " + number_words(mins)) if mins < 10 else " " + number_words(mins)
    return words + (f" {ampm.lower()} m" if ampm else "")


def _sub_unit(m: re.Match) -> str:
    num, space, unit = m.group(1), m.group(2), m.group(3)
    key = unit.lower()
    if key in _ATTACHED_ONLY and space:
        return m.group(0)
    if unit in ("M", "B"):  # "5M" is millions, not meters
        return m.group(0)
    one, many = _UNITS[key]
    return f"{_decimal_words(num)} {many if _plural(num) else one}"


def _date(month: str, day: str, year: str | None, day_first: bool = False) -> str:
    d = int(day)
    if not 1 <= d <= 31:
        return f"{_month(month)} {day}" + (f" {year}" if year else "")
    core = f"the {ordinal_words(d)} of {_month(month)}" if day_first else f"{_month(month)} {ordinal_words(d)}"
    return core + (f", {year_words(int(year))}" if year else "")


def _decade(m: re.Match) -> str:
    w = year_words(int(m.group(1)))
    return w[:-1] + "ies" if w.endswith("y") else w + "s"


def _numbers(text: str) -> str:
    text = _ISO_DATE.sub(lambda m: _date(MONTHS[int(m.group(2)) - 1], m.group(3), m.group(1)), text)
    text = _MONTH_DAY.sub(lambda m: _date(m.group(1), m.group(2), m.group(3)), text)
    text = _DAY_MONTH.sub(lambda m: (m.group(1) or "the") + _date(m.group(3), m.group(2), m.group(4), day_first=True)[3:], text)
    text = _PHONE.sub(lambda m: ", ".join(_digits(re.sub(r"\D", "", p)) for p in re.split(r"[-. )]+", m.group(0)) if re.sub(r"\D", "", p)), text)
    text = _TIME.sub(_sub_time, text)
    text = _HOUR_AMPM.sub(lambda m: f"{number_words(int(m.group(1)))} {m.group(2).lower()} m", text)
    text = _MONEY_BIG.sub(_sub_money_big, text)
    text = _MONEY.sub(_sub_money, text)
    text = _TEMP.sub(lambda m: f"{_decimal_words(m.group(1).lstrip('-'))} degrees "
                     f"{'Celsius' if m.group(2) == 'C' else 'Fahrenheit'}"
                     if not m.group(1).startswith("-") else
                     f"minus {_decimal_words(m.group(1)[1:])} degrees {'Celsius' if m.group(2) == 'C' else 'Fahrenheit'}",
                     text)
    text = text.replace("°", " degrees")
    text = _PERCENT.sub(lambda m: f"{_decimal_words(m.group(1))} percent", text)
    text = _DECADE.sub(_decade, text)
    text = _YEAR_CTX.sub(lambda m: f"{m.group(1)} {year_words(int(m.group(2)))}", text)
    text = _ORDINAL.sub(lambda m: ordinal_words(int(m.group(1))), text)
    text = _UNIT_RE.sub(_sub_unit, text)
    text = _RANGE.sub(lambda m: " to ".join(year_words(int(g)) if m.group(5) else g for g in m.groups() if g), text)
    text = _VERSION.sub(lambda m: " point ".join(_int_words(p) for p in m.group(0).split(".")), text)
    text = _NEG.sub("minus ", text)
    return _NUMBER.sub(lambda m: _decimal_words(m.group(0)), text)


def _url_words(m: re.Match) -> str:
    host = m.group(1).lower().removeprefix("www.").split(":")[0]
    return " dot ".join(p for p in host.split(".") if p)


def strip_markup(text: str) -> str:
    """Markdown, code fences, HTML, URLs and emoji out; the words stay."""
    text = _FENCE.sub(" ", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub(_url_words, text)
    text = _HTML.sub(" ", text)
    text = _RULE.sub("", text)
    text = _LINE_MARKS.sub("", text)
    for _ in range(2):
        text = _EMPH.sub(r"\2", text)
    text = re.sub(r"^[ \t]*\|[ \t]*|[ \t]*\|[ \t]*$", "", text, flags=re.M)  # table row edges
    text = text.replace("`", "").replace("|", ", ")
    text = _EMOJI.sub(" ", text)
    text = re.sub(r"(?<!\w)[:;]-?[()DPp](?!\w)", " ", text)  # emoticons
    text = re.sub(r"(?<!\w)[*_#~]+|[*_#~]+(?!\w)", " ", text)  # stray markup characters
    return re.sub(r"(?<=[A-Za-z])_(?=[A-Za-z])", " ", text)  # snake_case reads as words


class Speakable(str):
    """Text speakable() already made (for `language`): the sentence splitter's output, which the TTS cache
    then keys on as it is instead of making it speakable a second time."""

    language = "en"


def speakable(text: str, language: str = "en") -> str:
    """What a voice should say for `text`: one line of plain words, or '' when nothing is speakable.
    Numbers, units and abbreviations become English words only in English: another language's voice
    (espeak-ng, Piper) reads "08:00" and "25. November" in its own language."""
    if isinstance(text, Speakable) and text.language == language:
        return text
    done = Speakable(_speakable(text, language))
    done.language = language
    return done


def _speakable(text: str, language: str) -> str:
    text = strip_markup(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # Lines (headings, list items) become sentences so the voice pauses between them.
    text = " ".join(ln if i == len(lines) - 1 or ln[-1] in ".!?,;:" else ln + "." for i, ln in enumerate(lines))
    if base(language) == "en":
        for pattern, word in _ABBREV:
            text = pattern.sub(word, text)
        text = _numbers(text)
        text = re.sub(r"\s*&\s*", " and ", text)
        text = re.sub(r"(?<=\s)@(?=\s)", "at", text)
        text = re.sub(r"\s*(?:->|→|=>)\s*", " to ", text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", re.sub(r"\s+", " ", text)).strip()
    text = re.sub(r"^[,.;:\s]+", "", text)
    return text if re.search(r"\w", text) else ""
