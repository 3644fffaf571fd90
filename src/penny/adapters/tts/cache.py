"""Phrase cache: CachedTTS(inner) = in-memory LRU + a bounded on-disk store that survives restarts.

Key = the producing engine's cache_key() (engine + voice + settings) + normalised text. Audio made
by a fallback engine is never filed under the primary's key. Disk entries are written to a temp
file and os.replace()d (atomic for concurrent writers and crashes), and carry a checksum: a
corrupted entry is deleted and regenerated. The size bound evicts least-recently-used files.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import AsyncIterator, Iterable

import numpy as np

from penny.core.events import AudioChunk
from penny.core.speakable import speakable
from penny.private import private_dir

log = logging.getLogger("penny.tts.cache")
MAGIC = b"PENNYTTS1\n"
STALE_TEMP_S = 600


@functools.lru_cache(maxsize=4096)
def normalise(text: str, language: str = "en") -> str:
    """The text a voice is given, and the text part of the cache key."""
    return speakable(text, language)


def _digest(engine_key: str, text: str) -> str:
    return hashlib.blake2b(f"{engine_key}\n{text}".encode("utf-8"), digest_size=20).hexdigest()


class DiskCache:
    def __init__(self, directory: str | os.PathLike, max_bytes: int = 200 * 2**20):
        self.dir = private_dir(directory)  # 700 folders, 600 entries (mkstemp): what Penny said is private
        self.max_bytes = max_bytes
        self.corrupt = 0
        self._size = sum(size for _, size, _ in self._entries(clean=True))

    def _path(self, digest: str) -> Path:
        return self.dir / digest[:2] / f"{digest}.pcm"

    def _entries(self, clean: bool = False) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every entry; with clean, remove temp files left by a crash."""
        out, now = [], time.time()
        for sub in self.dir.iterdir() if self.dir.is_dir() else []:
            if not sub.is_dir():
                continue
            for entry in os.scandir(sub):
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                if entry.name.startswith(".tmp-"):
                    if clean and now - st.st_mtime > STALE_TEMP_S:
                        _unlink(Path(entry.path))
                    continue
                out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def get(self, engine_key: str, text: str) -> AudioChunk | None:
        path = self._path(_digest(engine_key, text))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("TTS cache entry %s unreadable: %s", path, exc)
            return None
        chunk = self._decode(data, engine_key, text)
        if chunk is None:
            self.corrupt += 1
            log.warning("TTS cache entry %s is corrupt; regenerating it.", path.name)
            _unlink(path)
            return None
        try:
            os.utime(path)  # recently used: evicted last
        except OSError:
            pass
        return chunk

    @staticmethod
    def _decode(data: bytes, engine_key: str, text: str) -> AudioChunk | None:
        if not data.startswith(MAGIC):
            return None
        end = data.find(b"\n", len(MAGIC))
        try:
            head = json.loads(data[len(MAGIC):end])
            payload = memoryview(data)[end + 1:]
            dtype = np.dtype(head["dtype"])
            if (head["key"], head["text"]) != (engine_key, text) or dtype not in (np.int16, np.float32):
                return None
            if len(payload) != head["n"] * dtype.itemsize:
                return None
            if hashlib.blake2b(payload, digest_size=16).hexdigest() != head["sum"]:
                return None
            samples = np.frombuffer(payload, dtype=dtype)
            return AudioChunk(samples, int(head["rate"]))
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, engine_key: str, text: str, chunk: AudioChunk) -> None:
        samples = np.ascontiguousarray(chunk.samples)
        payload = samples.tobytes()
        head = {"key": engine_key, "text": text, "rate": chunk.sample_rate, "dtype": samples.dtype.name,
                "n": int(samples.size), "sum": hashlib.blake2b(payload, digest_size=16).hexdigest()}
        data = MAGIC + json.dumps(head).encode("utf-8") + b"\n" + payload
        path = self._path(_digest(engine_key, text))
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # atomic: readers see the old entry or the whole new one
        except BaseException:
            _unlink(Path(tmp))
            raise
        self._size += len(data)
        if self._size > self.max_bytes:
            self.evict()

    def retain(self, digests: set[str]) -> None:
        """Delete every entry but these."""
        for _, size, path in self._entries():
            if path.stem not in digests:
                _unlink(path)
                self._size -= size

    def evict(self, target: float = 0.8) -> None:
        """Delete least-recently-used entries until the store is under target * max_bytes."""
        entries = sorted(self._entries(clean=True))
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.max_bytes * target:
                break
            _unlink(path)
            total -= size
        self._size = total

    @property
    def size_bytes(self) -> int:
        return self._size


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _join(chunks: list[AudioChunk]) -> AudioChunk:
    if len({c.samples.dtype for c in chunks}) == 1:
        samples = np.concatenate([c.samples for c in chunks])
    else:
        samples = np.concatenate([c.as_float32() for c in chunks])
    samples.flags.writeable = False  # shared by every hit: nobody may change it
    return AudioChunk(samples, chunks[0].sample_rate)


class CachedTTS:
    def __init__(self, inner, disk: DiskCache | None = None, memory_items: int = 256,
                 memory_max_bytes: int = 64 * 2**20, language: str = "en"):
        self.inner = inner
        self.language = language  # assistant.language: how numbers are read (core/speakable.py)
        self.disk = disk
        self.memory_items = memory_items
        self.memory_max_bytes = memory_max_bytes
        self._memory: OrderedDict[tuple[str, str], AudioChunk] = OrderedDict()
        self._memory_bytes = 0
        self.stats = {"memory_hits": 0, "disk_hits": 0, "misses": 0, "stored": 0}
        self.last_used = ""  # "cache", or the engine that spoke the latest sentence

    name = property(lambda self: self.inner.name)
    voice = property(lambda self: self.inner.voice)
    sample_rate = property(lambda self: self.inner.sample_rate)

    def cache_key(self) -> str:
        return self.inner.cache_key()

    async def warmup(self) -> None:
        await self.inner.warmup()

    def lookup(self, text: str) -> AudioChunk | None:
        """The cached audio for `text` (memory, then disk), or None."""
        return self._get(normalise(text, self.language))

    def _get(self, norm: str) -> AudioChunk | None:
        key = (self.inner.cache_key(), norm)
        hit = self._memory.get(key)
        if hit is not None:
            self._memory.move_to_end(key)
            self.stats["memory_hits"] += 1
            return hit
        if self.disk is not None:
            hit = self.disk.get(*key)
            if hit is not None:
                self.stats["disk_hits"] += 1
                self._remember(key, hit)
                return hit
        return None

    def _remember(self, key: tuple[str, str], chunk: AudioChunk) -> None:
        if self.memory_items <= 0 or chunk.samples.nbytes > self.memory_max_bytes:
            return
        old = self._memory.pop(key, None)
        self._memory_bytes += chunk.samples.nbytes - (old.samples.nbytes if old is not None else 0)
        self._memory[key] = chunk
        while len(self._memory) > self.memory_items or self._memory_bytes > self.memory_max_bytes:
            _, evicted = self._memory.popitem(last=False)
            self._memory_bytes -= evicted.samples.nbytes

    async def synthesize(self, text: str) -> AsyncIterator[AudioChunk]:
        norm = normalise(text, self.language)
        if not norm:
            return
        hit = self._get(norm)
        if hit is not None:
            self.last_used = "cache"
            yield hit
            return
        self.stats["misses"] += 1
        primary_key = self.inner.cache_key()
        chunks: list[AudioChunk] = []
        storable = True
        tagged = getattr(self.inner, "synthesize_tagged", None)
        gen = tagged(norm) if tagged else _tag(self.inner, self.inner.synthesize(norm))
        try:
            async for engine, chunk in gen:
                storable = storable and engine.cache_key() == primary_key
                self.last_used = engine.name
                chunks.append(chunk)
                yield chunk
        finally:
            await gen.aclose()
        # Reached only when the whole text was spoken (an interrupted sentence is not stored).
        if chunks and storable:
            audio = _join(chunks)
            self._remember((primary_key, norm), audio)
            if self.disk is not None:
                try:
                    await asyncio.to_thread(self.disk.put, primary_key, norm, audio)
                except OSError as exc:
                    log.warning("TTS cache write failed: %s", exc)
            self.stats["stored"] += 1

    def forget(self, keep: Iterable[str] = ()) -> None:
        """Drop every cached phrase but `keep`, in memory and on disk (`penny bench --turns`: each clip
        starts where a fresh install does, with only the phrases Penny pre-warms)."""
        kept = {(self.inner.cache_key(), normalise(text, self.language)) for text in keep}
        for key in [k for k in self._memory if k not in kept]:
            self._memory_bytes -= self._memory.pop(key).samples.nbytes
        if self.disk is not None:
            self.disk.retain({_digest(*key) for key in kept})

    async def prewarm(self, phrases: Iterable[str]) -> int:
        """Make sure each phrase is cached (synthesizing what is missing); returns how many are ready."""
        ready = 0
        for phrase in dict.fromkeys(phrases):
            try:
                async for _ in self.synthesize(phrase):
                    pass
                ready += 1
            except Exception as exc:  # a phrase that cannot be spoken must not stop start-up
                log.warning("Could not pre-warm %r: %s", phrase, exc)
        return ready


async def _tag(engine, chunks: AsyncIterator[AudioChunk]):
    try:
        async for chunk in chunks:
            yield engine, chunk
    finally:
        await chunks.aclose()
