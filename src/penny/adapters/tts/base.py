"""The TTS capability: text in, audio chunks out as soon as each is ready."""
from __future__ import annotations

from typing import AsyncIterator, Protocol, runtime_checkable

from penny.core.events import AudioChunk


@runtime_checkable
class TTS(Protocol):
    name: str  # engine: "piper", "espeak", "gtts"
    voice: str
    sample_rate: int

    def synthesize(self, text: str) -> AsyncIterator[AudioChunk]: ...

    def cache_key(self) -> str:
        """Engine + voice + settings: what makes the same text sound different."""
        ...
