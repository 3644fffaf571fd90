"""`penny bench --wake`: wake quality the way the field measures it, for every engine in one run.

- detection rate on held-out wake utterances (voices and settings training never saw) per condition
  (clean, noise 15 dB and 5 dB SNR, reverb, far = quiet + reverberant + noise), and latency from the end of
  "penny" to the detection;
- false accepts per hour on an hour and more of non-addressed speech (synthesized, held-out sentences
  and voices) plus real recorded human speech; how often held-out near-misses fire;
- CPU: the engine's own share of one core, and the whole Penny process (a real VoiceSession in wake_word
  mode, real STT, a counting LLM) while speech plays at real-time pace, with its transcripts and LLM calls.
Engines: Penny's acoustic "hey_penny" (default config), openWakeWord's stock models (each on its own phrase,
FA/hour on the same speech; scored through one shared TFLite front end, as openWakeWord runs many models),
and the phrase engine (Whisper on each utterance; its FA/hour on a sample of the sentences, stated).
Writes benchmarks/results/<date>-wake.json (+ .png).
"""
from __future__ import annotations

import asyncio
import json
import time
from datetime import date
from pathlib import Path

import numpy as np

from benchmarks.wake_corpus import CACHE, STOCK_PHRASES, corpus  # noqa: F401  (CACHE: for the report)

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
FRAME = 512  # what a microphone delivers (32 ms)
REFRACTORY = 2 * SR


def stream(det, audio: np.ndarray) -> list[float]:
    """Detection times of a streaming acoustic detector over `audio` (fresh state)."""
    det.reset()
    hits = []
    for i in range(0, len(audio), FRAME):
        hit = det.process(audio[i:i + FRAME], i / SR)
        if hit is not None:
            hits.append(hit.t)
    return hits


class StockModels:
    """openWakeWord's stock models on one shared front end (pyopen-wakeword's TFLite features), with
    OpenWakeWordDetector's rule: score ≥ 0.5 at the end of an 80 ms chunk, then 2 s quiet."""

    def __init__(self, threshold: float = 0.5):
        from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

        from penny.adapters.wake.openwakeword import builtin_models
        from penny.models import openwakeword_models

        self.names = builtin_models()
        self.features = OpenWakeWordFeatures.from_builtin(models_dir=openwakeword_models())
        self.models = {n: OpenWakeWord.from_model(openwakeword_models() / f"{n}.tflite") for n in self.names}
        self.threshold = threshold

    def detections(self, audio: np.ndarray) -> dict[str, list[float]]:
        from penny.core.pcm import to_int16

        self.features.reset()
        for m in self.models.values():
            m.reset()
        pcm = to_int16(audio)
        hits: dict[str, list[float]] = {n: [] for n in self.names}
        quiet = {n: 0 for n in self.names}
        for i in range(0, len(pcm) - len(pcm) % 1280, 1280):
            end = i + 1280
            for emb in self.features.process_streaming(pcm[i:end].tobytes()):
                for name, model in self.models.items():
                    for prob in model.process_streaming(emb):
                        if prob >= self.threshold and end >= quiet[name]:
                            hits[name].append(end / SR)
                            quiet[name] = end + REFRACTORY
        return hits


def score_wake(clips, hits_per_clip) -> dict:
    """Detection rate per condition and latency from the end of the phrase to the first detection."""
    by_cond: dict[str, list[bool]] = {}
    latency = []
    for clip, hits in zip(clips, hits_per_clip):
        end = clip.end / SR
        good = [t for t in hits if end - 1.0 <= t <= end + 1.5]
        by_cond.setdefault(clip.meta["condition"], []).append(bool(good))
        if good:
            latency.append(good[0] - end)
    every = [x for v in by_cond.values() for x in v]
    return {"detected": round(float(np.mean(every)), 4) if every else None, "utterances": len(every),
            "by_condition": {c: round(float(np.mean(v)), 4) for c, v in by_cond.items()},
            "latency_ms_median": round(float(np.median(latency)) * 1000) if latency else None,
            "latency_ms_p90": round(float(np.percentile(latency, 90)) * 1000) if latency else None}


def fa_per_hour(counts: list[int], clips) -> dict:
    hours = sum(len(c.audio) for c in clips) / SR / 3600
    return {"false_accepts": int(sum(counts)), "hours": round(hours, 3),
            "per_hour": round(sum(counts) / hours, 2) if hours else None}


def acoustic(wake, sets) -> dict:
    t0 = time.process_time()
    out = {"wake": score_wake(sets["wake"], [stream(wake, c.audio) for c in sets["wake"]])}
    out["near_miss_fired"] = round(float(np.mean([bool(stream(wake, c.audio)) for c in sets["near"]])), 4)
    speech_s = sum(len(c.audio) for c in sets["speech"] + sets["real"]) / SR
    t1 = time.process_time()
    out["fa_synthetic"] = fa_per_hour([len(stream(wake, c.audio)) for c in sets["speech"]], sets["speech"])
    out["fa_real"] = fa_per_hour([len(stream(wake, c.audio)) for c in sets["real"]], sets["real"])
    out["fa_all"] = fa_per_hour([out["fa_synthetic"]["false_accepts"] + out["fa_real"]["false_accepts"]],
                                sets["speech"] + sets["real"])
    out["engine_cpu_share"] = round((time.process_time() - t1) / speech_s, 4)
    out["bench_cpu_s"] = round(time.process_time() - t0, 1)
    return out


def stock(sets) -> dict:
    models = StockModels()
    own = {n: [c for c in sets["stock"] if c.meta["model"] == n] for n in models.names}
    results = {n: {"phrase": STOCK_PHRASES.get(n)} for n in models.names}
    per_clip = [models.detections(c.audio) for c in sets["stock"]]
    for n in models.names:
        hits = [h[n] for h, c in zip(per_clip, sets["stock"]) if c.meta["model"] == n]
        results[n]["wake"] = score_wake(own[n], hits) if own[n] else None
    t0 = time.process_time()
    speech = sets["speech"] + sets["real"]
    counts = [models.detections(c.audio) for c in speech]
    share = (time.process_time() - t0) / (sum(len(c.audio) for c in speech) / SR)
    for n in models.names:
        results[n]["fa_all"] = fa_per_hour([len(d[n]) for d in counts], speech)
    return {"models": results, "shared_front_end_cpu_share": round(share, 4)}


async def phrase(sets, sample: int) -> dict:
    """The phrase engine hears words: each held-out clip (and each sampled sentence) is one utterance,
    transcribed with Whisper (primed with the phrase) and matched."""
    from penny.adapters.stt.factory import build_stt
    from penny.adapters.wake.phrase import PhraseWake
    from penny.config import PennyConfig
    from penny.core.events import AudioChunk

    cfg = PennyConfig()
    wake = PhraseWake(cfg.wake.phrases, stt=build_stt(cfg))
    wake.stt.warmup()
    hits, waits = [], []
    for clip in sets["wake"]:
        t0 = time.perf_counter()
        hit = await wake.detect(AudioChunk(clip.audio, SR))
        waits.append(time.perf_counter() - t0)
        hits.append([clip.end / SR] if hit is not None else [])
    out = {"wake": score_wake(sets["wake"], hits)}
    end_silence = cfg.vad.end_silence_ms / 1000
    out["wake"]["latency_ms_median"] = round((end_silence + float(np.median(waits))) * 1000)  # VAD end + Whisper
    out["wake"]["latency_ms_p90"] = round((end_silence + float(np.percentile(waits, 90))) * 1000)
    near = [await wake.detect(AudioChunk(c.audio, SR)) for c in sets["near"]]
    out["near_miss_fired"] = round(float(np.mean([h is not None for h in near])), 4)
    sentences = sentence_clips(sets["speech"], sample)
    fired = [await wake.detect(AudioChunk(c.audio, SR)) is not None for c in sentences]
    out["fa_all"] = fa_per_hour([sum(fired)], sentences)
    out["fa_all"]["note"] = f"a sample of {len(sentences)} utterances: Whisper on every one is slow"
    return out


def sentence_clips(streams, n: int):
    """Cut utterances out of the speech streams at their pauses (≥ 0.3 s of quiet)."""
    from benchmarks.wake_corpus import Clip

    out = []
    for s in streams:
        x = s.audio
        frames = np.sqrt(np.mean(x[:len(x) // 160 * 160].reshape(-1, 160) ** 2, axis=1))
        loud = frames > 10 ** (-45 / 20)
        start, quiet = None, 0
        for i, on in enumerate(loud):
            if on:
                start = i if start is None else start
                quiet = 0
            elif start is not None:
                quiet += 1
                if quiet >= 30:
                    out.append(Clip(x[start * 160:(i - quiet + 10) * 160], 0, {}))
                    start = None
    step = max(1, len(out) // n)
    return out[::step][:n]


def table(res: dict) -> str:
    """The README table (markdown)."""
    rows = ["| engine | detected (held-out) | clean / noise 15 dB / noise 5 dB / reverb / far | latency median (p90) "
            "| FA/hour (synthetic + real) | near-misses fired | engine CPU | Penny process CPU, transcripts, LLM calls |",
            "|---|---|---|---|---|---|---|---|"]

    def pct(x):
        return "–" if x is None else f"{x:.1%}"

    def lat(ms):
        return "–" if ms is None else f"{ms} ms"

    for name, r in res["engines"].items():
        w = r.get("wake") or {}
        conds = " / ".join(pct(w.get("by_condition", {}).get(c)) for c in
                           ("clean", "noise-15db", "noise-5db", "reverb", "far"))
        fa = r.get("fa_all") or {}
        proc = res["process"].get(name)
        proc_s = (f"{proc['cpu_share_of_one_core']:.1%}, {proc['transcripts']}, {proc['llm_calls']}" if proc else "–")
        cpu = r.get("engine_cpu_share")
        rows.append(f"| {name} | {pct(w.get('detected'))} of {w.get('utterances', 0)} | {conds} | "
                    f"{lat(w.get('latency_ms_median'))} ({lat(w.get('latency_ms_p90'))}) | "
                    f"{fa.get('per_hour', '–')} ({fa.get('false_accepts', '–')} in {fa.get('hours', '–')} h) | "
                    f"{pct(r.get('near_miss_fired'))} | {pct(cpu) if cpu is not None else '–'} | {proc_s} |")
    return "\n".join(rows)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = ["clean", "noise-15db", "noise-5db", "reverb", "far"]
    names = [n for n, r in res["engines"].items() if (r.get("wake") or {}).get("by_condition")]
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, n in enumerate(names):
        by = res["engines"][n]["wake"]["by_condition"]
        ax.bar(np.arange(len(conds)) + i * 0.8 / len(names), [by.get(c, 0) for c in conds], 0.8 / len(names), label=n)
    ax.set_xticks(np.arange(len(conds)) + 0.4 - 0.4 / len(names), conds)
    ax.set_ylabel("held-out utterances detected")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    ax.set_title("Wake word detection on held-out voices")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(quick: bool = False, out: Path | None = None, phrase_sample: int = 150) -> dict:
    from benchmarks.wake_session import run_all
    from penny.adapters.wake.factory import build_wake
    from penny.config import WakeConfig

    t0 = time.time()
    sets = {name: corpus(name, quick) for name in ("wake", "near", "stock", "speech", "real")}
    print(f"corpus ready in {time.time() - t0:.0f} s: {len(sets['wake'])} wake clips, "
          f"{sum(len(c.audio) for c in sets['speech']) / SR / 3600:.2f} h synthetic speech", flush=True)
    penny = build_wake(WakeConfig())
    res: dict = {"date": date.today().isoformat(), "quick": quick, "engines": {}, "process": {},
                 "model": {"name": penny.name, "threshold": penny.threshold, "card": getattr(penny, "card", {})}}
    res["engines"]["hey_penny (acoustic, default)"] = acoustic(penny, sets)
    print("hey_penny done", flush=True)
    st = stock(sets)
    for name, r in st["models"].items():
        res["engines"][f"openWakeWord {name}"] = {**r, "engine_cpu_share": st["shared_front_end_cpu_share"]}
    res["engines"]["openWakeWord hey_jarvis"]["engine_cpu_share_alone"] = acoustic_share(
        build_wake(WakeConfig(engine="openwakeword")), sets)
    print("stock models done", flush=True)
    res["engines"]["phrase 'hey penny' (Whisper)"] = asyncio.run(phrase(sets, 30 if quick else phrase_sample))
    print("phrase done", flush=True)
    talk = session_audio(sets, 20 if quick else 60)
    res["process"] = run_all(talk, {"hey_penny (acoustic, default)": {},
                                    "openWakeWord hey_jarvis": {"engine": "openwakeword"},
                                    "phrase 'hey penny' (Whisper)": {"engine": "phrase"}})
    res["table"] = table(res)
    folder = out or ROOT / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{res['date']}-wake{'-quick' if quick else ''}.json"
    path.write_text(json.dumps(res, indent=2) + "\n")
    try:
        plot(res, path.with_suffix(".png"))
    except Exception as exc:  # noqa: BLE001 - the JSON is the result; the picture is a convenience
        print(f"no plot: {exc}")
    print(res["table"])
    print(f"wrote {path} in {time.time() - t0:.0f} s")
    return res


def acoustic_share(wake, sets, seconds: float = 120.0) -> float:
    """One detector alone on the first `seconds` of speech: its share of one core."""
    x = sets["speech"][0].audio[:int(seconds * SR)]
    t0 = time.process_time()
    stream(wake, x)
    return round((time.process_time() - t0) / (len(x) / SR), 4)


def session_audio(sets, seconds: float) -> np.ndarray:
    """Half real recorded speech, half synthesized: what plays in the room while Penny waits."""
    half = int(seconds * SR / 2)
    return np.concatenate([sets["real"][0].audio[:half], sets["speech"][-1].audio[:half]]).astype(np.float32)


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
