"""`python -m benchmarks [--quick] [--out DIR] [--config FILE]`: Penny's latency benchmark (also `penny bench`)."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
COMPONENT_MODULES = ("hearing", "speaking", "llm")  # benchmarks/<name>.py, written with each component
log = logging.getLogger("benchmarks")


def machine_info() -> dict:
    import psutil

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    versions = {}
    for pkg in ("llama_cpp_python", "faster_whisper", "piper_tts", "onnxruntime", "ctranslate2", "numpy"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg.replace("_", "-"))
        except Exception:
            versions[pkg] = None
    return {
        "host": socket.gethostname(),
        "date": datetime.now().strftime("%Y-%m-%d"),
        "started": datetime.now().isoformat(timespec="seconds"),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores_logical": psutil.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": len(psutil.Process().cpu_affinity()) if hasattr(psutil.Process(), "cpu_affinity") else None,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_before": _load(),
        "git": f"{commit}{'+dirty' if dirty else ''}" if commit else None,
        "versions": versions,
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _describe_models(cfg) -> str:
    llm = cfg.llm.provider + (f" {cfg.llm.model}" if cfg.llm.model else
                              " (SmolLM2-135M)" if cfg.llm.provider == "embedded" else "")
    return (f"LLM {llm}, STT faster-whisper {cfg.stt.model} ({cfg.stt.compute_type}), "
            f"TTS {cfg.tts.provider} {cfg.tts.voice or 'en_US-joe-medium'}, VAD {cfg.vad.provider} "
            f"(end of turn after {cfg.vad.end_silence_ms} ms of silence"
            + (f", {cfg.vad.fast_end_silence_ms} ms when the words read as a finished request"
               if getattr(cfg.vad, "fast_end_silence_ms", 0) else "") + ")")


# ---------------------------------------------------------------- component benchmarks


def _entry(module) -> tuple[str, object] | None:
    """The function a component benchmark exposes (it returns a dict)."""
    short = module.__name__.rsplit(".", 1)[-1]
    for name in ("run", "bench", "benchmark", "measure", f"bench_{short}", f"run_{short}", f"{short}_benchmark",
                 f"measure_{short}"):
        fn = getattr(module, name, None)
        if callable(fn):
            return name, fn
    return None


async def run_component(short: str, *, quick: bool, cfg) -> dict:
    """Import benchmarks.<short> and call its entry point; a missing or failing one is reported so."""
    t0 = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.{short}")
    except ImportError as exc:
        return {"status": "missing", "error": f"benchmarks/{short}.py not importable: {exc}"}
    found = _entry(module)
    if found is None:
        return {"status": "missing", "error": f"benchmarks/{short}.py exposes no run()/bench() function"}
    name, fn = found
    params = inspect.signature(fn).parameters
    kwargs = {}
    if "quick" in params:
        kwargs["quick"] = quick
    for key in ("cfg", "config"):
        if key in params:
            kwargs[key] = cfg
    try:
        result = fn(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        elif inspect.iscoroutinefunction(fn):
            result = await result
    except Exception as exc:
        log.exception("component benchmark %s failed", short)
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "seconds": round(time.perf_counter() - t0, 1)}
    return {"status": "ok", "function": f"benchmarks.{short}.{name}", "seconds": round(time.perf_counter() - t0, 1),
            "result": result}


def pipeline_components(records: list[dict]) -> dict:
    """Figures the end-to-end turns give for free: in-pipeline STT speed and LLM time to first token."""
    from benchmarks.report import stats

    measured = [r for r in records if not r.get("warmup") and r["path"] != "failed"]
    stt = [r for r in measured if r.get("stt_processing_s") is not None and r.get("stt_audio_s")]
    llm = [r for r in measured if r["path"] == "llm"]
    ttft = [r["ms"]["first_token"] - r["ms"]["transcript"] for r in llm
            if "first_token" in r["ms"] and "transcript" in r["ms"]]
    tts_first = [r["ms"]["first_audio"] - r["ms"]["first_chunk"] for r in measured
                 if r["mode"] == "streaming" and "first_audio" in r["ms"] and "first_chunk" in r["ms"]]
    hits = {k: sum((r.get("tts_cache") or {}).get(k, 0) for r in measured) for k in ("memory_hits", "disk_hits",
                                                                                      "misses")}
    return {
        "tts_cache_in_run": hits,  # reset to the pre-warmed phrases before each turn: hits are the filler
        "stt_processing_ms": stats(r["stt_processing_s"] * 1000 for r in stt),
        "stt_rtf": stats((r["stt_processing_s"] / r["stt_audio_s"] for r in stt), digits=3),
        "llm_ttft_ms": stats(ttft),  # transcript → first token, LLM turns, both modes
        "tts_first_audio_ms": stats(tts_first),  # first speakable chunk → first audio, streaming turns
    }


# ---------------------------------------------------------------- the run


async def measure(cfg, *, quick: bool, components: bool, console, websocket: bool = True) -> dict:
    from benchmarks import corpus, e2e, ws_path
    from penny.app.engines import Engines

    t_all = time.perf_counter()
    requests = corpus.select(quick)
    t0 = time.perf_counter()
    clips = corpus.load(requests)
    console.print(f"corpus: {len(clips)} requests ready in {time.perf_counter() - t0:.1f}s "
                  f"(cache {corpus.CACHE_DIR.relative_to(ROOT)})")
    with tempfile.TemporaryDirectory(prefix="penny-bench-") as tmp:
        cfg = e2e.isolated_config(cfg, Path(tmp))
        console.print("loading engines (LLM server, Whisper, Piper)…")
        engines = await Engines.load(cfg, data_dir=Path(tmp) / "data")
        startup_s = engines.startup_s
        rss_start = e2e.process_rss_mb()
        console.print(f"engines ready in {startup_s:.1f}s, resident memory {rss_start['total_mb']:.0f} MB")
        records: list[dict] = []
        cache = e2e.TTSCacheReset(engines.tts, Path(tmp).resolve())
        if not cache.supported:
            console.print("[yellow]note: the TTS cache cannot be reset between turns: a reply spoken twice "
                          "is a cache hit the second time[/yellow]")
        try:
            cold_llm = await e2e.first_llm_request(engines)
            console.print(f"first LLM request after start-up (not counted): first token "
                          f"{cold_llm.get('ttft_ms', 'failed')} ms")
            warm = await e2e.run_clip(engines, clips[0], "streaming", warmup=True, cache=cache)
            records.append(warm.to_dict())
            rss_first = e2e.process_rss_mb()  # the VAD loads with the first session
            console.print(f"warm-up turn (not counted): voice→first audio "
                          f"{warm.ms.get('first_audio', 'missing')} ms")
            try:
                idle = await e2e.idle_listening_cpu(engines, 4.0 if quick else 15.0)
                console.print(f"idle wake-word listening: {idle['share_of_one_core'] * 100:.1f}% of one core")
            except Exception as exc:
                log.exception("idle listening measurement failed")
                idle = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}

            def show(rec):
                fa = rec.ms.get("first_audio")
                console.print(f"  {rec.request_id:8} {rec.mode:10} {rec.path:6} "
                              f"voice→first audio {fa if fa is not None else 'missing':>7} ms  "
                              f"heard {rec.transcript!r:45.45} {('ERROR ' + rec.error) if rec.error else ''}")

            measured = await e2e.run_corpus(engines, clips, on_turn=show, cache=cache)
            records += [r.to_dict() for r in measured]
            rss_end = e2e.process_rss_mb()
        finally:
            await engines.aclose()
        comps: dict = {
            "startup_s": round(startup_s, 2),
            "resident_memory_after_startup": rss_start,
            "resident_memory_after_first_turn": rss_first,
            "llm_first_request_after_startup": cold_llm,
            "resident_memory_after_run": rss_end,
            "idle_wake_listening_cpu": idle,
            "pipeline": pipeline_components(records),
        }
        # The browser path: the same clips through a running `penny serve`'s WebSocket, now that the in-process
        # engines are closed (they would compete for the CPU).
        ws: dict | None = None
        if websocket:
            def show_ws(rec):
                console.print(f"  {rec.request_id:8} websocket  {rec.path:6} voice→first audio "
                              f"{rec.first_audio_ms if rec.first_audio_ms is not None else 'missing':>7} ms from the "
                              f"true end (server {rec.server_first_audio_ms} ms)"
                              f"{('  ERROR ' + rec.error) if rec.error else ''}")

            # Warm up on a request outside the measured ones where there is one: the server's TTS cache keeps
            # the warm-up's reply (the in-process run resets its cache before every turn).
            spare = [r for r in corpus.CORPUS if r.kind == "local" and r not in requests]
            ws = await ws_path.run_pass(e2e.isolated_config(cfg, Path(tmp) / "ws"), clips, Path(tmp) / "ws",
                                        on_turn=show_ws, console=console,
                                        warmup_clip=corpus.load_clip(spare[-1]) if spare else None)
        # After the engines are closed (they would compete for the CPU), still on the temporary config.
        for short in COMPONENT_MODULES:
            if not components:
                comps[short] = {"status": "skipped", "error": "not run (--quick; add --components to run it)"}
                continue
            console.print(f"component benchmark: {short}…")
            comps[short] = await run_component(short, quick=quick, cfg=cfg)
    return {"records": records, "components": comps, "websocket": ws, "corpus": [
        {**c.request.__dict__, "speech_s": round(c.speech_s, 3), "clip_s": round(c.duration_s, 3),
         "lead_s": corpus.LEAD_S, "trail_s": corpus.TRAIL_S} for c in clips],
        "duration_s": round(time.perf_counter() - t_all, 1)}


def run(*, quick: bool = False, out: Path | None = None, config: str | None = None, components: bool | None = None,
        update_readme: bool = False, verbose: bool = False, websocket: bool = True) -> Path:
    """Run the benchmark, print the tables, write JSON + PNG; returns the JSON path."""
    from rich.console import Console

    from benchmarks import report
    from penny.config import PennyConfig, load_config

    console = Console(width=None if sys.stdout.isatty() else 120)
    if components is None:
        components = not quick  # --quick stays about a minute: only the figures the run itself gives
    if not verbose:
        logging.getLogger("penny").setLevel(logging.WARNING)
    cfg = load_config(config) if config else PennyConfig()
    machine = machine_info()
    machine["models"] = _describe_models(cfg)
    machine["config_source"] = cfg.source if config else "built-in defaults (PennyConfig())"
    if float(machine["load_before"].split()[0] if machine["load_before"] != "?" else 0) > 1.0:
        console.print(f"[yellow]note: load average is {machine['load_before']}: other work shares the CPU, "
                      "so these numbers are noisy.[/yellow]")
    data = asyncio.run(measure(cfg, quick=quick, components=components, console=console, websocket=websocket))
    machine["load_after"] = _load()
    summary = report.summarize(data["records"])
    out_dir = Path(out) if out else RESULTS
    json_path = out_dir / f"{report.result_stem(machine, quick)}.json"
    payload = {"schema": 1, "quick": quick, "machine": machine, "duration_s": data["duration_s"],
               "summary": summary, "components": data["components"], "corpus": data["corpus"],
               "turns": data["records"],
               "websocket": _websocket_section(data.get("websocket"), data["records"]),
               "notes": ["ms values are from the pipeline's end of speech (the endpointer's estimate) unless "
                         "named otherwise; vad_end_offset_ms = endpointer end of speech - true end of speech",
                         "played_end is computed with a simulated speaker that plays each chunk as it arrives",
                         "p90 uses linear interpolation between ranks; with few turns it is close to max",
                         "a stage that did not happen is missing (None), never 0",
                         "turns are grouped by what answered (trace.intent set: a local skill; else the LLM)",
                         "two passes over the corpus, modes alternating and swapped in the second pass, so the two "
                         "runs of a request are a pass apart",
                         "the TTS cache is reset to its start-up state (pre-warmed phrases) before every turn",
                         "not counted: the first LLM request after start-up and one warm-up voice turn (both in the "
                         "JSON: components.llm_first_request_after_startup and the turn with warmup=true)",
                         "the LLM samples (temperature from the config), so the two modes' answers to a request "
                         "can differ in length; sequential waits for the whole answer"]}
    report.write_json(json_path, payload)
    present(payload, json_path, console, update_readme)
    return json_path


def _websocket_section(ws: dict | None, records: list[dict]) -> dict | None:
    """The WebSocket pass in the results JSON: its server, the comparison with in-process, its turns."""
    from benchmarks import ws_path

    if ws is None:
        return None
    return {"server": ws["server"], "summary": ws_path.summarize(ws["records"], records), "turns": ws["records"],
            "notes": ["voice→first audio from the true end of speech, both paths: in-process = ms.first_audio + "
                      "vad_end_offset_ms of the streaming turns; websocket = arrival at the client of the reply's "
                      "first audio frame - the wall time of the clip's last speech sample",
                      "microphone audio sent as the page sends it: 16 kHz int16, 20 ms frames, real-time pace",
                      "inbound/outbound: the server's stage times (perf_counter, one clock on this machine) "
                      "against the client's",
                      "compared: requests answered by the same path both ways; websocket turns whose reply was "
                      "spoken earlier in the pass (a possible TTS cache hit) are left out"]}


def present(payload: dict, json_path: Path, console, update_readme: bool = False) -> None:
    """Tables on the terminal, the PNG beside the JSON, and optionally README.md's Latency section."""
    from benchmarks import report

    machine, quick, data = payload["machine"], payload["quick"], payload
    summary = report.summarize(payload["turns"])
    png_path = json_path.with_suffix(".png")
    report.write_chart(png_path, summary, f"Penny on {machine['host']} ({machine['cpu']}, "
                                          f"{machine['cores_logical']} cores){' — quick' if quick else ''}")
    for t in report.rich_tables(summary):
        console.print(t)
    console.print(report.components_table(data["components"]))
    for line in report.websocket_lines(data.get("websocket")):
        console.print(line)
    overall = summary["ratios"]["all"]["first_audio"]
    if overall["n"]:
        console.print(f"[bold]streaming/sequential voice→first audio over all {overall['n']} pairs: median "
                      f"{overall['median']:.2f}× (ratio of medians {overall['ratio_of_medians']:.2f}×)[/bold]")
    if summary["split"]:
        console.print(f"[yellow]the endpointer split these requests into several turns: {summary['split']}[/yellow]")
    if summary["misrouted"]:
        lines = [f"{m['request_id']} ({m['mode']}): heard {m['transcript']!r}, answered by {m['answered_by']}"
                 for m in summary["misrouted"]]
        console.print("[yellow]answered by another path than intended (their turns count under what answered):\n  "
                      + "\n  ".join(lines) + "[/yellow]")
    for mode, failed in summary["failed"].items():
        if failed:
            console.print(f"[red]{mode}: {len(failed)} turn(s) failed: {', '.join(failed)}[/red]")
    console.print(f"took {data['duration_s']:.0f}s; load average before {machine['load_before']}, "
                  f"after {machine['load_after']}")
    console.print(f"wrote {json_path} and {png_path}")
    if update_readme:
        rel = lambda p: os.path.relpath(p, ROOT)  # noqa: E731
        report.update_readme(ROOT / "README.md", report.readme_section(summary, machine, rel(png_path),
                                                                       rel(json_path), quick, data["corpus"],
                                                                       data["components"], data.get("duration_s"),
                                                                       data.get("websocket")))
        console.print("updated the Latency section of README.md")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a handful of requests (about a minute)")
    p.add_argument("--out", type=Path, default=None, help=f"results folder (default {RESULTS})")
    p.add_argument("--config", default=None, help="penny_config.json to use (default: built-in defaults)")
    p.add_argument("--components", action=argparse.BooleanOptionalAction, default=None,
                   help="run benchmarks/{hearing,speaking,llm}.py too (default: yes, except with --quick)")
    p.add_argument("--websocket", action=argparse.BooleanOptionalAction, default=True,
                   help="also feed the corpus through a running `penny serve`'s WebSocket (the browser path)")
    p.add_argument("--update-readme", action="store_true", help="rewrite README.md's Latency section")
    p.add_argument("--render", type=Path, default=None, metavar="JSON",
                   help="measure nothing: re-print the tables and redraw the chart of an earlier results JSON")
    p.add_argument("--accuracy", action="store_true", help="only the task-success benchmark (benchmarks/accuracy.py)")
    p.add_argument("--no-accuracy", action="store_true", help="the full run without the task-success benchmark")
    p.add_argument("--baseline", action="store_true", help="with --accuracy: greedy Whisper, no vocabulary, no "
                   "rescoring, no clarification (Penny before the understanding work)")
    p.add_argument("--intents", action="store_true", help="only the router comparison: old regex router vs hassil "
                   "router on one labelled corpus (benchmarks/intents_bench.py)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if a.render is not None:
        import json

        from rich.console import Console

        present(json.loads(a.render.read_text()), a.render.resolve(), Console(width=None if sys.stdout.isatty()
                                                                                   else 120), a.update_readme)
        return 0
    if a.intents:
        from benchmarks import intents_bench

        intents_bench.main(out=a.out, update=a.update_readme)
        return 0
    from benchmarks import accuracy

    if not a.accuracy:
        run(quick=a.quick, out=a.out, config=a.config, components=a.components,
            update_readme=a.update_readme, verbose=a.verbose, websocket=a.websocket)
    if a.accuracy or not (a.quick or a.no_accuracy):  # the full benchmark includes task success
        accuracy.main(quick=a.quick, out=a.out, config=a.config, update_readme=a.update_readme, baseline=a.baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
