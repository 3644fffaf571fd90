"""Load test: N simulated Wyoming satellites (rooms) speaking at once to one Penny on this machine.

`penny bench --satellites [--quick]` or `python -m benchmarks.satellites_load [--sizes 1,2,4,8]`. For each N,
N satellites (penny/wyoming/simulated.py, on wyoming's own server) each say `rounds` requests at the same
moment, Piper speech streamed at real-time pace, wake word on the satellite (the common Home Assistant set-up).
Voice-to-first-audio is measured on the satellite's side: from the true end of speech in its clip (the last
frame above -40 dBFS leaving the microphone) to the first reply audio-chunk it receives. Half the requests
are skills (no LLM), half go to the LLM (the embedded model, answers capped at `max_tokens`).

The verdict: the smallest N whose p90 is over `SLOW_P90_S` while the LLM's queue is the largest wait of
the three engines: there Penny should tell the user to move the LLM to its own server (any Ollama, vLLM or
llama.cpp server on another machine; the fallback chain already takes one). Results:
benchmarks/results/<date>-satellites.json.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from pathlib import Path

from benchmarks.report import percentile

log = logging.getLogger("benchmarks.satellites")
RESULTS = Path(__file__).resolve().parent / "results"
SLOW_P90_S = 2.5  # beyond this a room's answer feels slow (the single-room p90 is well under it)
REQUESTS = (  # (words, needs the LLM)
    ("What time is it?", False),
    ("What is the capital of France?", True),
    ("Set a timer for ten minutes.", False),
    ("How many legs does a spider have?", True),
    ("What day is it today?", False),
    ("What do bees make?", True),
    ("What is on my calendar today?", False),
    ("What is the largest planet in our solar system?", True),
)


def bench_config(cfg, tmp: Path, max_tokens: int):
    from benchmarks.e2e import isolated_config
    from penny.config import LLMConfig

    cfg = isolated_config(cfg, tmp)
    embedded = cfg.llm.embedded.model_copy(update={"max_tokens": max_tokens})
    cfg.llm = LLMConfig(provider="embedded", mode="local_only", embedded=embedded)
    cfg.assistant.filler_after_ms = 0  # measure the answer's own first audio, not "One moment."
    return cfg


async def one_size(engines, clips: dict, n: int, rounds: int) -> dict:
    """N rooms, each saying `rounds` requests; every round starts in all rooms at once."""
    from penny.config import SatelliteConfig
    from penny.wyoming.satellites import Satellites
    from penny.wyoming.simulated import SimSatellite

    sims = [await SimSatellite(f"room{i + 1}").start() for i in range(n)]
    sats = Satellites(engines, [SatelliteConfig(uri=s.uri, name=s.name) for s in sims]).start()
    before = engines.gate_stats()
    samples: list[dict] = []
    try:
        await _wait(lambda: all(s.ready.is_set() for s in sims), 30)
        for r in range(rounds):
            picks = [REQUESTS[(i + r * n) % len(REQUESTS)] for i in range(n)]
            marks = [len(s.streams) for s in sims]
            said = await asyncio.gather(*(s.say(clips[text]) for s, (text, _) in zip(sims, picks)))
            await _wait(lambda: all(len(s.streams) > m and s.streams[m].stopped for s, m in zip(sims, marks)), 120)
            for s, (text, llm), clip in zip(sims, picks, said):
                first = s.first_audio_after(clip["speech_end"])
                samples.append({"n": n, "round": r, "room": s.name, "request": text, "llm": llm,
                                "heard": s.transcripts[-1] if s.transcripts else None,
                                "first_audio_s": round(first - clip["speech_end"], 3) if first else None})
            await asyncio.sleep(1.0)  # the last reply's `played`
    finally:
        await sats.stop()
        for s in sims:
            await s.stop()
    after = engines.gate_stats()
    waits = {k: round(after[k]["wait_s"] - before.get(k, {}).get("wait_s", 0.0), 3) for k in after}
    lat = [x["first_audio_s"] for x in samples if x["first_audio_s"] is not None]
    return {"n": n, "requests": len(samples), "answered": len(lat),
            "p50_s": round(percentile(lat, 50), 3) if lat else None,
            "p90_s": round(percentile(lat, 90), 3) if lat else None,
            "llm_p50_s": _p([x for x in samples if x["llm"]], 50),
            "skill_p50_s": _p([x for x in samples if not x["llm"]], 50),
            "queue_wait_s": waits, "samples": samples}


def _p(xs: list[dict], q: float):
    v = [x["first_audio_s"] for x in xs if x["first_audio_s"] is not None]
    return round(percentile(v, q), 3) if v else None


async def _wait(cond, limit_s: float) -> None:
    end = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("satellites did not answer in time")
        await asyncio.sleep(0.05)


def verdict(rows: list[dict]) -> dict:
    for row in rows:
        waits = row["queue_wait_s"]
        llm_bound = waits.get("llm", 0.0) >= max(waits.get("stt", 0.0), waits.get("tts", 0.0))
        if row["p90_s"] is not None and row["p90_s"] > SLOW_P90_S and llm_bound:
            return {"move_llm_at_n": row["n"],
                    "advice": f"With {row['n']} rooms talking at once the slowest answers start after "
                              f"{row['p90_s']:.1f} s, most of it waiting for the LLM: run the LLM on its own "
                              "server (Ollama, vLLM or llama.cpp on another machine) and add it to llm.fallbacks "
                              "or set llm.provider to it."}
    return {"move_llm_at_n": None, "advice": f"Up to {rows[-1]['n']} rooms at once the p90 stays within "
                                            f"{SLOW_P90_S:g} s (or the LLM is not the bottleneck)."}


async def measure(cfg, sizes, rounds: int, max_tokens: int) -> dict:
    import tempfile

    from penny.app.engines import Engines
    from penny.testing import piper_16k

    with tempfile.TemporaryDirectory(prefix="penny-satellites-") as tmp:
        cfg = bench_config(cfg, Path(tmp), max_tokens)
        clips = {text: 0.7 * piper_16k(text) for text, _ in REQUESTS}
        engines = await Engines.load(cfg, data_dir=Path(tmp) / "data")
        try:
            rows = []
            for n in sizes:
                rows.append(await one_size(engines, clips, n, rounds))
                r = rows[-1]
                print(f"N={n}: p50 {r['p50_s']} s, p90 {r['p90_s']} s ({r['answered']}/{r['requests']} answered), "
                      f"queue wait {r['queue_wait_s']}", flush=True)
            return {"rows": rows, "llm": getattr(engines.llm, "name", None)}
        finally:
            await engines.aclose()


def main(*, quick: bool = False, out: Path | None = None, config: str | None = None, sizes=(1, 2, 4, 8),
         rounds: int | None = None, max_tokens: int = 32) -> Path:
    from benchmarks.__main__ import machine_info
    from benchmarks.report import write_json
    from penny.config import PennyConfig, load_config

    logging.getLogger("penny").setLevel(logging.WARNING)
    rounds = rounds or (1 if quick else 2)
    cfg = load_config(config) if config else PennyConfig()
    machine = machine_info()
    t0 = time.perf_counter()
    data = asyncio.run(measure(cfg, list(sizes), rounds, max_tokens))
    machine["load_after"] = os.getloadavg()
    rows = data["rows"]
    payload = {"schema": 1, "kind": "satellites", "machine": machine, "duration_s": round(time.perf_counter() - t0, 1),
               "rounds": rounds, "max_tokens": max_tokens, "slow_p90_s": SLOW_P90_S, "verdict": verdict(rows),
               "table": [{k: v for k, v in r.items() if k != "samples"} for r in rows],
               "samples": [s for r in rows for s in r["samples"]],
               "notes": ["voice-to-first-audio: from the true end of speech in each clip (satellite side) to the "
                         "first reply audio-chunk the satellite receives",
                         "wake word on the satellite; half the requests are skills, half go to the embedded LLM",
                         "queue_wait_s: total seconds calls waited for each engine's fair gate at this N"]}
    json_path = Path(out or RESULTS) / f"{time.strftime('%Y-%m-%d')}-satellites{'-quick' if quick else ''}.json"
    write_json(json_path, payload)
    print(f"{'N':>3} {'p50 s':>7} {'p90 s':>7} {'skill p50':>10} {'LLM p50':>8}  queue wait s (stt/llm/tts)")
    for r in payload["table"]:
        w = r["queue_wait_s"]
        print(f"{r['n']:>3} {r['p50_s'] or 0:7.2f} {r['p90_s'] or 0:7.2f} {r['skill_p50_s'] or 0:10.2f} "
              f"{r['llm_p50_s'] or 0:8.2f}  {w.get('stt', 0):.1f}/{w.get('llm', 0):.1f}/{w.get('tts', 0):.1f}")
    print(payload["verdict"]["advice"])
    print(f"wrote {json_path}")
    return json_path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--config")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    main(quick=a.quick, out=a.out, config=a.config, sizes=[int(x) for x in a.sizes.split(",")], rounds=a.rounds,
         max_tokens=a.max_tokens)
