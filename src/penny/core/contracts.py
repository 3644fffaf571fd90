"""What the turn core needs from its engines: one small Protocol per capability.

The core depends on these shapes only, never on an adapter module; every adapter of a family
implements its Protocol in full (no-op `warmup`/`aclose` where it has nothing to do), so nothing in
the core probes for a method. `mypy` checks the core against them (`make test`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, AsyncGenerator, AsyncIterator, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from penny.core.events import AudioChunk, LLMEvent, Transcript, WakeDetected

if TYPE_CHECKING:  # the core's own classes, typed here without an import cycle
    from penny.config import PennyConfig
    from penny.core.assistant import Assistant
    from penny.core.endpointer import Endpointer

Message = dict[str, object]  # an OpenAI chat message: {"role": ..., "content": ...}
Frame = npt.NDArray[np.float32]  # 16 kHz mono samples in [-1, 1]


@runtime_checkable
class STT(Protocol):
    """An utterance (16 kHz mono) in, a transcript out."""

    @property
    def name(self) -> str: ...

    async def transcribe(self, audio: AudioChunk, *, initial_prompt: str | None = None) -> Transcript: ...

    async def score(self, audio: AudioChunk, texts: list[str], *, prefix: str = "") -> list[float] | None:
        """How well each text fits the audio (mean log-probability per token, forced after `prefix`):
        for choosing between readings of a short utterance. None: this engine can't say."""
        ...

    def warmup(self) -> None:
        """Load the model (blocking: called in a thread at start-up)."""
        ...


@runtime_checkable
class TTS(Protocol):
    """Text in, audio chunks out as soon as each is ready."""

    @property
    def name(self) -> str: ...  # engine: "piper", "espeak", "gtts"

    @property
    def voice(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def last_used(self) -> str:
        """Who spoke the latest sentence ("cache", or an engine's name): the turn's trace says so."""
        ...

    def synthesize(self, text: str) -> AsyncIterator[AudioChunk]: ...

    async def warmup(self) -> None:
        """Load the voice and speak once, so the first real sentence is fast."""
        ...

    async def prewarm(self, phrases: list[str]) -> int:
        """Have these phrases ready (a phrase cache fills itself; an engine alone has nothing to keep)."""
        ...

    def cache_key(self) -> str:
        """Engine + voice + settings: what makes the same text sound different."""
        ...


@runtime_checkable
class LLM(Protocol):
    """Chat messages in, a stream of text deltas and tool calls out."""

    @property
    def name(self) -> str: ...  # e.g. "lmstudio", "embedded"

    @property
    def model(self) -> str: ...

    @property
    def supports_tools(self) -> bool: ...

    def stream(self, messages: list[Message], tools: list[dict[str, object]] | None = None
               ) -> AsyncGenerator[LLMEvent, None]: ...

    async def start(self) -> None:
        """Get ready to answer (start a local server); never raises: a turn reports what is missing."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class VAD(Protocol):
    """One fixed-size 16 kHz frame in, speech probability out."""

    name: str
    frame_samples: int  # samples per frame the model expects at 16 kHz

    def speech_probability(self, frame: Frame) -> float: ...

    def reset(self) -> None: ...


class AudioWake(Protocol):
    """A wake word heard in the audio itself (openWakeWord): nothing else runs until it fires."""

    hears: Literal["audio"]
    name: str

    def process(self, frame: Frame, t: float) -> WakeDetected | None: ...

    def prompt(self, base: str | None = None) -> str:
        """The STT prompt that spells the wake phrase (an utterance it fired in starts with it)."""
        ...

    def reset(self) -> None: ...


class TranscriptWake(Protocol):
    """A wake phrase found in transcripts ("Hey Penny, what time is it?"): every utterance is transcribed."""

    hears: Literal["words"]
    name: str

    def match(self, text: str, t: float = 0.0) -> WakeDetected | None: ...

    def prompt(self, base: str | None = None) -> str:
        """The STT prompt that helps Whisper spell the phrase."""
        ...

    def reset(self) -> None: ...


Wake = AudioWake | TranscriptWake


@runtime_checkable
class AudioSource(Protocol):
    """Yields 16 kHz mono float32 chunks."""

    sample_rate: int

    def frames(self) -> AsyncIterator[AudioChunk]: ...

    async def close(self) -> None: ...


@runtime_checkable
class AudioSink(Protocol):
    """Plays or stores chunks and can stop at once. A local speaker may also have `async pause()` (quiet now,
    the rest kept) and `async resume()`: voice over a reply pauses it before it is a barge-in (core/output.py)."""

    sample_rate: int

    async def write(self, chunk: AudioChunk) -> None: ...

    async def drain(self) -> None:
        """Wait until everything written has been played (or stored)."""
        ...

    async def stop(self) -> None:
        """Silence at once and drop what is queued (barge-in)."""
        ...

    async def close(self) -> None: ...

    @property
    def echo_cancelled(self) -> bool:
        """False when Penny may hear its own voice from this sink (a speaker with no echo cancellation)."""
        ...


@runtime_checkable
class TurnEndModel(Protocol):
    """A learned end of turn: at a pause, how likely the user has finished (Smart Turn)."""

    name: str

    def probability_done(self, audio: Frame) -> float:
        """The utterance so far (16 kHz mono, up to the pause); the model reads its last seconds."""
        ...


class SessionEngines(Protocol):
    """What a voice session uses of the process-wide engines (penny.app.engines.Engines)."""

    cfg: PennyConfig
    stt: STT
    tts: TTS
    assistant: Assistant

    def new_endpointer(self) -> Endpointer: ...

    def new_wake(self) -> Wake: ...

    @property
    def turn_end_model(self) -> TurnEndModel | None:
        """The learned end-of-turn model when `vad.end_of_turn` is "model" and it loaded; else None."""
        ...
