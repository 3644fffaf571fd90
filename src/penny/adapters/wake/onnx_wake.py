"""An openWakeWord-style wake word classifier in ONNX: Penny's own "Hey Penny" (src/penny/data/hey_penny.onnx,
trained by training/wake/) or any model trained with livekit-wakeword (a .onnx path).

Streaming like OpenWakeWordDetector: `process(frame, t)` takes 16 kHz audio of any frame size; every 80 ms
chunk gives one embedding (features.py) and one classifier score on the last 16 (1.28 s). `t` is the stream
time of the frame's first sample; a detection's `t` is the end of the chunk that crossed the threshold.
After a detection the detector stays quiet for `refractory_s`, so one utterance fires once.
`consecutive` (the card's, else 1): how many 80 ms scores in a row must reach the threshold before it fires;
a lone spike in ordinary talk then does not wake Penny (it costs 80 ms of latency per extra score).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from penny.adapters.wake.features import CHUNK, EmbeddingStream
from penny.core.events import WakeDetected
from penny.core.pcm import RATE as SR
from penny.errors import ModelNotFound

BUILTIN = {"hey_penny": "hey_penny.onnx"}
DEFAULT_THRESHOLD = 0.5


def data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "data"


def resolve_onnx_model(model: str) -> Path:
    """A built-in name (hey_penny) or a path to a livekit-wakeword .onnx classifier → the file."""
    key = model.strip().lower().replace(" ", "_").replace("-", "_")
    if key in BUILTIN and (data_dir() / BUILTIN[key]).is_file():
        return data_dir() / BUILTIN[key]
    path = Path(model).expanduser()
    if path.suffix == ".onnx" and path.is_file():
        return path
    raise ModelNotFound(f"Wake-word model '{model}' was not found.",
                        hint=f"Use the built-in {', '.join(BUILTIN)} or a path to a .onnx classifier "
                             "(livekit-wakeword's export: (batch, 16, 96) embeddings → a score).")


def model_card(path: Path) -> dict:
    """The training card beside a model (hey_penny.json): its threshold, head and validation figures."""
    card = path.with_suffix(".json")
    try:
        return json.loads(card.read_text()) if card.is_file() else {}
    except (OSError, ValueError):
        return {}


class OnnxWake:
    hears = "audio"

    def __init__(self, model: str = "hey_penny", threshold: float | None = None, refractory_s: float = 2.0,
                 consecutive: int | None = None):
        import onnxruntime as ort

        self.model_path = resolve_onnx_model(model)
        self.name = self.model_path.stem
        self.card = model_card(self.model_path)
        self.threshold = threshold if threshold is not None else float(self.card.get("threshold", DEFAULT_THRESHOLD))
        self.consecutive = max(1, int(consecutive if consecutive is not None else self.card.get("consecutive", 1)))
        self.refractory = int(refractory_s * SR)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._stream = EmbeddingStream()
        self.last_score = 0.0
        self.max_score = 0.0  # highest score since reset(): handy for tuning thresholds
        self._quiet_until = 0
        self._above = 0  # scores in a row at or above the threshold

    def score(self, window: np.ndarray) -> float:
        """The classifier on one (16, 96) window of embeddings."""
        return float(self._session.run(None, {self._input: window[None].astype(np.float32)})[0][0, 0])

    def process(self, frame: np.ndarray, t: float) -> WakeDetected | None:
        start = int(round(t * SR)) - self._stream.pending  # stream sample of the first not yet scored sample
        hit: WakeDetected | None = None
        for i, window in enumerate(self._stream.push(np.asarray(frame, np.float32))):
            end = start + (i + 1) * CHUNK
            score = self.score(window)
            self.last_score = score
            self.max_score = max(self.max_score, score)
            self._above = self._above + 1 if score >= self.threshold else 0
            if hit is None and self._above >= self.consecutive and end >= self._quiet_until:
                hit = WakeDetected(name=self.name, score=score, t=end / SR)
                self._quiet_until = end + self.refractory
        return hit

    def prompt(self, base: str | None = None) -> str:
        """Whisper's prompt spells the wake phrase: the utterance it fired in starts with it ("Hey Penny, ...")."""
        from penny.adapters.wake.phrase import wake_prompt

        return wake_prompt([self.card.get("phrase") or self.name], base)

    def reset(self) -> None:
        self._stream.reset()
        self._quiet_until = self._above = 0
        self.last_score = self.max_score = 0.0

    def close(self) -> None:
        pass
