"""Typed events that flow between stages. Small, frozen where possible, no dict[str, Any]."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from penny.core import pcm


@dataclass(frozen=True)
class AudioChunk:
    """Mono audio. Inside the pipeline: 16 kHz float32 in [-1, 1]; TTS emits its voice's rate."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    def as_float32(self) -> np.ndarray:
        return pcm.to_float(self.samples)

    def as_int16(self) -> np.ndarray:
        return pcm.to_int16(self.samples)


@dataclass(frozen=True)
class SpeechStarted:
    t: float  # seconds since the source's first sample


@dataclass(frozen=True)
class SpeechEnded:
    t: float  # end of speech (last voiced sample), seconds since the source's first sample
    audio: AudioChunk  # the utterance, pre-roll included
    start_t: float = 0.0
    decided_t: float = 0.0  # stream time at which end-of-turn was decided
    audio_t: float = 0.0  # stream time of the audio's first sample


@dataclass(frozen=True)
class SilenceStarted:
    """Speech paused: an early chance to start transcribing (may be discarded)."""

    t: float
    audio: AudioChunk  # the utterance so far, pre-roll included
    start_t: float = 0.0  # its first voiced sample
    audio_t: float = 0.0  # stream time of the audio's first sample


@dataclass(frozen=True)
class WakeDetected:
    name: str
    score: float
    t: float
    command: str = ""  # phrase engine: the words after the wake phrase


@dataclass(frozen=True)
class Listening:
    """The wake gate changed (wake_word mode). `open`: the next utterance is taken as meant for Penny;
    closed: Penny is only waiting for `wake_word`. `reason`: "start" (session began, closed), "wake"
    (the wake word was heard), "follow_up" (an answer ended: the follow-up window), "heard" (the command
    was taken), "timeout" (the window ran out)."""

    open: bool
    reason: str
    t: float  # stream time of the change, seconds
    wake_word: str = ""


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Hypothesis:
    """Another reading of the same audio (a beam-search hypothesis), with Whisper's own score."""

    text: str
    avg_logprob: float


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str = "en"
    segments: tuple[Segment, ...] = ()
    processing_s: float = 0.0
    audio_s: float = 0.0
    # Whisper's confidence in `text` (None where the engine gives none, e.g. a typed turn).
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    alternatives: tuple[Hypothesis, ...] = ()  # the other beam hypotheses, best first


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True)
class LLMServed:
    """The LLM backend (and model) answering this stream; a later one in the same stream took over. It
    travels with the turn (two sessions may answer at once), unlike the chain's shared `active`."""

    backend: str
    model: str = ""


@dataclass(frozen=True)
class BackendSwitched:
    """The LLM chain moved to another backend mid-answer."""

    frm: str
    to: str
    reason: str


@dataclass(frozen=True)
class BackendFailed(BackendSwitched):
    """An LLM backend failed mid-answer. `recoverable`: `to` goes on from the words already said (`to` ==
    `frm`: the same backend, restarted); not recoverable: no backend could finish (`to` is "")."""

    recoverable: bool = True


@dataclass(frozen=True)
class ErrorEvent:
    code: str
    message: str


# Stage marks of one turn, in the order they should happen.
TRACE_MARKS = (
    "speech_end",
    "end_of_turn",
    "stt_start",
    "transcript",
    "first_token",
    "first_chunk",
    "first_audio",
    "playback_start",
    "turn_end",
)


@dataclass(frozen=True)
class StageEvent:
    """A stage of one turn started, reached its first output, or ended, at perf_counter time `t` (Home
    Assistant's assist pipeline emits the same). The turn's TurnTrace is built from these."""

    turn_id: str
    stage: str  # "speech", "turn", "stt", "reply", "tts", "playback"
    phase: str  # "start" | "first" | "end"
    t: float = field(default_factory=time.perf_counter)


# The trace's name for each stage event (the marks benchmarks and logs read).
STAGE_MARKS = {
    ("speech", "start"): "speech_start",
    ("speech", "end"): "speech_end",
    ("turn", "start"): "end_of_turn",
    ("stt", "start"): "stt_start",
    ("stt", "end"): "transcript",
    ("reply", "first"): "first_token",
    ("tts", "start"): "first_chunk",
    ("tts", "first"): "first_audio",
    ("playback", "start"): "playback_start",
    ("turn", "end"): "turn_end",
}


@dataclass
class TurnTrace:
    """Timestamps (time.perf_counter seconds) of one turn's stages, plus who served it."""

    turn_id: str
    session_id: str = ""
    marks: dict[str, float] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)
    intent: str | None = None
    interrupted: bool = False
    # what ended the turn: "model", "semantic" (the words), "silence", "max_pause", "push_to_talk", "typed"
    end_rule: str | None = None
    end_p: float | None = None  # the end-of-turn model's probability that the user had finished
    heard: dict = field(default_factory=dict)  # how sure Penny was of the words (see core/understanding.py)
    acted: list[str] = field(default_factory=list)  # what its skills and tools changed ("timers.HassStartTimer")
    merged_from: str | None = None  # the turn it joined: the user went on after it (core/continuation.py)

    def mark(self, name: str, at: float | None = None) -> None:
        self.marks.setdefault(name, time.perf_counter() if at is None else at)

    def record(self, ev: StageEvent) -> None:
        self.mark(STAGE_MARKS.get((ev.stage, ev.phase), f"{ev.stage}_{ev.phase}"), ev.t)

    def since(self, start: str = "speech_end") -> dict[str, float]:
        """Milliseconds from `start` to every later mark."""
        t0 = self.marks.get(start)
        if t0 is None:
            return {}
        return {k: round((v - t0) * 1000.0, 1) for k, v in self.marks.items()}

    def to_dict(self) -> dict:
        return {
            "turn_id": self.turn_id,
            "session_id": self.session_id,
            "ms": self.since(),
            "backends": dict(self.backends),
            "intent": self.intent,
            "interrupted": self.interrupted,
            "end_rule": self.end_rule,
            "end_p": None if self.end_p is None else round(self.end_p, 3),
            "heard": dict(self.heard),
            "acted": list(self.acted),
            "merged_from": self.merged_from,
        }

    def log_line(self) -> str:
        ms = self.since()
        parts = [f"{k}={ms[k]:.0f}ms" for k in TRACE_MARKS if k in ms and k != "speech_end"]
        who = ",".join(f"{k}:{v}" for k, v in self.backends.items())
        return f"turn {self.turn_id} " + " ".join(parts) + (f" [{who}]" if who else "")


# ---- What a voice session emits to its client (the web client, the terminal) ----


@dataclass(frozen=True)
class ReplyStarted:
    turn_id: str
    user_text: str


@dataclass(frozen=True)
class ReplyDelta:
    turn_id: str
    text: str


@dataclass(frozen=True)
class ReplyAudio:
    turn_id: str
    audio: AudioChunk  # at the TTS voice's rate; the sink resamples


@dataclass(frozen=True)
class ReplyDone:
    turn_id: str
    text: str
    interrupted: bool = False


@dataclass(frozen=True)
class Interrupted:
    """The session cut turn `turn_id` (barge-in, the client's interrupt, a new turn): stop playing its audio
    now. No audio of it follows this event; its ReplyDone(interrupted=True) and TurnTrace may."""

    turn_id: str


@dataclass(frozen=True)
class Alert:
    """A timer or reminder fired; spoken and shown even mid-conversation."""

    kind: str  # "timer" | "reminder"
    text: str
    id: str = ""
    session_id: str = ""  # the session (room) that set it: said there while it is open, else everywhere


# Everything a voice session emits to its client, in one type (server/protocol.py maps each to the wire).
SessionEvent = (SpeechStarted | SpeechEnded | SilenceStarted | WakeDetected | Listening | Transcript | ReplyStarted
                | ReplyDelta | ReplyAudio | ReplyDone | Interrupted | Alert | BackendSwitched | ErrorEvent
                | StageEvent | TurnTrace)

# What an LLM stream yields (adapters/llm): text, tool calls, which backend answers, a switch mid-answer.
LLMEvent = TextDelta | ToolCall | LLMServed | BackendSwitched
