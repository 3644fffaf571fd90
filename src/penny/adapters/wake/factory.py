"""build_wake(cfg, stt): the wake engine named by cfg.wake.engine.

"onnx" (the default): an OnnxWake streaming on raw audio (process(frame, t)): Penny's own "Hey Penny"
model, or a livekit-wakeword .onnx classifier.
"openwakeword": an OpenWakeWordDetector streaming on raw audio, with openWakeWord's stock models.
"phrase": a PhraseWake matching transcripts of VAD utterances (match(text)); it keeps `stt`
for its `detect(audio)` convenience.
"""
from __future__ import annotations

from penny.adapters.names import Names
from penny.errors import ConfigError

NAMES = Names("wake.engine", {"onnx": "onnx", "livekit": "onnx", "livekit_wakeword": "onnx", "acoustic": "onnx",
                              "openwakeword": "openwakeword", "oww": "openwakeword",
                              "open_wake_word": "openwakeword", "phrase": "phrase", "stt": "phrase",
                              "transcript": "phrase"})
engine_name = NAMES.canonical


def _section(cfg):
    return getattr(cfg, "wake", cfg)


DEFAULT_MODELS = {"onnx": "hey_penny", "openwakeword": "hey_jarvis"}


def model_name(cfg) -> str:
    """The acoustic model a config means: wake.model, or its engine's own."""
    wcfg = _section(cfg)
    return wcfg.model or DEFAULT_MODELS.get(engine_name(wcfg.engine), "")


def acoustic_wake(model: str, threshold: float | None = None):
    """An acoustic detector by model name or path: hey_penny / .onnx → OnnxWake, else openWakeWord."""
    from penny.adapters.wake.onnx_wake import BUILTIN

    key = model.strip().lower().replace(" ", "_").replace("-", "_")
    if key in BUILTIN or model.strip().endswith(".onnx"):
        from penny.adapters.wake.onnx_wake import OnnxWake

        return OnnxWake(model, threshold=threshold)
    from penny.adapters.wake.openwakeword import OpenWakeWordDetector

    return OpenWakeWordDetector(model, threshold=threshold if threshold is not None else 0.5)


def build_wake(cfg, stt=None):
    wcfg = _section(cfg)
    engine = engine_name(wcfg.engine)
    if engine == "onnx":
        from penny.adapters.wake.onnx_wake import OnnxWake

        return OnnxWake(model_name(wcfg), threshold=wcfg.threshold)
    if engine == "openwakeword":
        from penny.adapters.wake.openwakeword import OpenWakeWordDetector

        return OpenWakeWordDetector(model_name(wcfg), threshold=wcfg.threshold if wcfg.threshold is not None else 0.5)
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
            kind = "openWakeWord" if engine_name(wcfg.engine) == "openwakeword" else "acoustic (ONNX)"
            where = getattr(wake, "model_path", None)
            return [Check("wake", OK, f"engine {kind}, model '{wake.name}'"
                                      f"{f' ({where.name})' if where is not None else ''}, threshold {wake.threshold}; "
                                      f"{share:.1%} of one core while listening (measured on 2 s of noise); "
                                      "nothing else runs until it fires")]
        heard = wake.match(f"{wcfg.phrases[0]}, what time is it?")
        if heard is None or heard.command != "what time is it":
            return [Check("wake", WARN, f"phrase {wcfg.phrases[0]!r} does not match itself", required=False,
                          fix="Use a short phrase: a greeting and a name, e.g. 'hey penny'.")]
        return [Check("wake", OK, f"engine phrase: {', '.join(wcfg.phrases)} (needs stt: every utterance is "
                                  "transcribed, so its CPU share grows with the speech in the room)")]
    except PennyError as exc:
        return [Check("wake", FAIL, exc.message, fix=exc.hint or "")]
    except Exception as exc:
        return [Check("wake", FAIL, f"{type(exc).__name__}: {exc}", fix=".venv/bin/pip install -r requirements.txt (livekit-wakeword, pyopen-wakeword)")]


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
