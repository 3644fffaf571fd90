"""Going on with an answer after its backend failed, and cleaning streamed text.

- `continuation`: the messages that ask a chat backend to continue another's partial answer.
- `OverlapFilter`: drops what a continuing backend repeats (an exact restart, a restated sentence, the
  last words said) and puts a space between the old text and the new where one is needed.
- `ThinkFilter`: removes <think>...</think> reasoning from streamed text.
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher

from penny.adapters.llm.base import Message

CONTINUE = "Continue your previous reply exactly where it stopped, without repeating anything already said."
_SENTENCE = re.compile(r"[^.!?]*[.!?]+[\"')\]]*\s*|[^.!?]+$")
_WORD = re.compile(r"[\w']+")


def continuation(messages: list[Message], partial: str, *, prefill: bool = False) -> list[Message]:
    """Messages that ask a backend to go on with a partial answer. With `prefill` (a backend that continues
    a trailing assistant message, like the embedded model) the partial answer is simply the last message."""
    if not partial:
        return list(messages)
    if prefill:
        return [*messages, {"role": "assistant", "content": partial}]
    return [*messages, {"role": "assistant", "content": partial}, {"role": "user", "content": CONTINUE}]


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.findall(text) if s.strip()]


def similar(a: str, b: str, at_least: float = 0.75) -> bool:
    """Do two sentences say the same thing in nearly the same words?"""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return False
    return SequenceMatcher(None, wa, wb).ratio() >= at_least


def joined(said: str, text: str) -> str:
    """`text` to append to `said`, with a space between them where the seam would glue two words."""
    if said and text and not said[-1].isspace() and not text[0].isspace():
        if (said[-1].isalnum() or said[-1] in ".,!?;:)\"'") and (text[0].isalnum() or text[0] in "(\""):
            return " " + text
    return text


class OverlapFilter:
    """Drops a continuing backend's repetition of text already said; passes real continuations.

    A continuation whose first word differs from the answer's first word goes through at once (less a
    repeat of the last words said). One that begins like the answer may be a restart: it is held sentence
    by sentence, each sentence that restates one already said is dropped, and the first new one goes
    through with all that follows. Call `flush()` when the stream ends.
    """

    HOLD_CHARS = 400  # never hold more than this: a long first sentence is not a restart worth waiting on

    def __init__(self, said: str) -> None:
        self.said = said.strip()
        self.raw = said
        self.buf = ""
        self.done = not self.said
        self._said_sentences = sentences(self.said)
        self._first = (words(self.said) or [""])[0]
        self._restart = False  # it began like the answer: check it sentence by sentence

    def feed(self, text: str) -> str:
        if self.done:
            return text
        self.buf += text
        head = self.buf.lstrip()
        if not head:
            return ""
        if head.startswith(self.said):  # it started over word for word: keep only what is new
            if len(head) == len(self.said):
                return ""
            return self._pass(head[len(self.said):])
        if not self._restart:
            m = re.match(r"[\w']+", head)
            if m is None:  # it starts with punctuation: a continuation
                return self._pass(self._after_tail(self.buf))
            word = m.group(0).lower()
            if not self._first.startswith(word) or (m.end() < len(head) and word != self._first):
                return self._pass(self._after_tail(self.buf))  # not the answer's first word: no restart
            if m.end() == len(head):
                return ""  # the first word is not complete yet
            self._restart = True
        return self._sentences(final=False)

    def flush(self) -> str:
        """The end of the stream: whatever is held, less what repeats."""
        if self.done:
            return ""
        head = self.buf.lstrip()
        if head.startswith(self.said):
            return self._pass(head[len(self.said):])
        return self._sentences(final=True)

    def _sentences(self, final: bool) -> str:
        head = self.buf.lstrip()
        while True:
            m = re.match(r"[^.!?]*[.!?]+[\"')\]]*(?=\s)", head)
            if m is None:  # no whole sentence yet
                if final:
                    return self._pass("" if self._repeats(head) else head)
                if len(head) >= self.HOLD_CHARS:
                    return self._pass(head)
                self.buf = head
                return ""
            if not self._repeats(m.group(0)):
                return self._pass(head)
            head = head[m.end():].lstrip()

    def _repeats(self, sentence: str) -> bool:
        """Does `sentence` restate one already said (or the unfinished last one)?"""
        return any(similar(sentence, s) or similar(_prefix(sentence, s), s) for s in self._said_sentences)

    def _after_tail(self, text: str) -> str:
        """Drop a repeat of the last words said ("... on the river Seine" + "river Seine and ...")."""
        said, head = self.said.split(), text.lstrip()
        for k in range(min(6, len(said)), 1, -1):
            tail = " ".join(said[-k:])
            if len(tail) >= 8 and head.startswith(tail) and not head[len(tail):len(tail) + 1].isalnum():
                return head[len(tail):]
        return text

    def _pass(self, text: str) -> str:
        self.done = True
        self.buf = ""
        return joined(self.raw, text)


def _prefix(sentence: str, like: str) -> str:
    """The first words of `sentence`, as many as `like` has (to compare with a sentence cut off mid-way)."""
    n = len(words(like))
    found = list(_WORD.finditer(sentence))
    return sentence[:found[n - 1].end()] if 0 < n <= len(found) else sentence


class ThinkFilter:
    """Removes <think>...</think> reasoning from streamed text (tags may be split across chunks):
    a voice assistant must not read its model's thoughts aloud."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.inside = False
        self.buf = ""
        self.emitted = self.saw_think = False

    def feed(self, text: str) -> str:
        self.buf += text
        out = []
        while True:
            tag = self.CLOSE if self.inside else self.OPEN
            i = self.buf.find(tag)
            if i < 0:
                break
            if not self.inside:
                out.append(self.buf[:i])
            self.buf, self.inside, self.saw_think = self.buf[i + len(tag):], not self.inside, True
        keep = next((k for k in range(min(len(tag) - 1, len(self.buf)), 0, -1) if tag.startswith(self.buf[-k:])), 0)
        if not self.inside:
            out.append(self.buf[:len(self.buf) - keep])
        self.buf = self.buf[len(self.buf) - keep:]
        return self._emit("".join(out))

    def flush(self) -> str:
        rest, self.buf = ("" if self.inside else self.buf), ""
        return self._emit(rest)

    def _emit(self, text: str) -> str:
        if not self.emitted and self.saw_think:  # the blank lines after </think>
            text = text.lstrip()
        self.emitted = self.emitted or bool(text)
        return text
