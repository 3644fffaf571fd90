"""Text as a transcript looks: 'Hey Penny, what's the time?' -> 'whats the time'.

Used for wildcard slot values and for comparing phrasings; hassil itself matches the original text.
"""
from __future__ import annotations

import re

_PREFIX = re.compile(
    r"^(?:(?:hey|ok|okay|hi) )?(?:penny )?"
    r"(?:(?:please|can you|could you|would you|will you|can you please|could you please|"
    r"i want you to|id like you to|i need you to|go ahead and) )*")
# Sounds of thinking that mean nothing in a slot ("remember that, um, the bike lock ..."), per language
# ("um" is a German word). They are skip words of every sentence library too (intents/library.py).
HESITATIONS = {"en": frozenset({"um", "umm", "uh", "uhm", "ah", "eh", "erm", "hmm"})}  # "eh": how Whisper may write "uh"
_SUFFIX = re.compile(r"(?: (?:please|thanks|thank you|penny|for me please))+$")


def clean(text: str) -> str:
    """What hassil is given: the user's words with 'a.m.' and curly quotes made plain."""
    t = text.replace("’", "'")
    t = re.sub(r"(?i)\b([ap])\.m\.", lambda m: m.group(1).lower() + "m", t)
    return " ".join(t.split())


def normalize(text: str) -> str:
    t = clean(text).lower()
    t = re.sub(r"(?<=\d)[.:](?=\d)", lambda m: "\x02" if m.group() == ":" else "\x01", t)
    t = re.sub(r"(?<=\d)-(?=\d)", "\x00", t)
    t = t.replace("'", "")
    t = re.sub(r"[^\w\x00\x01\x02 $%€£]+", " ", t)  # money and percent stay: "I owe Sam $20"
    t = t.replace("\x00", "-").replace("\x01", ".").replace("\x02", ":")
    t = " ".join(t.split())
    return _SUFFIX.sub("", _PREFIX.sub("", t)).strip()


def without(words: frozenset[str], text: str) -> str:
    """`text` (normalized) without the given words."""
    return " ".join(w for w in text.split() if w not in words) if words else text
