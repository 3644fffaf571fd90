"""Incremental splitter: streamed LLM text in, speakable chunks out as early as is safe.

The first chunk of a reply may end at a clause (a comma after a few words, or after an opening
"Okay,") so the voice starts early; after that, whole sentences. A boundary is only taken once the
character after it has been seen, so "3." followed later by "5" never splits. Code fences are dropped whole.
"""
from __future__ import annotations

import re

from penny.core.speakable import speakable

__all__ = ["SentenceSplitter", "speakable", "split_sentences"]

# A '.' after these never ends a sentence.
NEVER_END = {
    "dr", "mr", "mrs", "ms", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "cf", "approx", "no",
    "fig", "mt", "gen", "col", "lt", "capt", "sgt", "rev", "hon", "dept", "est", "ca", "al", "op",
    "vol", "pp", "ph.d", "b.sc", "m.sc", "ave",
}
# A '.' after these ends a sentence only when the next word starts with a capital letter.
MAYBE_END = {"etc", "a.m", "p.m", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun",
             "jul", "aug", "sep", "sept", "oct", "nov", "dec", "min", "sec", "hrs", "approx"}
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)*[A-Za-z]$")  # U.S, J, e.t.c-like dotted letters
_ENDERS = ".!?…"
_CLAUSE = ",;:—–"
_CLOSERS = "\"')]}*_»”’`"
_FENCE = "```"
# Words a first chunk may end before when its sentence is long and has no comma (English only).
_JOINT = re.compile(r"\s(?=(?:with|and|but|because|so|which|while|where|although|until|unless)\s)", re.I)
# A reply's opening word that is said on its own before a pause ("Okay, | timer set for ten minutes."): spoken
# alone it starts the voice at once (the rest is made while it plays) and the pause stays as long (Piper: the
# comma's pause 250 ms in the whole sentence, 266-284 ms between the two pieces). English only.
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
_OPENERS = {"okay", "ok", "sure", "alright", "yes", "no", "sorry", "done", "well", "right", "great", "hmm"}


def _token_before(text: str, i: int) -> str:
    """The word (with inner dots) that ends just before index i."""
    j = i
    while j > 0 and not text[j - 1].isspace() and text[j - 1] not in "([{\"'“‘*_":
        j -= 1
    return text[j:i]


def _runs_on(word: str) -> bool:
    """May a number after this word's comma belong to it ("May, 2024", "5, 2024")? Elsewhere a clause mark
    followed by a space ends the clause at once: the claims guard hands text on only up to that space, so
    waiting for the next character would wait for its next clause."""
    w = word.lower().strip("\"'([{")
    return not w or w[-1].isdigit() or w in _MONTHS


def _at_line_start(text: str, start: int) -> bool:
    line = text[text.rfind("\n", 0, start) + 1:start]
    return line.strip(" \t>*-+") == ""


class SentenceSplitter:
    """feed(delta) -> chunks ready now; flush() -> the rest. One splitter per reply."""

    def __init__(self, *, first_clause_words: int = 4, max_chars: int = 220, hard_max_chars: int = 400,
                 language: str = "en", openers: bool = True):
        self.first_clause_words = first_clause_words
        self.openers = openers  # an opening "Okay," may be the first chunk
        self.language = language
        self.max_chars = max_chars
        self.hard_max_chars = hard_max_chars
        self.reset()

    def reset(self) -> None:
        self._buf = ""
        self._emitted = 0

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        out = self._drain(final=True)
        self.reset()
        return out

    # ---- internals -------------------------------------------------------------------------

    def _drain(self, final: bool) -> list[str]:
        out: list[str] = []
        while True:
            limit = self._remove_closed_fences(final)
            cut = self._find_boundary(limit, final)
            if cut is None:
                break
            self._emit(self._buf[:cut], out)
            self._buf = self._buf[cut:].lstrip()
        if final:
            self._emit(self._buf, out)
            self._buf = ""
        return out

    def _emit(self, raw: str, out: list[str]) -> None:
        text = speakable(raw, self.language)
        if text:
            out.append(text)
            self._emitted += 1

    def _remove_closed_fences(self, final: bool) -> int:
        """Drop complete ``` blocks; return how far the buffer may be scanned (an open fence stops it)."""
        while True:
            start = self._buf.find(_FENCE)
            if start < 0:
                return len(self._buf)
            end = self._buf.find(_FENCE, start + 3)
            if end < 0:
                if final:
                    self._buf = self._buf[:start]
                    return len(self._buf)
                return start
            self._buf = self._buf[:start] + "\n" + self._buf[end + 3:]

    def _find_boundary(self, limit: int, final: bool) -> int | None:
        found = self._punctuation_boundary(limit, final)
        if self._emitted == 0 and self.language.split("-")[0] == "en":
            joint = self._first_joint(self._buf[:found if found is not None else limit])
            if joint is not None:
                return joint
        return found

    def _opener(self, text: str, ch: str) -> bool:
        return self.openers and ch == "," and self.language.split("-")[0] == "en" and text.strip().lower() in _OPENERS

    def _first_joint(self, text: str) -> int | None:
        """A long first sentence without a comma starts sooner: cut before a joining word ("The weather
        is sunny | with a high of twenty.") once there are words enough on both sides."""
        for m in _JOINT.finditer(text):
            before, after = len(re.findall(r"\w+", text[:m.start()])), len(re.findall(r"\w+", text[m.end():]))
            if before >= self.first_clause_words + 1 and after >= 4:
                return m.start() + 1
        return None

    def _punctuation_boundary(self, limit: int, final: bool) -> int | None:
        buf = self._buf
        for i in range(limit):
            ch = buf[i]
            if ch == "\n":
                return i + 1
            if ch in _ENDERS or ch in _CLAUSE:
                j = i + 1
                while j < limit and (buf[j] in _CLOSERS or buf[j] in _ENDERS):
                    j += 1
                if j >= limit and not final:
                    return None  # cannot decide yet: wait for the next character
                decision = self._ends_here(buf, i, j, limit, final)
                if decision is None:
                    return None
                if decision:
                    return j
        if limit > self.hard_max_chars:  # no punctuation at all: break at the last space
            space = buf.rfind(" ", 0, self.hard_max_chars)
            return space + 1 if space > 0 else self.hard_max_chars
        return None

    def _ends_here(self, buf: str, i: int, j: int, limit: int, final: bool) -> bool | None:
        """Does a chunk end after buf[i:j]? None: undecided until more text arrives."""
        nxt = buf[j] if j < limit else " "
        ch = buf[i]
        if ch in _CLAUSE:
            if ch not in "—–" and not nxt.isspace():
                return False  # 1,000 / 10:30 / http://
            k = j
            while k < limit and buf[k].isspace():
                k += 1
            if k >= limit and not final and _runs_on(_token_before(buf, i)):
                return None  # "May, 2024" must not be cut: see what follows first
            if k < limit and buf[k].isdigit():
                return False
            words = len(re.findall(r"\w+", buf[:i]))
            first = self._emitted == 0 and (words >= self.first_clause_words or self._opener(buf[:i], ch))
            return first or i >= self.max_chars
        if not nxt.isspace():
            return False  # 3.5 / example.com / ?q=
        run = buf[i:j].strip(_CLOSERS)
        if run != ".":
            return True  # ! ? ... always end
        token = _token_before(buf, i)
        low = token.lower().lstrip("([{\"'")
        if token.isdigit() and _at_line_start(buf, i - len(token)):
            return False  # "1. " list marker
        if low in MAYBE_END:
            k = j
            while k < len(buf) and buf[k].isspace():
                k += 1
            if k >= len(buf):
                return True if final else None  # need the next word to decide
            return buf[k].isupper()
        if token == "I":
            return True  # "So did I. Then..." (the pronoun, not an initial)
        return not (low in NEVER_END or _INITIALS.match(token))


def split_sentences(text: str, language: str = "en") -> list[str]:
    """Whole text at once -> speakable chunks (for `penny say` and tests)."""
    s = SentenceSplitter(first_clause_words=10**6, language=language, openers=False)
    return s.feed(text) + s.flush()
