"""FallbackTTS([primary, *others]): when an engine fails on a sentence, the next one says it."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Sequence

from penny.core.events import AudioChunk
from penny.errors import TTSFailed

log = logging.getLogger("penny.tts")


class FallbackTTS:
    def __init__(self, engines: Sequence):
        if not engines:
            raise ValueError("FallbackTTS needs at least one engine.")
        self.engines = list(engines)
        self.primary = self.engines[0]
        self.last_used = self.primary.name  # who spoke the latest sentence (for logs and traces)

    # The primary's identity: what the user configured.
    @property
    def name(self) -> str:
        return self.primary.name

    @property
    def voice(self) -> str:
        return self.primary.voice

    @property
    def sample_rate(self) -> int:
        return self.primary.sample_rate

    def cache_key(self) -> str:
        return self.primary.cache_key()

    async def warmup(self) -> None:
        """Warm every engine; one that fails to warm is logged, not fatal (its fallback covers it)."""
        results = await asyncio.gather(*(e.warmup() for e in self.engines), return_exceptions=True)
        for engine, res in zip(self.engines, results):
            if isinstance(res, BaseException):
                log.warning("TTS %s could not warm up: %s", engine.name, res)

    async def prewarm(self, phrases: list[str]) -> int:
        return 0  # nothing to keep without the phrase cache

    async def synthesize_tagged(self, text: str) -> AsyncIterator[tuple[object, AudioChunk]]:
        """(engine, chunk) pairs, so a cache can file audio under the engine that made it."""
        errors: list[str] = []
        for engine in self.engines:
            produced = False
            gen = engine.synthesize(text)
            try:
                async for chunk in gen:
                    produced = True
                    self.last_used = engine.name
                    yield engine, chunk
                return
            except TTSFailed as exc:
                if produced:  # part of the text was already spoken: repeating it would be worse
                    log.warning("TTS %s failed mid-sentence: %s", engine.name, exc)
                    return
                errors.append(f"{engine.name}: {exc}")
                log.warning("TTS %s failed, trying the next voice: %s", engine.name, exc)
            finally:
                await gen.aclose()
        raise TTSFailed("No voice could speak: " + "; ".join(errors),
                        hint="Run `penny doctor` to check the voices.")

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        gen = self.synthesize_tagged(text)
        try:
            async for _, chunk in gen:
                yield chunk
        finally:
            await gen.aclose()
