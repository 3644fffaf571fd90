"""build_turn_end(cfg): the learned end-of-turn model (Smart Turn v3.2) when vad.end_of_turn is "model".

A missing or broken model is not fatal: the factory logs how to fix it and returns None, and the turn falls
back to the text rule; `penny doctor` shows the same as a WARN row.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from penny.core.contracts import TurnEndModel

log = logging.getLogger(__name__)


def _section(cfg):
    return getattr(cfg, "vad", cfg)  # a PennyConfig or its VADConfig


def model_path() -> Path:
    from penny.adapters.turn.provision import default_path

    return default_path()


def load(path: Path | None = None) -> TurnEndModel:
    """The model at `path` (default: the provisioned one); ModelNotFound says how to get it."""
    from penny.adapters.turn.provision import FIX
    from penny.adapters.turn.smart_turn import SmartTurn
    from penny.errors import ModelNotFound

    path = path or model_path()
    if not path.is_file():
        raise ModelNotFound(f"Smart Turn model missing: {path}.", hint=FIX)
    try:
        model = SmartTurn(path)
        model.warmup()
        return model
    except Exception as exc:  # onnxruntime raises its own types for a corrupt file
        raise ModelNotFound(f"Smart Turn model at {path} did not load ({type(exc).__name__}: {exc}).",
                            hint=FIX) from None


def build_turn_end(cfg, path: Path | None = None) -> TurnEndModel | None:
    if _section(cfg).end_of_turn != "model":
        return None
    from penny.errors import ModelNotFound

    try:
        return load(path)
    except ModelNotFound as exc:
        log.warning("%s Ending turns by the text rule instead. %s", exc.message, exc.hint)
        return None


def doctor_checks(cfg, loaded: TurnEndModel | None = None) -> list:
    """`loaded`: the model a running server already has (its health rows must not load a second copy)."""
    import time

    import numpy as np

    from penny.core.pcm import RATE
    from penny.errors import ModelNotFound
    from penny.health import OK, WARN, Check

    vcfg = _section(cfg)
    if vcfg.end_of_turn == "silence":
        return [Check("turn", OK, f"rule silence: a turn ends after {vcfg.end_silence_ms} ms of silence",
                      required=False)]
    if vcfg.end_of_turn == "text":
        return [Check("turn", OK, f"rule text: a pause of {vcfg.fast_end_silence_ms} ms ends the turn when "
                                      f"the words read as finished, else {vcfg.end_silence_ms} ms", required=False)]
    try:
        model = loaded or load()
    except ModelNotFound as exc:
        return [Check("turn", WARN, f"rule model: {exc.message} Falling back to the text rule.",
                      fix=exc.hint or "", required=False)]
    speech = np.random.default_rng(0).normal(0, 0.05, 2 * RATE).astype(np.float32)
    times = []
    for _ in range(3):  # the median of three: one run on a busy machine can be twice as slow
        t0 = time.perf_counter()
        model.probability_done(speech)
        times.append((time.perf_counter() - t0) * 1000)
    ms = sorted(times)[1]
    where = getattr(model, "path", None)
    return [Check("turn", OK, f"rule model: {model.name}{f' ({where})' if where else ''}, {ms:.0f} ms per "
                                  f"decision (measured), done at p ≥ {vcfg.turn_model_threshold}: the turn ends after "
                                  f"{vcfg.model_end_silence_ms} ms (in a voice it calls unfinished: "
                                  f"{vcfg.whole_end_silence_ms} ms for a whole request, {vcfg.fast_end_silence_ms} "
                                  f"ms for other finished words), a pause may last up to {vcfg.max_pause_ms} ms",
                 required=False)]
