"""The phrase book: the requests Penny's skills understand, spelled out, to hear them right.

Whisper tiny.en mishears short commands in ways no template matches ("what's the gate to me",
"how late to hit"). In the spirit of Home Assistant's speech-to-phrase, the skills' closed sentences
are expanded once (hassil's sampler; typed lists such as days and durations get everyday values, free
text such as a note's words is left out, so a sentence that needs it does not parse and is never
offered), and the few sentences whose letters come closest to what
Whisper wrote become candidates for Whisper to score against the audio (core/understanding.py).
Requests with free text ("make a note that ...") are kept as carriers, the words around one gap: a
transcript whose opening words are spelled like a carrier's ("not that Sarah's birthday ...") is
offered with the carrier's words and its own in the gap.
"""
from __future__ import annotations

import itertools
import logging
import random
import re
import threading

from rapidfuzz import fuzz, process

from penny.intents.text import normalize

log = logging.getLogger("penny.intents")

# Typed wildcard lists (slots.py gives them meaning): everyday values, in the words Whisper writes.
FILL = {
    "day": ["today", "tomorrow", "tonight", "this week", "next week", "this weekend", "the day after tomorrow",
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    "duration": ["1 minute", "2 minutes", "3 minutes", "5 minutes", "10 minutes", "15 minutes", "20 minutes",
                 "30 minutes", "45 minutes", "an hour", "half an hour", "two hours", "30 seconds", "90 seconds"],
}
PER_TEMPLATE = 2000  # sentences kept from one template: a seeded random sample of its expansions
MAX_EXPANSIONS = 30000  # expansions looked at per template (hassil's order puts one alternative first)
WHEN = {"later", "now", "right now", "the week", "this morning", "this afternoon", "this evening", "the weekend"}
ARTICLES = {"a", "an", "the", "my", "me", "some"}
CLOSED_CUTOFF = 72.0  # a closed sentence's spelling match to be offered ("what is the date" for "what is the
# capital of france" is 67; "whats the date today" for "whats the gate to me" is 80)
PER_FRAME = 2  # candidates offered per frame (a sentence less its day or duration)
GAP = "qqgapqq"  # stands for a free-text slot in a carrier ("make a note that GAP")


class PhraseBook:
    """The closed sentences and the one-gap carriers of the intents in `owned`, built on first use."""

    def __init__(self, library, owned: set[str], english: bool = True):
        self.library, self.owned = library, owned
        self.fill = FILL if english else {}  # other languages: sentences that need a day or a duration are left out
        self._book: tuple[list[str], dict[str, list[list[str]]]] | None = None
        self._fills: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def build(self) -> None:
        """Expand the templates now (~2 s here; start-up does it in a thread) instead of on first use."""
        self._built()

    def _built(self):
        with self._lock:
            if self._book is None:
                self._book = expand(self.library, self.owned, self.fill)
                log.debug("phrase book: %d sentences, %d carriers", len(self._book[0]), len(self._book[1]))
            return self._book

    @property
    def sentences(self) -> list[str]:
        return self._built()[0]

    def near(self, text: str, limit: int = 6, cutoff: float = 66.0) -> list[str]:
        """Up to `limit` requests spelled most like `text`, best first, at most PER_FRAME alike: closed
        sentences (rapidfuzz ratio ≥ CLOSED_CUTOFF) and carriers filled with the transcript's own words
        (≥ cutoff), with the numbers Whisper heard."""
        said = normalize(text)
        if not said:
            return []
        sentences, carriers = self._built()
        found = process.extract(said, sentences, scorer=fuzz.ratio, limit=limit * 8, score_cutoff=CLOSED_CUTOFF)
        candidates = [s for s, _, _ in found] + [s for _, s in refill(said.split(), carriers, cutoff)]
        scored = sorted(((fuzz.ratio(said, s), s) for s in dict.fromkeys(own_numbers(said, c) for c in candidates)),
                        key=lambda x: -x[0])
        per_frame: dict[str, int] = {}
        out = []
        for _, s in scored:
            frame = self._frame(s)
            if s != said and per_frame.get(frame, 0) < PER_FRAME:
                per_frame[frame] = per_frame.get(frame, 0) + 1
                out.append(s)
        return out[:limit]

    def _frame(self, sentence: str) -> str:
        """The sentence without its day, duration or articles: "how warm will it get today" and "... on
        tomorrow" share a frame, so near-copies don't crowd out "how hot will it get today"."""
        if self._fills is None:
            values = sorted({v for vs in self.fill.values() for v in vs} | WHEN, key=len, reverse=True)
            self._fills = re.compile(r"\b(?:(?:on|for|in|at|by) )?(?:" + "|".join(map(re.escape, values)) + r")\b")
        return " ".join(w for w in self._fills.sub("~", sentence).split() if w not in ARTICLES)


def own_numbers(said: str, sentence: str) -> str:
    """The sentence with the numbers Whisper heard ("set the timer for 5 minutes" for "set on the timer for 7
    minutes"): a clearly heard number is kept, the words around it are what's in doubt."""
    heard, there = re.findall(r"\d+", said), re.findall(r"\d+", sentence)
    if not heard or len(heard) != len(there):
        return sentence
    it = iter(heard)
    return re.sub(r"\d+", lambda _: next(it), sentence)


def refill(words: list[str], carriers: dict[str, list[list[str]]], cutoff: float,
           per_side: int = 2) -> list[tuple[float, str]]:
    """Carriers whose words match the transcript's around a gap of its own words, as (score, sentence).
    The score is the spelling match of the carrier's words alone, so a filled gap earns nothing."""
    out: dict[str, float] = {}
    befores = list(carriers)
    for i in range(1, len(words)):
        said = " ".join(words[:i])
        for before, head, _ in process.extract(said, befores, scorer=fuzz.ratio, score_cutoff=cutoff, limit=20):
            if abs(before.count(" ") + 1 - i) > per_side:
                continue
            for after in carriers[before]:
                ends = [len(words)] if not after else range(max(i + 1, len(words) - len(after) - per_side),
                                                            len(words) - max(0, len(after) - per_side) + 1)
                for j in ends:
                    tail = fuzz.ratio(" ".join(after), " ".join(words[j:])) if after else 100.0
                    n_head, n_tail = len(before), len(" ".join(after))
                    score = (head * n_head + tail * n_tail) / (n_head + n_tail)
                    if j > i and tail >= cutoff and score >= cutoff:
                        sentence = " ".join([before, *words[i:j], *after])
                        out[sentence] = max(score, out.get(sentence, 0.0))
    return sorted(((v, k) for k, v in out.items()), reverse=True)[:8]


def expand(library, owned: set[str], fill: dict[str, list[str]] = FILL):
    """(closed sentences, carriers) of the owned intents, normalized and deduplicated. A carrier is the
    words before and after the one gap a template's free-text slots leave ("remind me", [])."""
    from hassil import TextSlotList
    from hassil.intents import RangeSlotList, WildcardSlotList
    from hassil.sample import sample_sentence

    rng = random.Random(0)  # the same book every start
    filled = {k: TextSlotList.from_strings(v) for k, v in fill.items()}
    gap = TextSlotList.from_strings([GAP])
    sentences: dict[str, None] = {}
    carriers: dict[tuple[str, str], None] = {}
    quiet = logging.getLogger("hassil")
    level, quiet.level = quiet.level, logging.ERROR  # "no values for list: area": Penny has no areas
    try:
        for name in sorted(owned):
            intent = library.intents.intents.get(name)
            for block in intent.data if intent is not None else ():
                if block.requires_context:  # Penny gives no device or area context: never matched
                    continue
                lists = {**library.intents.slot_lists, **(block.slot_lists or {})}
                rules = {**library.intents.expansion_rules, **(block.expansion_rules or {})}
                for template in block.sentences:
                    used = set(template.list_names(rules))
                    if any(u not in lists or isinstance(lists[u], RangeSlotList) for u in used):
                        continue
                    free = {u: gap for u in used if isinstance(lists[u], WildcardSlotList) and u not in filled}
                    try:
                        texts = _sample(sample_sentence(template, {**lists, **filled, **free}, rules,
                                                        language=library.language), rng)
                        for t in texts:
                            t = normalize(t)
                            if GAP not in t:
                                sentences[t] = None
                                continue
                            parts = re.sub(rf"{GAP}(?: {GAP})*", GAP, t).split(GAP)
                            if len(parts) == 2 and parts[0].strip():  # one gap, after some words
                                carriers[(parts[0].strip(), parts[1].strip())] = None
                    except Exception:  # a list or rule the sampler can't fill
                        log.debug("phrase book: skipped a template of %s", name, exc_info=True)
    finally:
        quiet.level = level
    return ([s for s in sentences if s and "_" not in s],  # "_": a list name hassil wrote as its value
            _by_opening(carriers))


def _sample(texts, rng: random.Random) -> list[str]:
    """PER_TEMPLATE of a template's first MAX_EXPANSIONS expansions, drawn evenly (reservoir sampling)."""
    kept: list[str] = []
    for n, text in enumerate(itertools.islice(texts, MAX_EXPANSIONS)):
        if n < PER_TEMPLATE:
            kept.append(text)
        elif (i := rng.randrange(n + 1)) < PER_TEMPLATE:
            kept[i] = text
    return kept


def _by_opening(carriers) -> dict[str, list[list[str]]]:
    """{words before the gap: [words after it, ...]}: the opening is what a transcript is matched on."""
    out: dict[str, list[list[str]]] = {}
    for before, after in carriers:
        if "_" not in before + after:
            out.setdefault(before, []).append(after.split())
    return out
