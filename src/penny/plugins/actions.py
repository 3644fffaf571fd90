"""Side-effect requests the router missed ("I need a timer for the pasta, ten minutes"): code picks the tool
and splits out its slots; the tool's own parser then checks them, and its reply is what Penny says.

Why code and not the model: the embedded SmolLM2-135M, constrained to a JSON schema through
llama_cpp.server's `response_format`, chose the right tool for 3 of 7 such requests and filled usable
slots for 1 of 7 (it wrote Python into a "duration" string). A wrong action is no better than a false
claim, so anything these rules do not recognise goes to the LLM, whose claims core/claims.py checks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from penny.plugins.dates import SPLIT_WORDS, parse_duration, parse_when
from penny.intents.text import normalize

_QUESTION = re.compile(r"^(?:what|whats|when|whens|where|wheres|who|whos|why|how|hows|which|is|are|do|does|did|"
                       r"should|would|will|can|could|was|were|have|has|tell me (?:about|what|how|when|if|whether))\b")
_REMIND = re.compile(r"\b(?:remind(?:er)?s?|dont let me forget|wake me(?: up)?|alarm)\b")
_REMIND_IF_TIMED = re.compile(r"\b(?:remember to|tell me to|let me know|ping me|nudge me|alert me|get me up)\b")
_REMEMBER_TO = re.compile(r"\bremember to\b")
_TIMER = re.compile(r"\b(?:timer|countdown|time (?:my|the))\b")
_CALENDAR = re.compile(r"\b(?:calendar|schedule|agenda|diary|appointment|meeting|event)\b")
_ADD_VERB = re.compile(r"\b(?:add|put|get|schedule|book|create|make|set up|pencil|enter|plan|stick|pop|throw|"
                       r"mark|block)\b")
_NOTE = re.compile(r"\b(?:(?:make|take|save|add|write|leave) (?:a |me a )?note|note (?:down|that|this)|notes?|jot|"
                   r"write (?:down|that|this)|remember (?:that|this)|save (?:that|this))\b")
_NOTE_HEAD = re.compile(r"^.*?\b(?:note|jot|write|remember|save)\b(?: (?:down|it|this|that|saying|says|to|of|"
                        r"about|in my notes|to my notes|a note)\b)*:? ?")
# Words that only say "do it": dropped when the rest of the request becomes a reminder or event title.
_FILLER = {"please", "a", "an", "me", "for", "set", "add", "put", "create", "make", "new", "up", "on", "in", "to",
           "my", "the", "reminder", "remind", "calendar", "schedule", "agenda", "diary", "i", "need", "want",
           "would", "like", "id", "can", "you", "tell", "let", "know", "dont", "forget", "ping", "nudge", "alert",
           "book", "plan", "pencil", "enter", "stick", "pop", "throw", "event", "called", "named", "that", "about",
           "and", "at", "remember", "so", "just", "get", "mark", "block"}
_EDGE = {"and", "for", "of", "about", "the", "to", "that", "just", "exactly", "only", "please"}  # never ends a slot
_TIMER_STOP = {"a", "an", "the", "my", "new", "timer", "countdown", "for", "of", "on", "set", "start", "me", "please",
               "and", "minute", "minutes", "second", "seconds", "hour", "hours", "i", "need", "want", "put", "make"}


@dataclass(frozen=True)
class Guess:
    """A tool to call and its arguments; `missing`: what to ask for instead when a slot could not be found."""

    tool: str
    args: dict
    missing: str | None = None


def _span(words: list[str], parse) -> tuple[int, int] | None:
    """The longest run of words that `parse` accepts (earliest first on ties), without filler at its ends."""
    for size in range(len(words), 0, -1):
        for i in range(len(words) - size + 1):
            if words[i] in _EDGE or words[i + size - 1] in _EDGE:
                continue
            if parse(" ".join(words[i:i + size])):
                return i, i + size
    return None


def _when_span(words: list[str], now: datetime) -> tuple[int, int] | None:
    starts = SPLIT_WORDS | {"noon", "midnight"}

    def ok(text: str) -> bool:
        first = text.split()[0]
        return (first in starts or first[0].isdigit()) and parse_when(text, now, fallback=False) is not None
    return _span(words, ok)


def _rest(words: list[str], span: tuple[int, int] | None) -> list[str]:
    return words[:span[0]] + words[span[1]:] if span else list(words)


def _trim(words: list[str]) -> str:
    """Drop command words at both ends: ['remind', 'me', 'to', 'call', 'mom'] -> 'call mom'."""
    while words and words[0] in _FILLER:
        words = words[1:]
    while words and words[-1] in _FILLER:
        words = words[:-1]
    return " ".join(words)


def _reminder(t: str, words: list[str], now: datetime) -> Guess:
    span = _when_span(words, now)
    rest = _rest(words, span)
    if re.search(r"\bwake me(?: up)?\b", t):
        what = "wake up"
    else:
        text = " ".join(rest)
        m = re.search(r"\b(to|that|about)\b (.+)$", text)
        what = _trim((m.group(2) if m else text).split())
        if m and m.group(1) != "to" and what:  # "about the car" stays "about the car", not "to the car"
            what = f"{m.group(1)} {what}"
        what = "" if what in ("alarm", "an alarm") else what
    if span is None:
        return Guess("set_reminder", {"text": what, "when": ""},
                     "When should I remind you? Say, for example: remind me at 5 pm to call mom.")
    return Guess("set_reminder", {"text": what, "when": " ".join(words[span[0]:span[1]])})


def _timer(t: str, words: list[str]) -> Guess:
    span = _span(words, lambda s: parse_duration(s) is not None)
    duration = " ".join(words[span[0]:span[1]]) if span else ""
    named = (r"\btime (?:my|the) ([a-z]+)", r"\b([a-z]+) (?:timer|countdown)\b",
             r"\b(?:timer|countdown)\b.*?\bfor (?:the |my )([a-z]+)\b", r"\b(?:timer|countdown) for ([a-z]+)\b")
    found = [m.group(1) for rx in named for m in [re.search(rx, t)] if m]
    name = next((n for n in found if n not in _TIMER_STOP and parse_duration(f"1 {n}") is None), None)
    return Guess("set_timer", {"duration": duration, **({"name": name} if name else {})})


def _event(words: list[str], now: datetime) -> Guess:
    span = _when_span(words, now)
    rest = [w for w in _rest(words, span) if w not in ("calendar", "schedule", "agenda", "diary")]
    title = _trim(rest)
    if span is None or not title:
        return Guess("add_calendar_event", {"title": title, "start": ""},
                     "What should I add, and when? Say, for example: add lunch with Sam tomorrow at noon "
                     "to my calendar.")
    return Guess("add_calendar_event", {"title": title, "start": " ".join(words[span[0]:span[1]])})


def _note(t: str) -> Guess:
    text = _NOTE_HEAD.sub("", t, count=1).strip()
    return Guess("remember_note", {"text": text}, None if text else "What should I note down?")


def guess(text: str, now: datetime) -> Guess | None:
    """The action `text` asks for, or None when it does not clearly ask for one (a question, a chat)."""
    t = normalize(text)
    if not t or _QUESTION.match(t):
        return None
    words = t.split()
    if _REMIND.search(t) or (_REMIND_IF_TIMED.search(t) and _when_span(words, now)):
        return _reminder(t, words, now)
    if _TIMER.search(t):
        return _timer(t, words)
    if _CALENDAR.search(t) and _ADD_VERB.search(t):
        return _event(words, now)
    if _NOTE.search(t) or _REMEMBER_TO.search(t):
        return _note(re.sub(r"\bremember to\b", "remember that i need to", t))
    return None
