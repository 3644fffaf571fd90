"""The user wasn't finished: speech that goes on right after an early end of turn joins the turn it cut.

"What's on my calendar" reads finished, so the turn ends and Penny answers about today; 800 ms later the
user says "tomorrow". When that new speech starts within `vad.continue_window_ms` of the end of the turn's
speech, barges in on its reply (so not Penny's own echo, and not a follow-up after the reply), and what
the turn changed can be taken back (a note stored, a timer set: `Plugin.undoer`; nothing else changed), the
next turn hears both pieces as one utterance, with the pause trimmed to GAP_S. A turn that changed
something is redone only when both pieces make one request Penny understands; its changes are taken back
first ("take a note: buy batteries ... light bulbs and tape" stores one note with all three). The new turn
still transcribes the new speech alone first: a request of its own ("Hey Penny, set a timer", "stop",
"what's the weather like") is not joined.
The session (core/pipeline.py) decides whether a merge may happen; the turn (core/turn.py) whether it does.
Speech that cuts a reply that soon is meant for Penny even when it is not joined: a closed wake gate
lets it in as its own turn.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from penny.core.events import AudioChunk
from penny.core.pcm import RATE as SR
from penny.core.understanding import split_name
from penny.core.wake_gate import WakeGate

GAP_S = 0.3  # the pause left between the pieces: Whisper hears one sentence, not two
MERGEABLE = ("model", "semantic", "silence")  # early rules: max_pause waited 1.6 s, push-to-talk was let go

_WORDS = re.compile(r"[a-z0-9']+")
_JOINERS = {"and", "or", "but", "plus", "also", "then", "with", "to", "for", "from", "at", "in", "on", "of", "by"}
# A request of its own begins like one: a question, or one of the verbs people give Penny.
_OPENERS = {
    "what", "what's", "whats", "when", "when's", "where", "where's", "who", "who's", "whose", "why", "how",
    "how's", "which", "is", "are", "was", "can", "could", "would", "will", "should", "do", "does", "did",
    "tell", "set", "add", "remind", "take", "turn", "play", "cancel", "delete", "remove", "start", "give",
    "show", "read", "find", "make", "please", "let's", "explain", "describe",
}
_ON_ITS_OWN = {"wait", "nevermind", "no", "nope", "yes", "yeah", "yep", "okay", "ok", "thanks", "thank you", "quiet",
               "enough", "shut up", "pause"}


@dataclass(frozen=True)
class Utterance:
    """Audio a turn was built from, on the session's stream clock (seconds)."""

    audio: AudioChunk
    audio_end_t: float  # stream time of the audio's last sample
    start_t: float  # the first voiced sample (for a joined utterance: its first piece's)
    end_t: float  # the last voiced sample

    def since(self, t: float) -> AudioChunk:
        """The audio from stream time `t` on (the tail of a joined utterance is one stretch of the stream)."""
        keep = int(round((self.audio_end_t - t) * SR))
        samples = self.audio.as_float32()
        return AudioChunk(samples[max(0, len(samples) - keep):], SR)

    def until(self, t: float) -> AudioChunk:
        samples = self.audio.as_float32()
        cut = len(samples) - int(round((self.audio_end_t - t) * SR))
        return AudioChunk(samples[:max(0, min(len(samples), cut))], SR)


@dataclass(frozen=True)
class Continuation:
    """New speech that cut a turn's reply right after its request: still meant for Penny, and maybe the
    rest of that request."""

    turn_id: str  # the turn it cut
    heard: Utterance  # both pieces, joined
    gate: WakeGate  # the wake gate as it was before the cut turn heard its words (it let the user in)
    speech_start: float  # wall-clock time of the cut turn's first word
    joins: bool  # that turn may be replaced: an early rule ended it and what it changed can be taken back
    echo: str = ""  # what that turn was saying: its words back from a speaker are not the user's
    changed: list[str] = field(default_factory=list)  # that turn's own TurnTrace.acted ("notes.remember")
    undo: list[Callable[[], None] | None] = field(default_factory=list)  # ... and how to take each back
    also: tuple[str, ...] = ()  # turns whose changes came with it: it was cut while joining them

    def redoable(self) -> bool:
        """May the cut turn be done again, whole? (Asked again when joining: it may have acted since.)"""
        return self.joins and all(u is not None for u in self.undo)

    def take_back(self) -> None:
        for undo in reversed(self.undo):
            if undo is not None:  # redoable() said none is
                undo()


def _cut(prev: Utterance, gap_s: float = GAP_S) -> float:
    """Where `prev` stops: a little after its last word, or where its audio ends."""
    return min(prev.end_t + gap_s / 2, prev.audio_end_t)


def own_part(prev: Utterance, new: Utterance) -> Utterance:
    """The new speech alone. The endpointer keeps a pause shorter than `end_silence_ms` inside one
    utterance, so `new` may begin with the earlier turn's words: they are left out."""
    if new.start_t > prev.end_t:
        return new
    cut = _cut(prev)
    return Utterance(new.since(cut), new.audio_end_t, cut, new.end_t)


def joined(prev: Utterance, new: Utterance, gap_s: float = GAP_S) -> Utterance:
    """`prev` up to just after its last word, then `new` from just before its first: the pause between
    them trimmed to about `gap_s` (a shorter one stays as it was)."""
    cut = _cut(prev, gap_s)
    resume = max(cut, new.start_t - gap_s / 2)
    audio = np.concatenate([prev.until(cut).as_float32(), new.since(resume).as_float32()])
    return Utterance(AudioChunk(audio, SR), new.audio_end_t, prev.start_t, new.end_t)


def echoes(words: str, reply: str) -> bool:
    """The new words are Penny's own reply coming back (a loud speaker that barged in on itself)."""
    said = _WORDS.findall(words.lower())
    if len(said) < 2 or not reply:
        return False
    from rapidfuzz import fuzz

    return fuzz.partial_ratio(" ".join(said), " ".join(_WORDS.findall(reply.lower()))) >= 90


def stands_alone(words: str, name: str, parses: Callable[[str], bool]) -> bool:
    """Do the new words make a request of their own ("Hey Penny, what time is it?", "stop", "What's the
    weather like?"), rather than the rest of the last one ("tomorrow", "and tape", "five minutes")?"""
    prefix, _ = split_name(words, name)
    said = _WORDS.findall(words.lower())
    if prefix or not said:  # addressed anew, or nothing to add
        return True
    if " ".join(said) in _ON_ITS_OWN or said[0] in ("stop", "cancel") or said[:2] == ["never", "mind"]:
        return True
    while said and said[0] in _JOINERS:  # "and tape": the rest of a list; "and what's the date today?": a question
        said = said[1:]
    rest = " ".join(said)
    return bool(said) and (parses(rest) or (len(said) >= 3 and said[0] in _OPENERS))
