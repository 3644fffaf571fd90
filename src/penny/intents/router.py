"""The intent router: common requests answered without the LLM, matched by hassil templates.

Every enabled plugin names the intents it handles (`Intent.sentences`); their sentences come from the
library (library.py). A template must cover the whole utterance, so "what time did the titanic sink"
never becomes "what time is it". Of several matches the one with the fewest wildcards and the most
literal words wins (Home Assistant's order), after a plugin's `accept` and the slot types have had
their say; catch-all intents (`fallback`) come last.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from hassil import Intents, recognize_all
from hassil.util import normalize_for_matching

from penny.intents.custom import PLUGIN as CUSTOM, custom_intents
from penny.intents.library import Library, load, name_words
from penny.intents.slots import convert
from penny.intents.text import HESITATIONS, clean, normalize
from penny.languages import base
from penny.plugins.base import Intent, IntentMatch, Plugin

log = logging.getLogger("penny.intents")


@dataclass(frozen=True)
class Candidate:
    plugin: str
    intent: Intent
    slots: dict
    score: tuple
    open_end: bool = False


class IntentRouter:
    def __init__(self, plugins: list[Plugin], now: Callable[[], datetime], *, language: str = "en",
                 custom_dir: Path | None = None, name: str = "Penny"):
        self.now = now
        self._hesitations = HESITATIONS.get(base(language), frozenset())
        self._by_sentences: dict[str, tuple[str, Intent]] = {}
        sentences: list[tuple[str, dict]] = []
        for plugin in plugins:
            try:
                intents = plugin.intents()
                own = plugin.sentences(language)
            except Exception:
                log.exception("plugin %s: intents() failed; it is reachable by tools only", plugin.name)
                continue
            if own:
                sentences.append((f"plugin:{plugin.name}", own))
            for intent in intents:
                if not isinstance(intent.sentences, str):  # a plugin written for the old regex router
                    log.error("plugin %s: intent %s must name a hassil intent whose sentences reach it, e.g. "
                              "Intent('%s', 'MyIntent', handler), with sentences from Plugin.sentences()",
                              plugin.name, intent.name, intent.name)
                    continue
                self._by_sentences[intent.sentences] = (plugin.name, intent)
        self.library: Library = load(language, set(self._by_sentences), custom_dir, sentences, name_words(name))
        for intent in custom_intents(self.library, set(self._by_sentences)):
            self._by_sentences[intent.sentences] = (CUSTOM, intent)
        self._triggers = triggers(self.library.intents)
        self._recent: dict[str, list] = {}

    def owners(self) -> list[tuple[str, Intent]]:
        return list(self._by_sentences.values())

    def owned(self) -> set[str]:
        """The hassil intents some skill handles."""
        return set(self._by_sentences)

    def missing(self) -> list[str]:
        """Skills' intents with no sentences in this language (such requests go to the LLM)."""
        have = self.library.intents.intents
        return [f"{p}.{i.name}" for p, i in self._by_sentences.values() if i.sentences not in have]

    def candidates(self, text: str) -> Iterator[Candidate]:
        """Every reading of `text` that some intent accepts, best first."""
        said = clean(text)
        words = normalize(said)
        if not words:
            return
        found: list[Candidate] = []
        now = self.now()
        for result in self._recognize(said):
            owner = self._by_sentences.get(result.intent.name)
            if owner is None:
                continue
            slots = convert(result.entities, now, said, self._hesitations)
            if slots is None:
                continue
            wildcards = [e for e in result.entities_list if e.is_wildcard]
            score = (owner[1].fallback, len(wildcards), -result.text_chunks_matched,
                     sum(len(e.text or "") for e in wildcards))
            # free words being dictated end it: "take a note: buy batteries, ..." (not a duration, not a question's
            # topic: "how many legs does a spider have" is whole however a note search reads it)
            open_end = not owner[1].read_only and any(
                isinstance(slots.get(e.name), str) and (w := normalize(e.text or "")) and words.endswith(w)
                for e in wildcards)
            found.append(Candidate(owner[0], owner[1], slots, score, open_end))
        found.sort(key=lambda c: c.score)
        seen: set = set()
        for c in found:
            key = (c.plugin, c.intent.name, repr(sorted(c.slots.items())))
            if key in seen:
                continue
            seen.add(key)
            if _hook(c, "accept", failed=False):
                yield c

    def _recognize(self, said: str) -> list:
        """hassil's readings of `said`, kept for the turn: one utterance is routed several times (is it
        sure, does it only read, then handled), and only slots and `accept` depend on the moment."""
        found = self._recent.get(said)
        if found is None:
            found = list(recognize_all(said, self._possible(said), language=self.library.language))
            self._recent[said] = found
            if len(self._recent) > 64:
                self._recent.pop(next(iter(self._recent)))
        return found

    def _possible(self, said: str) -> Intents:
        """Only the intents whose words are in `said`: hassil then checks a few dozen templates, not all."""
        if self._triggers is None:
            return self.library.intents
        haystack = normalize_for_matching(said).text.casefold()
        keep = {name: intent for name, intent in self.library.intents.intents.items()
                if (words := self._triggers.get(name)) is None or any(w in haystack for w in words)}
        return replace(self.library.intents, intents=keep)

    def route(self, text: str) -> IntentMatch | None:
        for c in self.candidates(text):
            log.debug("routed %r -> %s.%s %s", text, c.plugin, c.intent.name, c.slots)
            return IntentMatch(c.plugin, c.intent.name, c.slots, normalize(text), c.intent.fallback, c.open_end,
                               half=not _hook(c, "complete", failed=True))
        return None

    def intent(self, match: IntentMatch) -> Intent | None:
        for plugin_name, intent in self._by_sentences.values():
            if plugin_name == match.plugin and intent.name == match.intent:
                return intent
        return None

    def handler(self, match: IntentMatch):
        intent = self.intent(match)
        return intent.handler if intent is not None else None


def _hook(c: Candidate, name: str, *, failed: bool) -> bool:
    """The intent's `accept` or `complete` on the candidate's slots: True when it has none, `failed` (logged)
    when it raises, so one broken plugin never takes routing down."""
    hook = getattr(c.intent, name)
    if hook is None:
        return True
    try:
        return bool(hook(c.slots))
    except Exception:
        log.exception("intent %s.%s: %s() failed", c.plugin, c.intent.name, name)
        return failed


def triggers(intents: Intents) -> dict[str, frozenset[str]] | None:
    """Per intent, words one of which any sentence of it needs (hassil's own required fragments). From each
    template: the clause of words of four letters or more ("a", "is" are in every sentence) that the fewest
    other intents use, so "timer" does not wake every timer intent. An intent with a template that needs no
    word is always tried."""
    if intents.settings.ignore_whitespace:  # CJK: fragments may span words the input joins
        return None
    clauses_of: dict[str, list[frozenset]] = {}
    for name, intent in intents.intents.items():
        per_sentence = []
        for data in intent.data:
            rules = {**intents.expansion_rules, **data.expansion_rules}
            per_sentence += [sentence.get_required_clauses(rules) for sentence in data.sentences]
        clauses_of[name] = per_sentence
    spread: dict[str, set[str]] = {}  # fragment -> intents that need it somewhere
    for name, per_sentence in clauses_of.items():
        for clauses in per_sentence:
            for clause in clauses:
                for word in clause:
                    spread.setdefault(word, set()).add(name)
    found: dict[str, frozenset[str]] = {}
    for name, per_sentence in clauses_of.items():
        if not all(per_sentence):
            continue  # a template with no required words: this intent can't be filtered
        found[name] = frozenset(w for clauses in per_sentence for w in min(clauses, key=lambda c: (
            min(map(len, c)) < 4, max(len(spread[w]) for w in c), -min(map(len, c)), len(c))))
    return found
