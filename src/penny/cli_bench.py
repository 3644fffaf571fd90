"""`penny bench`: the benchmarks in benchmarks/ (a source checkout), one flag per kind."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

log = logging.getLogger("penny")


def bench(
    quick: bool = typer.Option(False, "--quick", help="A handful of requests (about a minute)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default benchmarks/results)."),
    update_readme: bool = typer.Option(False, "--update-readme", help="Rewrite the README section of the run "
                                       "(Latency, Understanding or Intents)."),
    components: Optional[bool] = typer.Option(None, "--components/--no-components",
                                              help="Also run the component benchmarks (default: not with --quick)."),
    accuracy: bool = typer.Option(False, "--accuracy", help="Only the task-success benchmark (did Penny do it?)."),
    no_accuracy: bool = typer.Option(False, "--no-accuracy", help="The full run without the task-success part."),
    baseline: bool = typer.Option(False, "--baseline", help="With --accuracy: Penny without the understanding "
                                  "work (greedy Whisper, no vocabulary, no rescoring, no clarification)."),
    soak: bool = typer.Option(False, "--soak", help="Only the soak run: 500 chat turns over 5 sessions plus voice "
                              "turns, latency per 100 turns and memory (--quick: 60 turns)."),
    intents: bool = typer.Option(False, "--intents", help="Only the router comparison: the old regex router and "
                                 "the hassil router on one labelled sentence corpus (right, wrong, missed, ms)."),
    wyoming: bool = typer.Option(False, "--wyoming", help="Only Penny's Wyoming STT/TTS against Home Assistant's "
                                 "wyoming-faster-whisper and wyoming-piper (ratios)."),
    satellites: bool = typer.Option(False, "--satellites", help="Only the load test: 1, 2, 4, 8 rooms at once."),
    wake: bool = typer.Option(False, "--wake", help="Only wake quality: held-out detection, false accepts per hour, "
                              "latency and CPU for hey_penny, openWakeWord's stock models and the phrase engine."),
    mic: bool = typer.Option(False, "--mic", help="Only hearing through the microphone path: Whisper's word error "
                             "rate on the accuracy corpus, raw and through `penny listen`'s echo canceller "
                             "(--quick: 1 clip in 5)."),
    turns: bool = typer.Option(False, "--turns", help="Only turn-taking: cut-offs, voice-to-first-audio from the "
                               "true end of speech, barge-in and echo, for each end-of-turn rule (--quick: ~6 min)."),
) -> None:
    """Latency (streaming vs sequential) and task success on spoken requests; writes JSON + PNG."""
    root = Path(__file__).resolve().parents[2]  # benchmarks/ lives in the source checkout, not the package
    from penny.cli import fail, state

    if not (root / "benchmarks" / "__main__.py").is_file():
        fail("the benchmarks/ folder is not here: run `penny bench` from a source checkout of Penny.")
    sys.path.insert(0, str(root))
    from benchmarks import accuracy as accuracy_bench
    from benchmarks.__main__ import run as run_bench

    if mic:  # benchmarks/mic_hearing.py
        __import__("benchmarks.mic_hearing").mic_hearing.main(quick=quick, out=out)
        return
    if turns:  # benchmarks/turn_taking.py
        __import__("benchmarks.turn_taking").turn_taking.main(quick=quick, out=out, config=state.config_path)
        return
    if wake:  # benchmarks/wake_bench.py
        __import__("benchmarks.wake_bench").wake_bench.main(quick=quick, out=out)
        return
    if satellites:  # benchmarks/satellites_load.py
        return __import__("benchmarks.satellites_load").satellites_load.main(quick=quick, out=out, config=state.config_path)
    if wyoming:
        from benchmarks import wyoming_bench

        raise typer.Exit(wyoming_bench.main(quick=quick, out=out))
    if intents:
        from benchmarks import intents_bench

        intents_bench.main(out=out, update=update_readme)
        return
    if soak:
        from benchmarks import soak as soak_bench

        soak_bench.main(quick=quick, out=out, config=state.config_path)
        return
    if not accuracy:
        run_bench(quick=quick, out=out, config=state.config_path, components=components,
                  update_readme=update_readme, verbose=log.isEnabledFor(logging.DEBUG))
    if accuracy or not (quick or no_accuracy):  # the full benchmark includes task success
        accuracy_bench.main(quick=quick, out=out, config=state.config_path, update_readme=update_readme,
                            baseline=baseline)
