"""Hearing through the microphone path (`penny bench --mic`): Whisper's word error rate on the accuracy corpus's
addressed clips, unprocessed and through what `penny listen` puts between the microphone and Whisper.

Three ways to the decoder, per condition (clean, reverberant room, 15 dB and 5 dB SNR), with Penny silent (no
echo: the user's own request, the common case):
- "raw": the clip as it is (the accuracy benchmark's path);
- "listen": `penny listen`'s EchoCanceller (AEC3; noise suppression only while Penny may be heard);
- "aec3+ns": AEC3 with WebRTC's noise suppression on every block (how `penny listen` ran before).
Each clip goes through the chain from its start (its noise lead-in lets the suppressor adapt); the short-window
decoder then hears the speech as the accuracy benchmark cuts it, with the benchmark world's vocabulary prompt.
"""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
BLOCK = 320  # 20 ms mic blocks, as MicSource delivers them
PATHS = ("raw", "listen", "aec3+ns")


def through_listen(x: np.ndarray) -> tuple[np.ndarray, int]:
    from penny.adapters.audio.echo import EchoCanceller

    c = EchoCanceller()
    out = np.concatenate([c.capture(x[i:i + BLOCK], i / SR) for i in range(0, len(x), BLOCK)])
    return out, c.delay_samples


def through_aec3_ns(x: np.ndarray) -> tuple[np.ndarray, int]:
    from pywebrtc_audio import AudioProcessor

    from penny.adapters.audio.echo import DELAY_AEC, DELAY_NS, FRAME, LEAD_MS

    ap = AudioProcessor(sample_rate=SR, echo_cancellation=True, noise_suppression=True, stream_delay_ms=LEAD_MS)
    far = np.zeros(FRAME, np.float32)
    n = len(x) // FRAME * FRAME
    out = np.concatenate([np.asarray(ap.process(x[i:i + FRAME], far), np.float32).reshape(-1)
                          for i in range(0, n, FRAME)])
    return out, DELAY_AEC + DELAY_NS


def _cut(y: np.ndarray, lag: int, lo: int, hi: int) -> np.ndarray:
    return np.asarray(y[lo + lag:hi + lag], np.float32)


async def measure(step: int = 1, progress=print) -> dict:
    import jiwer

    from benchmarks import accuracy_corpus as corpus
    from benchmarks.accuracy import request_words
    from benchmarks.accuracy_scoring import Bench
    from penny.core.contracts import AudioChunk

    clips = [c for c in corpus.build_clips(wake_phrase="Hey Penny") if c.ask.task != "ignore"][::step]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        bench = await Bench.start(None, Path(tmp))
        stt = bench.engines.stt
        try:
            for n, clip in enumerate(clips):
                await bench.reset(clip.ask)
                prompt = bench.engines.assistant.stt_prompt(bench.engines.cfg.stt.initial_prompt)
                x = np.asarray(clip.audio, np.float32)
                lo, hi = max(0, int((clip.speech_start_s - 0.2) * SR)), int((clip.speech_end_s + 0.3) * SR)
                heard = {"raw": (x, 0), "listen": through_listen(x), "aec3+ns": through_aec3_ns(x)}
                row = {"id": clip.ask.id, "voice": clip.voice, "condition": clip.condition,
                       "reference": corpus.reference_text(clip.ask)}
                for path, (y, lag) in heard.items():
                    row[path] = stt.transcribe_sync(AudioChunk(_cut(y, lag, lo, hi), SR), prompt).text
                rows.append(row)
                if n % 50 == 0:
                    progress(f"  {n + 1}/{len(clips)} {clip.condition:6} " + " | ".join(row[p] for p in PATHS))
        finally:
            await bench.close()
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["condition"]].append(r)
    by["all"] = rows
    wer = {cond: {"n": len(rs), **{p: round(jiwer.wer([request_words(r["reference"]) for r in rs],
                                                      [request_words(r[p]) for r in rs]), 4) for p in PATHS}}
           for cond, rs in by.items()}
    return {"wer": wer, "records": rows}


def main(quick: bool = False, out: Path | None = None) -> dict:
    from benchmarks.__main__ import machine_info

    t0 = time.time()
    res = {"date": date.today().isoformat(), "quick": quick, "machine": machine_info(),
           **asyncio.run(measure(step=5 if quick else 1))}
    res["duration_s"] = round(time.time() - t0)
    print("pooled word error rate, short-window decoder (Penny silent):")
    print(f"  {'condition':10} {'n':>4} " + " ".join(f"{p:>8}" for p in PATHS))
    for cond, w in res["wer"].items():
        print(f"  {cond:10} {w['n']:>4} " + " ".join(f"{w[p]:>8.3f}" for p in PATHS))
    folder = out or ROOT / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{res['date']}-vm-mic-hearing{'-quick' if quick else ''}.json"
    path.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {path}")
    return res
