"""Wake on a spoken phrase ("hey penny") found at the start of a transcribed utterance.

Tolerant to how Whisper spells what it heard: the greeting may come out as "hi", "hay", "a",
"okay"...; the name as "Benny", "Pennie", "Penney"...; punctuation anywhere ("Hey, Penny.").
Not fooled by the name inside an ordinary sentence ("I found a penny", "Penny saved..."):
the phrase must open the utterance, and a weak greeting ("a penny") or the bare name
("Penny, ...") counts only when punctuation sets it apart as an address.
"""
from __future__ import annotations

import difflib
import re

from penny.core.events import WakeDetected

STRONG_GREETINGS = {"hey", "hi", "hay", "hei", "hej", "heh", "hello", "hallo", "hiya", "okay", "ok", "yo", "ey"}
WEAK_GREETINGS = {"a", "ay", "eh", "he", "oh", "o", "high", "hay", "the"}
FILLERS = {"um", "uh", "oh", "so", "well", "and", "okay", "ok"}
SOUND_CLASSES = ["pb", "td", "kgcq", "fv", "sz", "mn", "jg", "wv", "lr", "aeiouy"]
_WORD = re.compile(r"[\w']+")
_ADDRESS_END = set(",.!?;:—-")


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _same_sound(a: str, b: str) -> bool:
    return a == b or any(a in c and b in c for c in SOUND_CLASSES)


def name_score(token: str, name: str) -> float:
    """How much `token` sounds like the wake name (0..1); 0 for a different first sound."""
    token = token.removesuffix("'s")
    if token == name:
        return 1.0
    if not token or not _same_sound(token[0], name[0]) or abs(len(token) - len(name)) > 2:
        return 0.0
    score = _similar(token, name)
    return score if score >= 0.6 else 0.0


def greeting_score(token: str, word: str) -> tuple[float, bool]:
    """(score, strong) of `token` standing for the greeting `word`."""
    if token == word:
        return 1.0, token not in WEAK_GREETINGS
    if word in STRONG_GREETINGS | WEAK_GREETINGS:
        if token in STRONG_GREETINGS:
            return 0.9, True
        if token in WEAK_GREETINGS:
            return 0.7, False
    score = _similar(token, word)
    return (score, True) if score >= 0.75 else (0.0, False)


class PhraseWake:
    """`match(text)` → WakeDetected with `command` = the words after the phrase, or None."""

    hears = "words"

    def __init__(self, phrases: list[str] | tuple[str, ...], stt=None):
        self.phrases = [p.lower().split() for p in phrases if p and p.strip()]
        if not self.phrases:
            raise ValueError("PhraseWake needs at least one wake phrase, e.g. 'hey penny'")
        self.name = " ".join(self.phrases[0])
        self.stt = stt

    def match(self, text: str, t: float = 0.0) -> WakeDetected | None:
        tokens = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text or "")]
        best: tuple[float, int, list[str]] | None = None
        starts = [0] + ([1] if tokens and tokens[0][0] in FILLERS else [])
        for i in starts:
            for words in self.phrases:
                hit = self._match_at(text, tokens, i, words)
                if hit and (best is None or hit[0] > best[0]):
                    best = (hit[0], hit[1], words)
        if best is None:
            return None
        score, end, words = best
        command = text[end:].lstrip(" \t\n,.!?;:-—–").rstrip(" \t\n.!?;:,")
        return WakeDetected(name=" ".join(words), score=round(score, 3), t=t, command=command)

    def _match_at(self, text: str, tokens, i: int, words: list[str]) -> tuple[float, int] | None:
        name, greeting = words[-1], words[:-1]
        # greeting + name, each its own token: "hey penny", "hi, benny", "a penny."
        if i + len(words) <= len(tokens):
            scores, strong = [], True
            for word, (tok, _, _) in zip(greeting, tokens[i:i + len(greeting)]):
                s, is_strong = greeting_score(tok, word)
                scores.append(s)
                strong = strong and is_strong
            name_tok, _, end = tokens[i + len(greeting)]
            ns = name_score(name_tok, name)
            if ns and all(scores) and (strong or self._set_apart(text, end)):
                return (sum(scores) + ns) / (len(scores) + 1), end
        # glued together: "heypenny"
        if i < len(tokens) and len(greeting) == 1:
            tok, _, end = tokens[i]
            for g in sorted(STRONG_GREETINGS, key=len, reverse=True):
                if tok.startswith(g) and len(tok) > len(g) and name_score(tok[len(g):], name) >= 0.8:
                    return 0.8, end
        # the bare name as an address: "Penny, what time is it?"
        if i < len(tokens) and greeting:
            tok, _, end = tokens[i]
            if name_score(tok, name) >= 0.8 and self._set_apart(text, end):
                return 0.75, end
        return None

    @staticmethod
    def _set_apart(text: str, end: int) -> bool:
        rest = text[end:].lstrip(" ")
        return not rest.strip() or rest[0] in _ADDRESS_END

    def prompt(self, base: str | None = None) -> str:
        """An initial prompt for Whisper that primes the wake name's spelling ("Hey Penny.").

        Measured with tiny.en on espeak voices: without it "Hey Penny" came out as "Hey, Paddy"
        or "High paneling"; with it, right, and no "Penny" invented in other speech.
        """
        return wake_prompt([" ".join(words) for words in self.phrases], base)

    async def detect(self, audio, t: float = 0.0) -> WakeDetected | None:
        """Transcribe `audio` with the STT given at construction and match the phrase."""
        if self.stt is None:
            raise RuntimeError("PhraseWake.detect needs an STT (build_wake(cfg, stt))")
        prompt = self.prompt(getattr(self.stt, "initial_prompt", None))
        transcript = await self.stt.transcribe(audio, initial_prompt=prompt)
        return self.match(transcript.text, t)

    def reset(self) -> None:
        pass


def wake_prompt(phrases: list[str], base: str | None = None) -> str:
    """`base` and then each wake phrase as Whisper should spell it: 'hey penny' -> 'Hey Penny.'."""
    wake = " ".join(" ".join(w.capitalize() for w in p.replace("_", " ").split()) + "." for p in phrases if p.strip())
    return f"{base.strip()} {wake}".strip() if base and base.strip() else wake
