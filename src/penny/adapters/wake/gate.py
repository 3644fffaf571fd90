"""Who is Penny being spoken to? The wake gate turns heard utterances into commands.

Modes (cfg.wake.mode):
- always_listening: every utterance is a command.
- push_to_talk: utterances count while the talk window is open (`wake()` opens it on a press).
- wake_word: with the phrase engine, "Hey Penny, what time is it?" is one turn (command
  "what time is it"); "Hey Penny" alone opens a listening window for the next utterance.
  With openWakeWord, a detection (`wake(t)`) opens that window.
After Penny answers (`answered(t)`), a follow-up window of `follow_up_s` accepts speech
without the wake word. All times are stream seconds, like the endpointer's.
"""
from __future__ import annotations

from dataclasses import dataclass
from penny.core.events import Transcript, WakeDetected

LISTEN_WINDOW_S = 8.0


@dataclass(frozen=True)
class Heard:
    transcript: Transcript
    start_t: float
    end_t: float
    command: str | None  # None: not meant for Penny (or only the wake word)
    wake: WakeDetected | None = None


class WakeGate:
    def __init__(self, mode: str = "wake_word", phrase=None, follow_up_s: float = 8.0,
                 listen_window_s: float = LISTEN_WINDOW_S):
        self.mode = mode
        self.phrase = phrase  # a PhraseWake, or None with openWakeWord
        self.follow_up_s = follow_up_s
        self.listen_window_s = listen_window_s
        self.open_until = float("-inf")
        self.woke_at = float("-inf")

    def wake(self, t: float) -> None:
        """A wake word was detected (or the talk button pressed) at stream time t."""
        self.woke_at = t
        self.open_until = max(self.open_until, t + self.listen_window_s)

    def answered(self, t: float) -> None:
        """Penny finished answering at stream time t: open the follow-up window."""
        if self.follow_up_s > 0:
            self.open_until = max(self.open_until, t + self.follow_up_s)

    def close(self) -> None:
        self.open_until = float("-inf")

    def is_open(self, t: float) -> bool:
        return t <= self.open_until

    def on_transcript(self, transcript: Transcript, start_t: float, end_t: float) -> Heard:
        text = transcript.text.strip()
        if not text:
            return Heard(transcript, start_t, end_t, None)
        if self.mode == "always_listening":
            return Heard(transcript, start_t, end_t, text)
        if self.mode == "wake_word" and self.phrase is not None:
            hit = self.phrase.match(text, start_t)
            if hit is not None:
                if hit.command:
                    self.close()
                    return Heard(transcript, start_t, end_t, hit.command, hit)
                self.open_until = end_t + self.listen_window_s
                return Heard(transcript, start_t, end_t, None, hit)
        if self.mode == "wake_word" and self.phrase is None and end_t <= self.woke_at + 0.5:
            return Heard(transcript, start_t, end_t, None)  # the wake word's own utterance
        if self.is_open(start_t):
            self.close()
            return Heard(transcript, start_t, end_t, text)
        return Heard(transcript, start_t, end_t, None)
