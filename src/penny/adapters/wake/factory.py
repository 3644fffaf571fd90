"""build_wake(cfg, stt): the wake engine named by cfg.wake.engine.

"openwakeword": an OpenWakeWordDetector streaming on raw audio (process(frame, t)).
"phrase": a PhraseWake matching transcripts of VAD utterances (match(text)); it keeps `stt`
for its `detect(audio)` convenience.
"""
from __future__ import annotations

from penny.adapters.names import Names
from penny.errors import ConfigError

NAMES = Names("wake.engine", {"openwakeword": "openwakeword", "oww": "openwakeword",
                              "open_wake_word": "openwakeword", "phrase": "phrase", "stt": "phrase",
                              "transcript": "phrase"})
engine_name = NAMES.canonical


def _section(cfg):
    return getattr(cfg, "wake", cfg)


def build_wake(cfg, stt=None):
    wcfg = _section(cfg)
    if engine_name(wcfg.engine) == "openwakeword":
        from penny.adapters.wake.openwakeword import OpenWakeWordDetector

        return OpenWakeWordDetector(wcfg.model, threshold=wcfg.threshold)
    from penny.adapters.wake.phrase import PhraseWake

    try:
        return PhraseWake(wcfg.phrases, stt=stt)
    except ValueError as exc:
        raise ConfigError(f"wake.phrases: {exc}.") from None


def doctor_checks(cfg) -> list:
    import numpy as np

    from penny.health import FAIL, OK, WARN, Check
    from penny.errors import PennyError

    wcfg = _section(cfg)
    if wcfg.mode != "wake_word":
        return [Check("wake", OK, f"mode {wcfg.mode}: no wake word needed", required=False)]
    try:
        wake = build_wake(cfg)
        if hasattr(wake, "process"):
            share = _cpu_share(wake, np)
            return [Check("wake", OK, f"openWakeWord '{wake.name}' loaded (threshold {wcfg.threshold}); "
                                      f"{share:.0%} of one core while listening (measured on 2 s of noise)")]
        heard = wake.match(f"{wcfg.phrases[0]}, what time is it?")
        if heard is None or heard.command != "what time is it":
            return [Check("wake", WARN, f"phrase {wcfg.phrases[0]!r} does not match itself", required=False,
                          fix="Use a short phrase: a greeting and a name, e.g. 'hey penny'.")]
        return [Check("wake", OK, f"phrase detector: {', '.join(wcfg.phrases)} (needs stt: every utterance is "
                                  "transcribed, so its CPU share grows with the speech in the room)")]
    except PennyError as exc:
        return [Check("wake", FAIL, exc.message, fix=exc.hint or "")]
    except Exception as exc:
        return [Check("wake", FAIL, f"{type(exc).__name__}: {exc}", fix=".venv/bin/pip install pyopen-wakeword")]


def _cpu_share(wake, np, seconds: float = 2.0, frame: int = 1280) -> float:
    """CPU time the engine spends per second of audio: its share of one core while Penny waits for it."""
    import time

    from penny.core.pcm import RATE  # here, not at the top: config checks import this module

    noise = np.random.default_rng(0).normal(0, 0.01, int(seconds * RATE)).astype(np.float32)
    wake.process(noise[:frame], 0.0)  # the first frame loads the models: not part of the steady cost
    t0 = time.process_time()
    for start in range(frame, len(noise) - frame + 1, frame):
        wake.process(noise[start:start + frame], start / RATE)
    return (time.process_time() - t0) / (seconds - frame / RATE)
