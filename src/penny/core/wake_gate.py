"""Who is Penny being spoken to? The wake gate turns heard utterances into commands.

Modes (cfg.wake.mode):
- always_listening: every utterance is a command.
- push_to_talk: utterances count while the talk window is open (`wake()` opens it on a press).
- wake_word: with the phrase engine, "Hey Penny, what time is it?" is one turn (command
  "what time is it"); "Hey Penny" alone opens a listening window for the next utterance.
  With openWakeWord, a detection (`wake(t)`) opens that window.
After Penny answers (`answered(t)`), a follow-up window of `follow_up_s` accepts speech
without the wake word. All times are stream seconds, like the endpointer's.

A closed gate means closed: with an acoustic engine (openWakeWord) an utterance the gate does not
`admit` (no detection in or just before it, no open window) is dropped before speech-to-text, and
no speculation starts on its pauses. Its audio lives only in the endpointer's buffer (memory) and
is discarded. The phrase engine must transcribe to hear its phrase, so it admits everything.
`poll(t)` reports each change of the gate as a `Listening` event, for the page and `penny listen`.
"""
from __future__ import annotations

from dataclasses import dataclass

from penny.core.contracts import TranscriptWake, Wake
from penny.core.events import Listening, Transcript, WakeDetected

LISTEN_WINDOW_S = 8.0
DETECTION_SLACK_S = 1.0  # a detection this close before an utterance's start (or after its end) counts as in it


@dataclass(frozen=True)
class Heard:
    transcript: Transcript
    start_t: float
    end_t: float
    command: str | None  # None: not meant for Penny (or only the wake word)
    wake: WakeDetected | None = None


class WakeGate:
    def __init__(self, mode: str = "wake_word", phrase: TranscriptWake | None = None, follow_up_s: float = 8.0,
                 listen_window_s: float = LISTEN_WINDOW_S):
        self.mode = mode
        self.phrase = phrase  # a PhraseWake, or None with openWakeWord
        self.follow_up_s = follow_up_s
        self.listen_window_s = listen_window_s
        self.open_until = float("-inf")
        self.woke_at = float("-inf")
        self.acoustic = False  # the wake engine hears audio (openWakeWord): see admits()
        self.wake_word = phrase.name if phrase is not None else ""
        self._why = "start"  # what last opened or closed the gate
        self._shown: bool | None = None  # the state poll() last reported

    @classmethod
    def for_engine(cls, mode: str, wake: Wake | None, follow_up_s: float = 8.0) -> "WakeGate":
        """The gate for a session's wake engine: a phrase matched in transcripts, an acoustic detector
        (openWakeWord), or None (no wake word in this mode)."""
        gate = cls(mode, wake if wake is not None and wake.hears == "words" else None, follow_up_s)
        gate.acoustic = wake is not None and wake.hears == "audio"
        gate.wake_word = wake.name.replace("_", " ") if wake is not None else ""
        return gate

    def wake(self, t: float) -> None:
        """A wake word was detected (or the talk button pressed) at stream time t."""
        self.woke_at = t
        self.open_until = max(self.open_until, t + self.listen_window_s)
        self._why = "wake"

    def answered(self, t: float) -> None:
        """Penny finished answering at stream time t: open the follow-up window."""
        if self.follow_up_s > 0:
            self.open_until = max(self.open_until, t + self.follow_up_s)
            self._why = "follow_up"

    def close(self) -> None:
        self.open_until = float("-inf")
        self._why = "heard"

    def admits(self, start_t: float, end_t: float) -> bool:
        """May the utterance [start_t, end_t] be transcribed (or speculated on) at all? Only the
        acoustic engine can tell before STT: a detection inside it (or just before its start), or an
        open window (wake-only utterance before it, follow-up after an answer)."""
        if self.mode != "wake_word" or not self.acoustic:
            return True
        return start_t - DETECTION_SLACK_S <= self.woke_at <= end_t + DETECTION_SLACK_S or self.is_open(start_t)

    def poll(self, t: float) -> Listening | None:
        """A Listening event when the gate's state at stream time t differs from the last one reported."""
        if self.mode != "wake_word":
            return None
        now = self.is_open(t)
        if now == self._shown:
            return None
        self._shown = now
        why = self._why if now or self.open_until == float("-inf") else "timeout"
        return Listening(now, why, t, self.wake_word)

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
                self._why = "wake"
                return Heard(transcript, start_t, end_t, None, hit)
        if self.mode == "wake_word" and self.phrase is None and end_t <= self.woke_at + 0.5:
            return Heard(transcript, start_t, end_t, None)  # the wake word's own utterance
        if self.is_open(start_t):
            self.close()
            return Heard(transcript, start_t, end_t, text)
        return Heard(transcript, start_t, end_t, None)
