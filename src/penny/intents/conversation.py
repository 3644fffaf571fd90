"""The conversation's own words in each language: yes, no, and "start over" (sentences/<lang>/conversation.yaml)."""
from __future__ import annotations

from functools import lru_cache

from hassil import recognize_best

from penny.intents.library import Library, load, name_words
from penny.intents.text import clean

_NAMES = {"PennyYes", "PennyNo", "PennyStartOver"}


@lru_cache(maxsize=8)
def _library(language: str) -> Library:
    return load(language, _NAMES, skip_words=name_words("penny"))


@lru_cache(maxsize=64)  # a turn asks of one text several times: is it a yes? a no? "start over"?
def _which(text: str, language: str) -> str | None:
    lib = _library(language)
    if not lib.intents.intents:
        lib = _library("en")  # a language without these sentences still understands English ones
    said = clean(text)
    if not said.strip():
        return None
    result = recognize_best(said, lib.intents, language=lib.language)
    return result.intent.name if result is not None else None


def yes_or_no(text: str, language: str = "en") -> bool | None:
    """True for a yes ("yes add it to my calendar"), False for a no, None for anything else."""
    name = _which(text, language)
    return True if name == "PennyYes" else False if name == "PennyNo" else None


def start_over(text: str, language: str = "en") -> bool:
    return _which(text, language) == "PennyStartOver"
