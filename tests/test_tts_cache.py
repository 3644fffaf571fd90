"""Phrase cache: identical hits, persistence across processes, corruption, size bound, crash safety."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from penny.adapters.tts.cache import CachedTTS, DiskCache, _digest, normalise
from penny.adapters.tts.engine import EngineTTS
from penny.adapters.tts.fallback import FallbackTTS
from penny.core.events import AudioChunk
from penny.errors import TTSFailed


class ToneTTS(EngineTTS):
    """A deterministic fake voice: a tone whose pitch depends on the text; counts its calls."""

    name = "tone"
    sample_rate = 22050

    def __init__(self, voice="a", fail=False, chunks=2):
        super().__init__()
        self.voice, self.fail, self.chunks, self.calls = voice, fail, chunks, 0

    def _stream(self, text, stop):
        self.calls += 1
        if self.fail:
            raise RuntimeError("engine exploded")
        t = np.arange(int(0.05 * len(text) * self.sample_rate)) / self.sample_rate
        tone = (0.3 * np.sin(2 * np.pi * (200 + len(text) * 7) * t)).astype(np.float32)
        yield from np.array_split(tone, self.chunks)


async def say(tts, text):
    chunks = [c async for c in tts.synthesize(text)]
    return np.concatenate([c.samples for c in chunks]) if chunks else np.zeros(0)


async def test_hits_return_identical_audio_without_the_engine(tmp_path):
    engine = ToneTTS()
    tts = CachedTTS(engine, DiskCache(tmp_path))
    first = await say(tts, "Hello there.")
    second = await say(tts, "Hello  there. ")  # same normalised text
    assert engine.calls == 1
    np.testing.assert_array_equal(first, second)
    assert tts.stats["memory_hits"] == 1 and tts.stats["misses"] == 1
    hit = tts.lookup("Hello there.")
    assert hit is tts.lookup("Hello there.") and not hit.samples.flags.writeable


async def test_key_includes_engine_voice_and_settings(tmp_path):
    disk = DiskCache(tmp_path)
    a, b = ToneTTS("a"), ToneTTS("b")
    await say(CachedTTS(a, disk), "Same text.")
    await say(CachedTTS(b, disk), "Same text.")
    assert a.calls == 1 and b.calls == 1  # another voice is another entry


async def test_disk_hit_in_a_fresh_cache(tmp_path):
    engine = ToneTTS()
    first = await say(CachedTTS(engine, DiskCache(tmp_path)), "Persist me.")
    fresh = CachedTTS(engine, DiskCache(tmp_path))
    np.testing.assert_array_equal(await say(fresh, "Persist me."), first)
    assert engine.calls == 1 and fresh.stats["disk_hits"] == 1


def test_survives_a_new_process(tmp_path):
    """Another Python process fills the cache with espeak audio; this one reads it back without espeak."""
    script = (
        "import asyncio, sys, numpy as np\n"
        "from penny.adapters.tts.cache import CachedTTS, DiskCache\n"
        "from penny.adapters.tts.espeak import EspeakTTS\n"
        "async def main():\n"
        "    t = CachedTTS(EspeakTTS(), DiskCache(sys.argv[1]))\n"
        "    a = np.concatenate([c.samples async for c in t.synthesize('Good morning, Penny here.')])\n"
        "    np.save(sys.argv[2], a)\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "cache"), str(tmp_path / "a.npy")],
                   check=True, timeout=120)
    from penny.adapters.tts.espeak import EspeakTTS

    engine = EspeakTTS()
    engine._stream = lambda *a: (_ for _ in ()).throw(AssertionError("engine must not run"))
    tts = CachedTTS(engine, DiskCache(tmp_path / "cache"))
    hit = tts.lookup("Good morning, Penny here.")
    assert hit is not None
    np.testing.assert_array_equal(hit.samples, np.load(tmp_path / "a.npy"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
async def test_corrupted_entry_is_detected_and_regenerated(tmp_path, damage):
    engine = ToneTTS()
    first = await say(CachedTTS(engine, DiskCache(tmp_path)), "Fragile phrase.")
    [path] = list(tmp_path.glob("*/*.pcm"))
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-100] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"\x00" * 64)
    path.write_bytes(bytes(data))

    disk = DiskCache(tmp_path)
    tts = CachedTTS(engine, disk)
    assert tts.lookup("Fragile phrase.") is None and disk.corrupt == 1
    np.testing.assert_array_equal(await say(tts, "Fragile phrase."), first)  # regenerated
    assert engine.calls == 2
    assert DiskCache(tmp_path).get(engine.cache_key(), normalise("Fragile phrase.")) is not None


def test_disk_store_is_bounded_lru(tmp_path):
    disk = DiskCache(tmp_path, max_bytes=60_000)
    samples = np.zeros(4000, np.float32)  # ~16 kB per entry: three fit, four do not
    for i in range(3):
        disk.put("k", f"phrase {i}", AudioChunk(samples, 22050))
    now = time.time()
    for i, age in enumerate((10, 100, 99)):  # phrase 0 was used most recently, then 2, then 1
        os.utime(disk._path(_digest("k", f"phrase {i}")), (now - age, now - age))
    disk.put("k", "phrase 3", AudioChunk(samples, 22050))
    total = sum(p.stat().st_size for p in tmp_path.glob("*/*.pcm"))
    assert total <= 0.8 * 60_000 and disk.size_bytes == total
    assert disk.get("k", "phrase 1") is None  # the least recently used went first
    assert disk.get("k", "phrase 0") is not None and disk.get("k", "phrase 3") is not None


def test_crash_mid_write_leaves_no_entry_and_old_temp_files_are_cleaned(tmp_path, monkeypatch):
    disk = DiskCache(tmp_path)
    chunk = AudioChunk(np.ones(1000, np.float32) * 0.1, 22050)
    disk.put("k", "kept", chunk)

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        disk.put("k", "kept", AudioChunk(np.zeros(1000, np.float32), 22050))
    monkeypatch.undo()
    np.testing.assert_array_equal(disk.get("k", "kept").samples, chunk.samples)  # old entry intact
    # A process killed mid-write leaves a temp file behind: never read, removed once stale.
    stale = tmp_path / "ab" / ".tmp-deadbeef"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"PENNYTTS1\n{half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    DiskCache(tmp_path)
    assert not stale.exists()
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_concurrent_writers_never_leave_a_torn_entry(tmp_path):
    chunks = [AudioChunk(np.full(20000, i / 10, np.float32), 22050) for i in range(8)]
    errors = []

    def writer(i):
        try:
            disk = DiskCache(tmp_path)  # one store object per writer, like separate processes
            for _ in range(10):
                disk.put("k", "contended", chunks[i])
                disk.put("k", f"own {i}", chunks[i])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader():
        disk = DiskCache(tmp_path)
        for _ in range(200):
            hit = disk.get("k", "contended")
            if hit is not None and not any(np.array_equal(hit.samples, c.samples) for c in chunks):
                errors.append(AssertionError("torn read"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    disk = DiskCache(tmp_path)
    assert disk.corrupt == 0 and disk.get("k", "contended") is not None
    assert all(disk.get("k", f"own {i}") is not None for i in range(8))
    assert not list(tmp_path.rglob(".tmp-*"))


async def test_fallback_audio_is_not_filed_under_the_primary(tmp_path):
    broken, backup = ToneTTS("primary", fail=True), ToneTTS("backup")
    tts = CachedTTS(FallbackTTS([broken, backup]), DiskCache(tmp_path))
    assert len(await say(tts, "Hello.")) > 0
    assert tts.stats["stored"] == 0 and not list(tmp_path.glob("*/*.pcm"))
    broken.fail = False  # the primary recovers: its own voice is used, and cached
    await say(tts, "Hello.")
    assert broken.calls == 2 and tts.stats["stored"] == 1


async def test_interrupted_synthesis_is_not_cached(tmp_path):
    engine = ToneTTS(chunks=4)
    tts = CachedTTS(engine, DiskCache(tmp_path))
    gen = tts.synthesize("A long sentence that gets interrupted.")
    await gen.__anext__()
    await gen.aclose()
    assert tts.stats["stored"] == 0
    await say(tts, "A long sentence that gets interrupted.")
    assert engine.calls == 2 and tts.stats["stored"] == 1


async def test_prewarm_and_memory_only_cache(tmp_path):
    engine = ToneTTS()
    tts = CachedTTS(engine, disk=None, memory_items=2)
    assert await tts.prewarm(["One moment.", "Hi!", "One moment.", "Bye."]) == 3
    assert engine.calls == 3
    assert tts.lookup("One moment.") is None  # evicted: only two fit in memory
    assert tts.lookup("Bye.") is not None


async def test_all_engines_failing_raises_tts_failed():
    tts = CachedTTS(FallbackTTS([ToneTTS("a", fail=True), ToneTTS("b", fail=True)]))
    with pytest.raises(TTSFailed) as err:
        await say(tts, "Hello.")
    assert err.value.message.count("engine exploded") == 2  # both engines' reasons are reported


async def test_memory_cache_is_bounded_in_bytes():
    engine = ToneTTS()
    tts = CachedTTS(engine, memory_items=100, memory_max_bytes=200_000)
    for i in range(10):
        await say(tts, f"Phrase number {i} is here.")  # ~100 kB of float32 audio each
    assert 0 < tts._memory_bytes <= 200_000 and len(tts._memory) < 10
    assert tts.lookup("Phrase number 9 is here.") is not None


async def test_forget_keeps_only_the_given_phrases_in_memory_and_on_disk(tmp_path):
    engine = ToneTTS()
    tts = CachedTTS(engine, DiskCache(tmp_path))
    for text in ("Okay,", "One moment.", "It's 8:17 am."):
        await say(tts, text)
    tts.forget(["Okay,", "One  moment."])  # the keys are normalised like the texts
    assert tts.lookup("It's 8:17 am.") is None
    assert tts.lookup("Okay,") is not None and tts.lookup("One moment.") is not None
    assert tts._memory_bytes == sum(c.samples.nbytes for c in tts._memory.values())
    fresh = CachedTTS(engine, DiskCache(tmp_path))  # the disk store lost the same entry
    assert fresh.lookup("It's 8:17 am.") is None and fresh.lookup("Okay,") is not None
    assert fresh.disk._size == sum(size for _, size, _ in fresh.disk._entries())
    await say(tts, "It's 8:17 am.")
    assert engine.calls == 4  # made again
