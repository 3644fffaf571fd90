"""Speaking benchmark: time to first audio chunk and real-time factor per TTS engine, phrase-cache hit latency.

    .venv/bin/python benchmarks/speaking.py [--quick] [--out benchmarks/results/speaking.json]

`run_speaking_benchmark()` returns the numbers as a dict (the suite, python -m benchmarks, imports it).
RTF = synthesis seconds / audio seconds (below 1 is faster than real time). Engines are loaded and
warmed first; "load_s" is the cold load. Cache latencies are the time from calling synthesize() to
receiving the first chunk, memory (LRU) and disk (fresh cache object, memory disabled).
"""
from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SENTENCES = [
    "One moment.",
    "The weather today is sunny with a high of twenty degrees.",
    "I set a timer for ten minutes, and I will remind you to call your sister tomorrow at six in the evening.",
]


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _ms(v: float) -> float:
    return round(v * 1000.0, 3)


async def _time_synth(tts, text: str) -> tuple[float, float, float]:
    """(seconds to first chunk, seconds total, seconds of audio)."""
    t0 = time.perf_counter()
    first, audio = None, 0.0
    async for chunk in tts.synthesize(text):
        first = first if first is not None else time.perf_counter() - t0
        audio += chunk.duration_s
    return (first if first is not None else float("nan")), time.perf_counter() - t0, audio


async def bench_engine(name: str, repeats: int) -> dict:
    from penny.adapters.tts.factory import build_engine
    from penny.config import TTSConfig

    out: dict = {"engine": name}
    t0 = time.perf_counter()
    try:
        engine = build_engine(name, TTSConfig())
        await asyncio.to_thread(engine.load)
        out["load_s"] = round(time.perf_counter() - t0, 3)
        await engine.warmup()
    except Exception as exc:
        return {**out, "status": "failed", "error": str(exc), "failed_after_ms": _ms(time.perf_counter() - t0)}
    out.update(voice=engine.voice, sample_rate=engine.sample_rate, sentences=[])
    try:
        for text in SENTENCES:
            runs = [await _time_synth(engine, text) for _ in range(repeats)]
            ttfc = statistics.median(r[0] for r in runs)
            total = statistics.median(r[1] for r in runs)
            audio = runs[0][2]
            out["sentences"].append({"chars": len(text), "audio_s": round(audio, 2), "first_chunk_ms": _ms(ttfc),
                                     "total_ms": _ms(total), "rtf": round(total / audio, 3) if audio else None})
    except Exception as exc:
        t1 = time.perf_counter()
        try:
            await _time_synth(engine, "Hello.")
        except Exception:
            pass
        return {**out, "status": "failed", "error": str(exc), "failed_after_ms": _ms(time.perf_counter() - t1)}
    rows = out["sentences"]
    out.update(status="ok", first_chunk_ms_median=statistics.median(r["first_chunk_ms"] for r in rows),
               rtf_median=statistics.median(r["rtf"] for r in rows))
    return out


async def bench_fallback() -> dict:
    """gTTS configured but offline: how long until the espeak fallback's first chunk."""
    from penny.adapters.tts.espeak import EspeakTTS
    from penny.adapters.tts.fallback import FallbackTTS
    from penny.adapters.tts.gtts import GTTS

    chain = FallbackTTS([GTTS(), EspeakTTS()])
    first = await _time_synth(chain, "Falling back to the local voice.")
    again = await _time_synth(chain, "And once more, within the cooldown.")
    return {"first_sentence_first_chunk_ms": _ms(first[0]), "next_sentence_first_chunk_ms": _ms(again[0]),
            "spoken_by": chain.last_used}


async def bench_cache(n_memory: int, n_disk: int) -> dict:
    from penny.adapters.tts.cache import CachedTTS, DiskCache
    from penny.adapters.tts.piper import PiperTTS

    phrase = "Hi, I'm Penny. How can I help?"
    with tempfile.TemporaryDirectory(prefix="penny-tts-bench-") as d:
        engine = PiperTTS()
        tts = CachedTTS(engine, DiskCache(d))
        miss = await _time_synth(tts, phrase)
        memory = [(await _time_synth(tts, phrase))[0] for _ in range(n_memory)]
        cold = CachedTTS(engine, DiskCache(d), memory_items=0)
        disk = [(await _time_synth(cold, phrase))[0] for _ in range(n_disk)]
        entry = sum(p.stat().st_size for p in Path(d).glob("*/*.pcm"))
        assert cold.stats["misses"] == 0 and tts.stats["misses"] == 1
    return {
        "phrase": phrase, "entry_kb": round(entry / 1024, 1), "miss_first_chunk_ms": _ms(miss[0]),
        "memory_hit_ms": {"n": n_memory, "median": _ms(statistics.median(memory)), "p99": _ms(_pct(memory, 0.99))},
        "disk_hit_ms": {"n": n_disk, "median": _ms(statistics.median(disk)), "p99": _ms(_pct(disk, 0.99))},
    }


async def run_async(quick: bool = False) -> dict:
    repeats = 1 if quick else 3
    engines = [await bench_engine(name, repeats) for name in ("piper", "espeak", "gtts")]
    return {
        "machine": {"cpus": os.cpu_count(), "loadavg": [round(v, 2) for v in os.getloadavg()],
                    "python": platform.python_version(), "platform": platform.platform()},
        "engines": engines,
        "fallback_gtts_to_espeak": await bench_fallback(),
        "cache": await bench_cache(n_memory=500 if quick else 5000, n_disk=100 if quick else 500),
    }


def run_speaking_benchmark(quick: bool = False, cfg=None) -> dict:
    """All speaking numbers as one dict (synchronous; runs its own event loop in a thread, so it is
    safe to call from inside a running loop)."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(run_async(quick))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name="speaking-benchmark")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


run = run_speaking_benchmark  # the name the benchmark suite (python -m benchmarks) looks for


def _plot(result: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    ok = [e for e in result["engines"] if e.get("status") == "ok"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar([e["engine"] for e in ok], [e["first_chunk_ms_median"] for e in ok])
    ax.set_ylabel("time to first chunk (ms, median)")
    cache = result["cache"]
    ax.set_title(f"cache hit: memory {cache['memory_hit_ms']['median']} ms, disk {cache['disk_hit_ms']['median']} ms",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    sys.path.insert(0, str(ROOT))  # when run as a script
    from benchmarks.component import component_main

    component_main("speaking", __doc__, run_speaking_benchmark, _plot)


if __name__ == "__main__":
    main()
