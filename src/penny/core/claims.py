"""The claims guard: an LLM sentence that says an action was done ("The pasta timer is set for 10 minutes.")
is spoken only if a tool or skill really did that in this turn; otherwise an honest sentence replaces it.

The guard sits on the LLM's text stream and holds each clause until its end (a , ; : . ! ? or a line
break followed by a space), the earliest point the sentence splitter hands text to TTS anyway, so a
clause without a claim reaches the voice no later than before.
"""
from __future__ import annotations

import re
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncGenerator, Callable

from penny.core.events import LLMEvent, TextDelta

if TYPE_CHECKING:
    from penny.plugins.base import SkillResult

_PAST = (r"set|added|scheduled|booked|created|saved|noted|stored|started|reminded|put|made|written|jotted|logged|"
         r"recorded|cancell?ed|deleted|removed|entered|placed|sent|ordered|turned|called|texted|programmed|"
         r"activated|marked|penciled|pencilled|remembered|taken care of|got that|got it down")
_FUTURE = (r"set|add|schedule|book|create|save|note|store|start|remind|put|make|write|jot|log|record|remember|"
           r"cancel|delete|remove|enter|send|order|turn|call|text|wake|ping|alert|let you know|keep track|"
           r"take care of|get that|go ahead")
_GERUND = (r"setting|adding|scheduling|booking|creating|saving|noting|storing|starting|reminding|putting|making|"
           r"writing|jotting|logging|recording|cancell?ing|deleting|removing|entering|sending|ordering|turning|"
           r"switching|playing|calling|texting|emailing")
_NOUN = r"timers?|countdowns?|alarms?|reminders?|notes?|events?|appointments?|meetings?|entry|calendar"
_CLAIMS = [
    # I've set / I have just added / I went ahead and booked
    rf"\b(?:i|we)(?:'ve| have|'ve now| just| already| now)?\s+(?:just\s+|already\s+|now\s+|also\s+|"
    rf"(?:gone|went) ahead and\s+)?(?:{_PAST})\b",
    # I'll remind you / I will set / I'm going to add / let me set / I'm setting
    rf"\b(?:i'll|i will|i'm going to|i am going to|i'm gonna|let me|i shall|we'll)\s+(?:also\s+|now\s+|just\s+|"
    rf"go ahead and\s+)?(?:{_FUTURE})\b",
    rf"\b(?:i'm|i am|we're)\s+(?:now\s+|just\s+)?(?:{_GERUND})\b",
    rf"^\W*(?:ok(?:ay)?|sure|alright|all right|got it|great|no problem|certainly|of course)?\W*(?:{_GERUND})\b",
    # the timer is set / your reminder has been added / the meeting is now on your calendar / timer set for
    rf"\b(?:{_NOUN})\b.*?\b(?:is|are|has been|have been|was|were|'s|is now|are now|is all)\s+(?:now\s+|all\s+)?"
    rf"(?:set|added|scheduled|booked|created|saved|noted|started|running|stored|logged|on|in|ready|confirmed|"
    rf"cancell?ed|deleted|removed|going)\b",
    rf"\b(?:{_NOUN})\s+(?:set|added|saved|created|scheduled|started|booked|noted|logged|confirmed)\b",
    rf"\b(?:{_NOUN})\b.*?\b(?:will|'ll)\s+(?:go off|ring|beep|sound|remind|alert|notify|pop up|start)\b",
    r"\b(?:added|saved|put|written|noted)\s+(?:it\s+|that\s+)?(?:to|on|in|into)\s+(?:your|the)\s+(?:calendar|notes|"
    r"list|schedule|diary)\b",
    r"\b(?:is|are|'s|has been|have been)\s+(?:now\s+)?(?:on|in)\s+your\s+(?:calendar|schedule|diary|notes)\b",
    # the thermostat is set to 20 / the lights are now on / it's been switched off
    r"\b(?:is|are|has been|have been|'s been)\s+(?:now\s+|currently\s+)?(?:set|turned|switched)\s+(?:to|on|off|up|down)\b",
    r"\b(?:lights?|lamps?|heating|heater|thermostat|tv|television|music|fan|oven|door)\b.*?\b(?:is|are)\s+"
    r"(?:now\s+|currently\s+)?(?:on|off|playing|locked|unlocked)\b",
    r"^\W*(?:done|all set|all done|you're all set|you are all set|consider it done|it's done|that's done|"
    r"it is done|will do)\b",
]
_CLAIM = re.compile("|".join(f"(?:{c})" for c in _CLAIMS), re.I)
_NEGATION = re.compile(r"\b(?:not|never|cannot|unable|nothing|no (?:timer|reminder|alarm|note|event|appointment|"
                       r"meeting)s?)\b|n't\b", re.I)
_KINDS = [  # claim words -> the plugin whose success would make the claim true
    ("reminder", "timers", re.compile(r"\b(?:remind\w*|let you know|wake|alarms?)\b", re.I)),
    ("timer", "timers", re.compile(r"\b(?:timers?|countdowns?)\b", re.I)),
    ("calendar", "calendar", re.compile(r"\b(?:calendar|events?|appointments?|meetings?|schedul\w*|booked|diary)\b",
                                        re.I)),
    ("note", "notes", re.compile(r"\b(?:notes?|noted|jot\w*|remember\w*|written down|write that down)\b", re.I)),
]
HONEST = {
    "timer": "I haven't set a timer. To set one, say: set a timer for 10 minutes.",
    "reminder": "I haven't set a reminder. To set one, say: remind me at 5 pm to call mom.",
    "calendar": "I haven't added anything to your calendar. To add it, say: add lunch tomorrow at noon to my calendar.",
    "note": "I haven't saved a note. To save one, say: remember that, and then the note.",
    None: "I haven't actually done anything. I can set timers and reminders, take notes, and add calendar events.",
}
# A claim naming no skill counts only with one of these ("I made a mistake" claims nothing).
_STRONG = re.compile(r"\b(?:set|setting|add|added|adding|schedul\w*|book|booked|booking|create|created|creating|save|"
                     r"saved|saving|noted|remind\w*|cancel\w*|delet\w*|sent|send|order\w*|done|all set|turned|"
                     r"switched|on|off|playing|locked|unlocked)\b", re.I)
_SENTENCE_END = re.compile(r"(?:[.!?…][\"')\]]*\s*|\n\s*)$")
_BOUNDARY = re.compile(r"[.!?…,;:](?:[\"')\]]*)\s|\n")
_MAX_HELD = 300  # a clause this long with no punctuation is let through at a space


def claim_kind(sentence: str) -> tuple[bool, str | None]:
    """(True, kind) when `sentence` says an action was done or will be; kind None: no particular skill."""
    text = sentence.replace("’", "'")
    m = _CLAIM.search(text)
    if m is None:
        return False, None
    if _NEGATION.search(text[:m.end()]):  # "no timer has been set", "I haven't set"
        return False, None
    kind = next((kind for kind, _, rx in _KINDS if rx.search(text)), None)
    return (kind is not None or _STRONG.search(m.group()) is not None), kind


@dataclass
class Ledger:
    """What the code really did in one turn: (plugin, tool or intent, succeeded)."""

    done: list[tuple[str, str, bool]] = field(default_factory=list)

    def record(self, plugin: str, name: str, result: SkillResult) -> None:
        data = result.data
        ok = bool(data) and "error" not in data and not result.needs_confirmation
        self.done.append((plugin, name, ok))

    def supports(self, kind: str | None) -> bool:
        plugin = next((p for k, p, _ in _KINDS if k == kind), None)
        return any(ok and (plugin is None or p == plugin) for p, _, ok in self.done)


# What the running turn's skills and tools changed: core/turn.py points it at the turn's TurnTrace.acted, in the
# turn's own task, so a later turn knows whether this one may be merged away (core/continuation.py).
_acted: ContextVar[tuple[list[str], list] | None] = ContextVar("penny_acted", default=None)


def watch_actions(into: list[str], undo: list | None = None) -> None:
    """From now on in this task, each change a skill or tool makes is noted in `into`, and in `undo` how
    to take it back (None where it can't be: Plugin.undoer)."""
    _acted.set((into, undo if undo is not None else []))


def acted(plugin: str, name: str, result: SkillResult, undo: Callable[[], None] | None = None) -> None:
    """A skill or tool that changes things ran (plugins/registry.py); one that failed or only asked to
    confirm changed nothing."""
    watched = _acted.get()
    if watched is not None and "error" not in result.data and not result.needs_confirmation:
        watched[0].append(f"{plugin}.{name}")
        watched[1].append(undo)


class ClaimGuard:
    """feed(text) -> text safe to speak now; flush() -> the rest. One per LLM reply."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.held = ""
        self.sentence = ""  # clauses of the current sentence already let through
        self.dropping = False  # the rest of a sentence whose claim was replaced
        self.replaced = 0  # false claims replaced in this reply

    def feed(self, text: str) -> str:
        self.held += text
        out = []
        while (m := _BOUNDARY.search(self.held)) or len(self.held) > _MAX_HELD:
            cut = m.end() if m else (self.held.rfind(" ", 0, _MAX_HELD) + 1 or _MAX_HELD)
            out.append(self._check(self.held[:cut]))
            self.held = self.held[cut:]
        return "".join(out)

    def flush(self) -> str:
        rest, self.held = self.held, ""
        return self._check(rest) if rest else ""

    def _check(self, clause: str) -> str:
        ends = _SENTENCE_END.search(clause) is not None
        if self.dropping:
            self.dropping = not ends
            return ""
        claims, kind = claim_kind(clause)
        if self.sentence and (not claims or kind is None):  # "Your timer, for ten minutes, | is set."
            whole, kind = claim_kind(self.sentence + clause)
            claims = claims or (whole and not claim_kind(self.sentence)[0])
        if not claims or self.ledger.supports(kind):
            self.sentence = "" if ends else self.sentence + clause
            return clause
        self.sentence, self.dropping = "", not ends
        self.replaced += 1
        if self.replaced > 1:
            return ""  # said once is enough
        tail = clause[len(clause.rstrip()):]
        return HONEST[kind] + (tail or " ")


async def guarded(events: AsyncGenerator[LLMEvent, None], ledger: Ledger) -> AsyncGenerator[LLMEvent, None]:
    """The LLM's events with every TextDelta passed through a ClaimGuard; other events unchanged."""
    guard = ClaimGuard(ledger)
    async with aclosing(events):  # a barge-in closing this closes the LLM stream at once
        async for ev in events:
            if isinstance(ev, TextDelta):
                text = guard.feed(ev.text)
                if text:
                    yield TextDelta(text)
            else:
                yield ev
    if rest := guard.flush():
        yield TextDelta(rest)
