"""The deterministic intent router: common requests answered without the LLM.

Text is normalised the way a transcript looks (lowercase, no punctuation, "what's" -> "whats"),
then every enabled plugin's intent patterns are tried as full matches in order. A pattern must
cover the whole utterance, so "what time did the titanic sink" never becomes "what time is it".
"""
from __future__ import annotations

import logging
import re

from penny.plugins.base import Intent, IntentMatch, Plugin

log = logging.getLogger("penny.plugins.router")

_PREFIX = re.compile(
    r"^(?:(?:hey|ok|okay|hi) )?(?:penny )?"
    r"(?:(?:please|can you|could you|would you|will you|can you please|could you please|"
    r"i want you to|id like you to|i need you to|go ahead and) )*")
_SUFFIX = re.compile(r"(?: (?:please|thanks|thank you|penny|for me please))+$")

YES = {"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "do it", "go ahead", "confirm", "please do",
       "sounds good", "correct", "thats right", "right", "yes please", "yes do it", "yes add it",
       "yes go ahead", "of course", "absolutely", "affirmative", "add it", "save it", "yes thanks"}
NO = {"no", "nope", "nah", "cancel", "dont", "never mind", "nevermind", "no thanks", "no thank you",
      "stop", "forget it", "dont add it", "no dont", "wait no", "abort"}


def normalize(text: str) -> str:
    """'Hey Penny, what's the time?' -> 'whats the time'."""
    t = text.lower().replace("a.m.", "am").replace("p.m.", "pm").replace("’", "'")
    t = re.sub(r"(?<=\d)[.:](?=\d)", lambda m: "\x02" if m.group() == ":" else "\x01", t)
    t = re.sub(r"(?<=\d)-(?=\d)", "\x00", t)
    t = t.replace("'", "")
    t = re.sub(r"[^a-z0-9\x00\x01\x02 ]+", " ", t)
    t = t.replace("\x00", "-").replace("\x01", ".").replace("\x02", ":")
    t = " ".join(t.split())
    t = _SUFFIX.sub("", _PREFIX.sub("", t)).strip()
    return t


# "yet": how Whisper often hears a reverberant "Yes." (yes_or_no is only asked right after a yes/no question).
_YES_FIRST = {"yes", "yeah", "yep", "yup", "sure", "okay", "ok", "absolutely", "yet"}
_NO_FIRST = {"no", "nope", "nah", "dont", "cancel"}


def yes_or_no(text: str) -> bool | None:
    """True for a yes ("yes add it to my calendar"), False for a no, None for anything else."""
    t = normalize(text)
    if t in YES:
        return True
    if t in NO:
        return False
    first = t.split()[0] if t else ""
    if first in _YES_FIRST:
        return True
    if first in _NO_FIRST:
        return False
    return None


class IntentRouter:
    def __init__(self, plugins: list[Plugin]):
        self._table: list[tuple[str, Intent]] = []
        for plugin in plugins:
            try:
                intents = plugin.intents()
            except Exception:
                log.exception("plugin %s: intents() failed; it is reachable by tools only", plugin.name)
                continue
            self._table.extend((plugin.name, intent) for intent in intents)
        self._table.sort(key=lambda row: row[1].fallback)  # stable: plugin order kept otherwise

    def route(self, text: str) -> IntentMatch | None:
        t = normalize(text)
        if not t:
            return None
        for plugin_name, intent in self._table:
            for rx in intent.compiled:
                m = rx.fullmatch(t)
                if not m:
                    continue
                slots = {k: v for k, v in m.groupdict().items() if v is not None}
                try:
                    if intent.accept and not intent.accept(slots):
                        continue
                except Exception:
                    log.exception("intent %s.%s: accept() failed", plugin_name, intent.name)
                    continue
                log.debug("routed %r -> %s.%s %s", t, plugin_name, intent.name, slots)
                return IntentMatch(plugin_name, intent.name, slots, t)
        return None

    def intent(self, match: IntentMatch):
        for plugin_name, intent in self._table:
            if plugin_name == match.plugin and intent.name == match.intent:
                return intent
        return None

    def handler(self, match: IntentMatch):
        intent = self.intent(match)
        return intent.handler if intent is not None else None
