"""Audio sources yield 16 kHz mono float32 chunks; sinks play or store chunks and can stop at once."""
from __future__ import annotations

from typing import AsyncIterator, Protocol, runtime_checkable

from penny.core.events import AudioChunk


@runtime_checkable
class AudioSource(Protocol):
    sample_rate: int

    def frames(self) -> AsyncIterator[AudioChunk]: ...

    async def close(self) -> None: ...


@runtime_checkable
class AudioSink(Protocol):
    sample_rate: int

    async def write(self, chunk: AudioChunk) -> None: ...

    async def drain(self) -> None:
        """Wait until everything written has been played (or stored)."""
        ...

    async def stop(self) -> None:
        """Silence at once and drop what is queued (barge-in)."""
        ...

    async def close(self) -> None: ...
