"""Semantic end of turn: does a transcript read like a finished request?

Silence alone needs ~500 ms to be sure the user is done; a transcript that ends like a sentence
(and not on "and", "the", "um"...) lets the pipeline answer after a shorter pause.
"""
from __future__ import annotations

import re

_CONTINUES = {
    "and", "or", "but", "so", "because", "then", "if", "than", "that", "which", "who", "when", "where",
    "the", "a", "an", "to", "for", "of", "with", "at", "in", "on", "from", "about", "by", "into",
    "my", "your", "our", "their", "his", "her", "its", "is", "are", "was", "were", "be",
    "um", "uh", "er", "erm", "hmm", "like", "let", "me", "please",
}
_WORDS = re.compile(r"[a-z0-9']+")


def looks_complete(text: str) -> bool:
    t = text.strip()
    if not t or t[-1] not in ".?!" or t.endswith("..."):
        return False
    words = _WORDS.findall(t.lower())
    return bool(words) and words[-1] not in _CONTINUES
