"""When a pause ends the user's turn. Three rules (`vad.end_of_turn`), side by side in `penny bench --turns`:

- "silence": `end_silence_ms` of silence, nothing else.
- "text": the words so far read as a finished request (ending like a sentence, not on "and", "the",
  "um"...) after `fast_end_silence_ms`; otherwise silence.
- "model": a learned end-of-turn model (Smart Turn) hears the pause. Finished, and the words do not trail
  off, and they are not half a request (a skill's subject with no request yet: "set a timer for twenty"; a
  request its skill says still lacks something, Intent.complete: "remind me to call mom in forty,"):
  the turn ends after `model_end_silence_ms`. Words that trail off or are half a request ("set a timer
  for... um", "add eggs" with no list yet), words Penny would ask about, or an unfinished voice with words
  that don't read finished or end in a free slot ("take a note: buy batteries,"; a list said to its last
  item, "..., light bulbs, and tape.", has ended): the pause may last up
  to `max_pause_ms` before it ends the turn, so a thinking pause or a list is not cut off. Finished words
  in an unfinished voice: a whole skill request, or a whole question for the LLM ("Why is the sky blue?"),
  ends after `whole_end_silence_ms` (on the turns benchmark's synthetic voices the model calls a quarter of
  finished commands and most questions unfinished); other finished words ("Tell me a story about a
  lighthouse keeper.", which may go on) after the text rule's `fast_end_silence_ms`, never later than that
  rule would end them (it had waited out the silence rule, 500 ms: a fifth of the LLM requests).
  Until the words are understood and the model has heard the pause, the silence rule waits for them
  (core/pipeline.py): on a slow machine it ended "take a note, uh," before the words showed it unfinished.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from penny.config import VADConfig
from penny.core.contracts import Frame, TurnEndModel
from penny.core.understanding import Understanding, asks

_CONTINUES = {
    "and", "or", "but", "so", "because", "then", "if", "than", "that", "which", "who", "when", "where",
    "the", "a", "an", "to", "for", "of", "with", "at", "in", "on", "from", "about", "by", "into",
    "my", "your", "our", "their", "his", "her", "its", "is", "are", "was", "were", "be",
    "um", "uh", "er", "erm", "hmm", "like", "let", "me", "please",
}
_WORDS = re.compile(r"[a-z0-9']+")
_NO_UNIT = re.compile(r"\b(?:in|for|after)\s+(?:a\s+)?\d{1,3}[.!?]*$", re.I)  # "remind me in 40": a number, no unit yet
# "Add eggs," / "Put milk": something to add, no list named yet (the turns benchmark's lists were cut here)
_NO_LIST = re.compile(r"(?:^|[.!?,:]\s+)(?:add|put)\s+(?:(?!\b(?:to|on|onto|in|into)\b)[^.!?])+[.!?]*$", re.I)


def trails_off(text: str) -> bool:
    """The words stop mid-thought: on "and", "the", "um", with "...", on a duration's number, or on
    something to add with no list yet."""
    t = text.strip()
    words = _WORDS.findall(t.lower())
    return not words or t.endswith(("...", "…", ",", "-")) or words[-1] in _CONTINUES or \
        bool(_NO_UNIT.search(t)) or bool(_NO_LIST.search(t))


def looks_complete(text: str) -> bool:
    t = text.strip()
    return bool(t) and t[-1] in ".?!" and not trails_off(t)


# The last item of a list, said: "buy batteries, light bulbs, and tape." (two items before it, at least one comma).
_LAST_ITEM = re.compile(r"[^,.!?:;]+,[^,.!?:;]+,?\s+(?:and|or)\s+[^,.!?:;]+[.!]\s*$", re.I)


def ends_list(text: str) -> bool:
    """The words close a list with its last item ("..., light bulbs, and tape."): a note's free words that
    have ended, not "... between the sofa and the wall." (English)."""
    return bool(_LAST_ITEM.search(text.strip()))


_SENTENCES = re.compile(r"[^.!?]+[.!?]*")


def one_sentence(text: str) -> bool:
    """One sentence of three words or more, after at most a greeting ("Hey Penny."): not pieces Whisper heard
    apart ("Hey Penny. Add eggs. Milk."), which the list's next item may still join."""
    said = [_WORDS.findall(s.lower()) for s in _SENTENCES.findall(text)]
    said = [w for w in said if w]
    return bool(said) and len(said[-1]) >= 3 and sum(len(w) for w in said[:-1]) <= 2


# How the understood words end (TurnRunner.shape): half a request, or words Penny would ask about (the first
# half of a request heard alone: "Did you say: Add milk in?"); a request ending in free words (a note's
# text: more may follow); a whole skill request; a whole question for the LLM. "": anything else (for the LLM:
# "Tell me a story about a lighthouse keeper." may go on, so it waits a little longer).
HALF, OPEN, CLOSED, QUESTION = "half", "open", "closed", "question"


def shape(heard: Understanding, words: str = "") -> str:
    """`words`: the transcript as Whisper wrote it (its "?" says it heard a question; the wake phrase's
    command has lost it)."""
    if heard.unfinished or heard.action != "act":
        return HALF
    if not heard.parses:
        return QUESTION if asks(heard.text) and words.rstrip().endswith("?") else ""
    return OPEN if heard.open_end and not ends_list(words or heard.text) else CLOSED


@dataclass(frozen=True)
class Verdict:
    commit: str | None = None  # end the turn now, by this rule
    hold_ms: int | None = None  # or let this pause last this long before silence ends it


class TurnEnd:
    """One session's end-of-turn rule, and what the model made of the current pause."""

    def __init__(self, cfg: VADConfig, model: TurnEndModel | None):
        self.cfg, self.model = cfg, model
        self.rule = "text" if cfg.end_of_turn == "model" and model is None else cfg.end_of_turn
        self._pause_t: float | None = None
        self._judging: asyncio.Task[float] | None = None
        self.held = False  # this pause was stretched to max_pause_ms

    def pause(self, t: float, audio: Frame) -> None:
        """A pause began at stream time `t` (the last voiced sample): the model hears the utterance so far."""
        self.resume()
        self._pause_t = t
        if self.rule == "model" and self.model is not None:
            self._judging = asyncio.ensure_future(asyncio.to_thread(self.model.probability_done, audio))

    def resume(self) -> None:
        """The user speaks on (or the turn ended): forget the pause."""
        if self._judging is not None:
            self._judging.cancel()
        self._pause_t, self._judging, self.held = None, None, False

    @property
    def p_done(self) -> float | None:
        """The model's verdict on this pause, once it has one."""
        task = self._judging
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    def verdict(self, silence_ms: float, words: str | None, shape: str = "") -> Verdict:
        """`words`: the transcript of the utterance so far, once understood (None: not yet); `shape`: how
        they end (HALF, OPEN, CLOSED or "")."""
        cfg = self.cfg
        if self.rule == "silence" or words is None:
            return Verdict()
        if self.rule == "text":
            ok = looks_complete(words) and silence_ms >= cfg.fast_end_silence_ms > 0
            return Verdict("semantic" if ok else None)
        p = self.p_done
        if p is None:
            return Verdict()
        voice_done = p >= cfg.turn_model_threshold
        if trails_off(words) or shape == HALF or (not voice_done and (shape == OPEN or not looks_complete(words))):
            self.held = True  # mid-thought: wait for the rest
            return Verdict(hold_ms=cfg.max_pause_ms)
        if not voice_done:  # the words read finished, the voice does not
            if shape in (CLOSED, QUESTION):
                wait = cfg.whole_end_silence_ms
            else:  # words that may go on ("Tell me a story about a dragon.") wait as the text rule does, if one
                wait = cfg.fast_end_silence_ms if one_sentence(words) else 0  # sentence, not "Add eggs. Milk."
            if wait > 0:
                return Verdict("semantic" if silence_ms >= wait else None)
            return Verdict()  # the silence rule decides
        return Verdict("model" if silence_ms >= cfg.model_end_silence_ms else None)

    def waiting_on(self, words: str | None) -> bool:
        """The model rule cannot judge this pause yet: its words are not understood (None) or the model is
        still hearing it."""
        return self.rule == "model" and (words is None or (self._judging is not None and not self._judging.done()))
