"""Hearing benchmark: STT latency/RTF for 1–5 s utterances, VAD cost per 30 ms frame, wake-word idle CPU.

    .venv/bin/python benchmarks/hearing.py [--quick] [--out benchmarks/results/hearing.json]

`run_hearing_benchmark()` returns the numbers as a dict (a benchmark suite can import it).
CPU figures are process CPU seconds per second of audio (1.0 = one core fully busy).
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # fixtures_speech: Piper/espeak synthesis helpers

SR = 16000
UTTERANCES = {  # target seconds → a command that Piper speaks in a little less
    1: "What time is it?",
    2: "Turn on the kitchen lights.",
    3: "Set a timer for ten minutes, please.",
    4: "Remind me to call my mother tomorrow at six.",
    5: "What is on my calendar for next Tuesday afternoon?",
}


def _clip(seconds: int, text: str) -> np.ndarray:
    from fixtures_speech import load, synth_piper

    speech = load(synth_piper(text))
    target = seconds * SR
    if len(speech) > target:
        speech = speech[:target]
    pad = target - len(speech)
    return np.concatenate([np.zeros(pad // 2, np.float32), speech, np.zeros(pad - pad // 2, np.float32)])


def bench_stt(repeats: int = 3, cfg=None) -> dict:
    from penny.adapters.stt.factory import build_stt
    from penny.config import PennyConfig
    from penny.core.events import AudioChunk

    cfg = cfg or PennyConfig()
    stt = build_stt(cfg)
    t0 = time.perf_counter()
    stt.warmup()
    load_s = time.perf_counter() - t0
    rows = []
    for seconds, text in UTTERANCES.items():
        audio = AudioChunk(_clip(seconds, text), SR)
        times, out = [], ""
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = stt.transcribe_sync(audio).text  # what transcribe() runs in its worker thread
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        rows.append({"audio_s": seconds, "latency_ms": round(med * 1000, 1), "min_ms": round(min(times) * 1000, 1),
                     "rtf": round(med / seconds, 3), "text": out})
    return {"model": f"{cfg.stt.model} {cfg.stt.compute_type} {cfg.stt.device}", "load_and_warmup_s": round(load_s, 2), "utterances": rows}


def bench_stt_threads(threads: tuple[int, ...] = (1, 2, 4), repeats: int = 3, cfg=None) -> dict:
    """Decoder threads against decode time, alone and while the turn model decides at the same pause (as at
    every pause in `penny listen`): stt.cpu_threads 0 picks auto_threads() from this. Each 1-5 s command."""
    import threading

    from penny.adapters.stt.factory import build_stt
    from penny.adapters.turn.factory import load
    from penny.config import PennyConfig
    from penny.core.events import AudioChunk

    clips = [_clip(seconds, text) for seconds, text in UTTERANCES.items()]
    try:
        turn = load()
    except Exception:  # no Smart Turn model: alone only
        turn = None
    out: dict = {"cores": os.cpu_count(), "rows": []}
    for n in threads:
        cfg_n = (cfg or PennyConfig()).model_copy(deep=True)
        cfg_n.stt.cpu_threads = n
        stt = build_stt(cfg_n)
        stt.warmup()
        for alongside in (False, True) if turn is not None else (False,):
            times = []
            for _ in range(repeats):
                for clip in clips:
                    other = threading.Thread(target=turn.probability_done, args=(clip,)) if alongside else None
                    if other:
                        other.start()
                    t0 = time.perf_counter()
                    stt.transcribe_sync(AudioChunk(clip, SR))
                    times.append((time.perf_counter() - t0) * 1000)
                    if other:
                        other.join()
            out["rows"].append({"threads": n, "with_turn_model": alongside,
                                "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)})
    return out


def _frames(n: int, size: int) -> list[np.ndarray]:
    from fixtures_speech import add_noise, load, synth_piper

    speech = add_noise(load(synth_piper("Turn on the kitchen lights and set a timer for ten minutes.")), 25)
    x = np.tile(speech, 1 + n * size // len(speech))
    return [x[i * size:(i + 1) * size] for i in range(n)]


def bench_vad(n: int = 1000) -> dict:
    from penny.adapters.vad.factory import build_vad
    from penny.config import VADConfig

    out = {}
    for provider in ("silero", "webrtc"):
        vad = build_vad(VADConfig(provider=provider))
        frames = _frames(n, vad.frame_samples)
        for f in frames[:20]:
            vad.speech_probability(f)
        t0, c0 = time.perf_counter(), time.process_time()
        for f in frames:
            vad.speech_probability(f)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        frame_ms = vad.frame_samples / SR * 1000
        out[provider] = {
            "frame_ms": frame_ms,
            "us_per_frame": round(wall / n * 1e6, 1),
            "us_per_30ms_audio": round(wall / n * 1e6 * 30 / frame_ms, 1),
            "cpu_share": round(cpu / (n * frame_ms / 1000), 4),
        }
    return out


def bench_wake_idle(seconds: float = 20.0) -> dict:
    """CPU share of listening for a wake word on 16 kHz room-tone (no speech)."""
    from fixtures_speech import noise

    from penny.core.endpointer import Endpointer
    from penny.adapters.vad.factory import build_vad
    from penny.adapters.wake.openwakeword import OpenWakeWordDetector
    from penny.config import VADConfig
    from penny.core.events import AudioChunk

    x = noise(seconds, -60, seed=1)
    out = {"audio_s": seconds}
    det = OpenWakeWordDetector("hey_jarvis")
    det.process(np.zeros(1280, np.float32), 0.0)  # first call back-fills 8 s of features
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(0, len(x), 512):
        det.process(x[i:i + 512], i / SR)
    out["openwakeword"] = {"cpu_share": round((time.process_time() - c0) / seconds, 4),
                           "ms_per_80ms": round((time.perf_counter() - t0) / (seconds / 0.08) * 1000, 3)}
    ep = Endpointer(build_vad(VADConfig()), VADConfig())  # the phrase engine idles on VAD alone
    c0 = time.process_time()
    for i in range(0, len(x), 512):
        ep.process(AudioChunk(x[i:i + 512], SR))
    out["phrase_engine_vad_only"] = {"cpu_share": round((time.process_time() - c0) / seconds, 4)}
    return out


def run_hearing_benchmark(quick: bool = False, cfg=None) -> dict:
    """All hearing numbers as one dict (synchronous; safe to call from inside an event loop)."""
    return {
        "machine": {"cpus": os.cpu_count(), "loadavg": [round(v, 2) for v in os.getloadavg()],
                    "python": platform.python_version(), "platform": platform.platform()},
        "stt": bench_stt(repeats=1 if quick else 3, cfg=cfg),
        "stt_threads": bench_stt_threads(repeats=1 if quick else 3, cfg=cfg),
        "vad": bench_vad(n=200 if quick else 1000),
        "wake_idle": bench_wake_idle(seconds=5.0 if quick else 20.0),
    }


run = run_hearing_benchmark  # the name the benchmark suite (python -m benchmarks) looks for


def _plot(result: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = result["stt"]["utterances"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["audio_s"] for r in rows], [r["latency_ms"] for r in rows], "o-")
    ax.set_xlabel("utterance (s)")
    ax.set_ylabel("STT latency (ms)")
    ax.set_title(f"faster-whisper {result['stt']['model']}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    sys.path.insert(0, str(ROOT))  # when run as a script
    from benchmarks.component import component_main

    component_main("hearing", __doc__, run_hearing_benchmark, _plot)


if __name__ == "__main__":
    main()
