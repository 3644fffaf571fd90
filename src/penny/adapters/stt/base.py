"""The STT capability: an utterance (16 kHz mono) in, a transcript out."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from penny.core.events import AudioChunk, Transcript


@runtime_checkable
class STT(Protocol):
    name: str

    async def transcribe(self, audio: AudioChunk, *, initial_prompt: str | None = None) -> Transcript: ...
