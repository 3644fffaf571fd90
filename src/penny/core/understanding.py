"""Did Penny hear it right? Pick the reading to act on, then act, confirm, or ask again.

Whisper's best hypothesis is not always what was said. On a short command the beam's other
hypotheses often hold the right words, and the right words are usually the ones that parse as a
request (a closed vocabulary, in the spirit of Home Assistant's speech-to-phrase): such a reading is
preferred when Whisper scores it close to the best. When no hypothesis parses, the phrase book's
sentences spelled most like what Whisper wrote (intents/phrases.py) are scored by Whisper against the
audio itself, and one that fits about as well as Whisper's own reading is taken (and confirmed). How sure Penny is comes from Whisper's own
measures (average log-probability per token, no-speech probability, compression ratio) and from
whether the words parse. When it is unsure it says what it heard and asks, rather than letting a
misheard sentence reach a skill or the LLM as if it were certain.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Callable

from penny.core.events import Transcript

Parses = Callable[[str], bool]


@dataclass(frozen=True)
class Understanding:
    text: str  # the words to act on (or to confirm)
    action: str  # "act" | "confirm" (ask "Did you say ...?") | "repeat" (ask to say it again)
    confidence: float  # 0..1: the per-token probability Whisper gave these words, penalised below
    parses: bool  # the words are a request a skill understands
    rescored: bool = False  # a beam hypothesis other than Whisper's best was chosen because it parses
    unfinished: bool = False  # names a skill's subject but is no request yet ("set a timer for twenty")
    open_end: bool = False  # a request ending in free words ("take a note: buy batteries"): more may follow

    def to_trace(self) -> dict:
        return {"action": self.action, "confidence": round(self.confidence, 3), "parses": self.parses,
                "rescored": self.rescored}


CERTAIN = Understanding("", "act", 1.0, False)


def confidence(avg_logprob: float | None, no_speech_prob: float | None = None,
               compression_ratio: float | None = None) -> float:
    """One number from Whisper's measures: exp(avg log-prob), lowered when Whisper itself doubts there
    was speech at all or the words repeat themselves. None (a typed turn) is certain."""
    if avg_logprob is None:
        return 1.0
    score = math.exp(min(0.0, avg_logprob))
    if no_speech_prob is not None and no_speech_prob > 0.5:
        score *= 1.0 - (no_speech_prob - 0.5)
    if compression_ratio is not None and compression_ratio > 2.0:
        score *= 0.7
    return max(0.0, min(1.0, score))


def choose(transcript: Transcript, parses: Parses, margin: float) -> tuple[str, float, bool]:
    """(text, avg_logprob, rescored): Whisper's best reading, or the best-scored beam hypothesis that
    parses when the best does not, scores within `margin` (log-prob per token) and reads mostly like the
    best (a hypothesis unlike it is more likely a sentence of the prompt than what was said)."""
    best = transcript.text.strip()
    lp = transcript.avg_logprob
    if not best or lp is None or not transcript.alternatives or parses(best):
        return best, lp if lp is not None else 0.0, False
    for alt in transcript.alternatives:
        if alt.avg_logprob >= lp - margin and _alike(best, alt.text) and parses(alt.text):
            return alt.text.strip(), alt.avg_logprob, True
    return best, lp, False


def _alike(a: str, b: str) -> bool:
    words = lambda s: re.findall(r"[a-z0-9']+", s.lower())  # noqa: E731
    return difflib.SequenceMatcher(None, words(a), words(b)).ratio() >= 0.6


def judge(text: str, score: float, parses: bool, *, read_only: bool, sure: float, unsure: float,
          rescored: bool = False, near_skill: bool = False, timed: bool = False,
          sure_statement: float | None = None) -> Understanding:
    """Act when sure; a parsed read-only request (the time, the calendar) is acted on down to `unsure`,
    since reading the wrong thing costs little; otherwise confirm what was heard, and below `unsure`
    ask again unless the words parse (then confirming them is the quicker way back).
    A reading chosen by rescoring acts only when sure. Words that name a skill's subject (a timer, the
    calendar) but parse as no request were most likely misheard: they are confirmed, not handed to
    the LLM, which would answer them confidently (and could claim an action that never happened).
    So are words that name a day, a time or a duration (`timed`: "What's been with Alex tomorrow at 8pm?",
    "is it going terrain tomorrow"): on the accuracy corpus such words that parsed as nothing were misheard
    requests, and the LLM answered them wrongly with a confidence as high as right answers (0.6-0.76).
    `sure_statement` (words that are no question, no request and no remark of the user's own: states()):
    the LLM acts on them only this sure ("they can know" was "take a note"; see UnderstandingConfig)."""
    if (near_skill or timed or (sure_statement is not None and score < sure_statement)) and not parses:
        action = "confirm" if score >= unsure else "repeat"
    elif score >= sure or (parses and read_only and score >= unsure and not rescored):
        action = "act"
    elif score >= unsure or parses:
        action = "confirm"
    else:
        action = "repeat"
    return Understanding(text, action, score, parses, rescored, unfinished=near_skill and not parses)


# Written forms Whisper uses, for phrase-book sentences kept as normalized words ("whats the date today").
_WRITTEN = {"whats": "what's", "hows": "how's", "whens": "when's", "wheres": "where's", "whos": "who's",
            "im": "I'm", "dont": "don't", "cant": "can't", "ive": "I've", "isnt": "isn't", "arent": "aren't",
            "wont": "won't", "didnt": "didn't", "doesnt": "doesn't", "thats": "that's", "theres": "there's",
            "lets": "let's", "i": "I", "todays": "today's"}
_ASKS = {"what", "when", "where", "who", "whose", "why", "how", "is", "are", "do", "does", "did", "will", "can",
         "could", "which", "am", "whats", "hows", "whens", "wheres", "whos", "whys", "isnt", "arent", "should",
         "would", "have", "has"}


def written(words: str) -> str:
    """Normalized English words as Whisper writes a sentence: 'whats the date today' -> "What's the date
    today?". Both readings Whisper scores against each other get this form, so spelling is no handicap."""
    w = words.split()
    if not w:
        return ""
    text = " ".join(_WRITTEN.get(x, x) for x in w)
    return text[0].upper() + text[1:] + ("?" if w[0] in _ASKS else ".")


def asks(text: str) -> bool:
    """The words open like an English question ("Why is the sky blue", "What's the date")."""
    return _first_word(text) in _ASKS


def _first_word(text: str) -> str:
    """The first word, lower case, without apostrophes ("What's" -> "whats"); "" when there is none."""
    first = re.match(r"\s*([A-Za-z']+)", text)
    return first.group(1).lower().replace("'", "") if first else ""


# How a request for the LLM opens when it is no question: a command ("Tell me a story"), the user's own words
# ("I'm bored", "My back hurts"), a greeting or a thanks.
_OPENERS = {"tell", "give", "explain", "describe", "name", "list", "say", "write", "translate", "define",
            "recommend", "suggest", "help", "show", "find", "read", "play", "sing", "compose", "calculate",
            "convert", "spell", "count", "make", "create", "remind", "set", "add", "take", "turn", "open", "close",
            "start", "stop", "cancel", "call", "send", "check", "look", "search", "lets", "let", "please", "i",
            "im", "ive", "id", "ill", "my", "me", "thanks", "thank", "hello", "hi", "hey", "good", "ok", "okay",
            "yes", "yeah", "no", "nope", "sure", "never", "nevermind", "sorry", "wow", "cool", "great", "nice",
            "forget", "repeat", "continue", "go", "again", "bye", "goodbye", "goodnight", "morning", "evening"}


def states(text: str) -> bool:
    """English words that state something about others ("They can know.", "Very barely, not the time."):
    no question, no command, nothing of the user's own. In the last two accuracy runs (1584 clips) the LLM
    got 16 such readings heard below 0.75; 15 were misheard requests ("We're finally called the king of the
    jungle", "In two hours, the item needs us to match")."""
    first = _first_word(text)
    return bool(first) and first not in _ASKS and first not in _OPENERS


def split_name(text: str, name: str, loose: bool = False) -> tuple[str, str]:
    """('Hey Penny,', 'what time is it?') from 'Hey Penny, what time is it?'; ('', text) without the name.
    `loose`, for an utterance the wake word was heard in: the name as Whisper may mishear it, up to a
    comma or full stop in the first three words ("Hey Pen it, time check", "Hey, man, who ...")."""
    if not name.strip():
        return "", text.strip()
    m = re.match(rf"\s*(?:(?:hey|hi|ok|okay)[\s,.!]+)?{re.escape(name.strip())}\b[\s,.!?]*", text, re.I)
    if m:
        return text[:m.end()].strip(), text[m.end():].strip()
    if loose:
        from rapidfuzz import fuzz

        wake = f"hey {name.strip().lower()}"
        for head, rest in lead_ins(text):
            if fuzz.ratio(" ".join(re.findall(r"[a-z']+", head.lower())), wake) >= 60:
                return head, rest
    return "", text.strip()


def lead_ins(text: str, most: int = 3) -> list[tuple[str, str]]:
    """Each way to split off a first phrase of at most `most` words that ends in a comma or full stop:
    [('A-10,', 'Set a timer for one hour.')], [('Hey,', '10, start ...'), ('Hey, 10,', 'start ...')]."""
    out = []
    for m in re.finditer(r"[,.!?]+\s*", text):
        words = re.findall(r"[a-z0-9']+", text[:m.start()].lower())
        if not words or len(words) > most:
            break
        out.append((text[:m.end()].strip(), text[m.end():].strip()))
    return out


def closest(scores: list[float], margin: float) -> int | None:
    """Index (≥ 1) of the phrase-book sentence Whisper scores best, if within `margin` of its own reading
    (scores[0]); None otherwise. Whisper's own reading is its favourite by construction, so the right
    sentence often scores below it: on the accuracy corpus' misheard requests (103 with candidates),
    a margin of 1.0 takes the right request for 53 and a wrong one for 14 (each only asked about, never
    acted on unless sure), and no open question; a clearly heard word swapped for a skill's ("the weather
    on Mars" -> "on Monday") costs 1.3 or more."""
    if len(scores) < 2:
        return None
    i = max(range(1, len(scores)), key=scores.__getitem__)
    return i if scores[i] >= scores[0] - margin else None


def did_you_say(text: str, template: str = "Did you say: {words}?") -> str:
    words = text.strip().rstrip(".?!").strip()
    return template.format(words=words)
