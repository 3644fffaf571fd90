"""openWakeWord (pyopen-wakeword: TFLite, no onnx/torch): streaming wake-word detection.

`process(frame, t)` takes 16 kHz audio of any frame size; internally the model runs on
80 ms (1280-sample) chunks. `t` is the stream time of the frame's first sample; a detection's
`t` is the end of the 80 ms chunk that crossed the threshold. After a detection the detector
stays quiet for `refractory_s` so one utterance fires once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from penny.core.events import WakeDetected
from penny.core.pcm import RATE as SR, to_int16
from penny.errors import ModelNotFound

CHUNK = 1280  # 80 ms


def builtin_models() -> list[str]:
    from penny.models import openwakeword_models

    skip = {"melspectrogram", "embedding_model"}
    return sorted(p.stem for p in openwakeword_models().glob("*.tflite") if p.stem not in skip)


def resolve_wake_model(model: str) -> Path:
    """A built-in name (hey_jarvis, alexa, ...) or a custom .tflite path → the model file."""
    from penny.models import openwakeword_models

    key = model.strip().lower().replace(" ", "_").replace("-", "_")
    builtin = openwakeword_models() / f"{key}.tflite"
    if key in builtin_models() and builtin.is_file():
        return builtin
    path = Path(model).expanduser()
    if path.suffix == ".tflite" and path.is_file():
        return path
    raise ModelNotFound(f"Wake-word model '{model}' was not found.",
                        hint=f"Use a built-in model ({', '.join(builtin_models())}) or a path to a .tflite file.")


class OpenWakeWordDetector:
    hears = "audio"

    def __init__(self, model: str = "hey_jarvis", threshold: float = 0.5, refractory_s: float = 2.0):
        from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

        from penny.models import openwakeword_models

        self.model_path = resolve_wake_model(model)
        self.name = self.model_path.stem
        self.threshold = threshold
        self.refractory = int(refractory_s * SR)
        self._features = OpenWakeWordFeatures.from_builtin(models_dir=openwakeword_models())
        self._model = OpenWakeWord.from_model(self.model_path)
        self.last_score = 0.0
        self.max_score = 0.0  # highest score since reset(): handy for tuning thresholds
        self._pending = np.zeros(0, np.int16)
        self._quiet_until = 0

    def process(self, frame: np.ndarray, t: float) -> WakeDetected | None:
        frame = to_int16(np.asarray(frame))
        start = int(round(t * SR)) - len(self._pending)  # stream sample of self._pending[0]
        buf = np.concatenate([self._pending, frame]) if len(self._pending) else frame
        hit: WakeDetected | None = None
        full = len(buf) - len(buf) % CHUNK
        for i in range(0, full, CHUNK):
            end = start + i + CHUNK
            score = self._score(buf[i:i + CHUNK])
            if hit is None and score >= self.threshold and end >= self._quiet_until:
                hit = WakeDetected(name=self.name, score=score, t=end / SR)
                self._quiet_until = end + self.refractory
        self._pending = buf[full:].copy()
        return hit

    def _score(self, chunk: np.ndarray) -> float:
        best = 0.0
        for emb in self._features.process_streaming(chunk.tobytes()):
            for prob in self._model.process_streaming(emb):
                best = max(best, float(prob))
        self.last_score = best
        self.max_score = max(self.max_score, best)
        return best

    def prompt(self, base: str | None = None) -> str:
        """Whisper's prompt spells the wake phrase, from the model's name ("hey_jarvis" -> "Hey Jarvis.")."""
        from penny.adapters.wake.phrase import wake_prompt

        return wake_prompt([self.name], base)

    def reset(self) -> None:
        self._features.reset()
        self._model.reset()
        self._pending = np.zeros(0, np.int16)
        self._quiet_until = 0
        self.last_score = self.max_score = 0.0

    def close(self) -> None:
        self._features.close()
        self._model.close()
