"""WebRTC VAD (webrtcvad-wheels, the seed's choice): 30 ms frames → 0.0 or 1.0."""
from __future__ import annotations

import numpy as np

from penny.core.pcm import RATE, to_int16


class WebRtcVAD:
    name = "webrtc"
    frame_samples = 480  # 30 ms at 16 kHz (10/20/30 ms are allowed)

    def __init__(self, aggressiveness: int = 2):
        import webrtcvad

        if not 0 <= aggressiveness <= 3:
            raise ValueError("webrtc aggressiveness must be 0..3")
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)

    def speech_probability(self, frame: np.ndarray) -> float:
        frame = np.asarray(frame)
        if len(frame) != self.frame_samples:
            raise ValueError(f"WebRTC VAD needs frames of {self.frame_samples} samples, got {len(frame)}")
        return 1.0 if self._vad.is_speech(to_int16(frame).tobytes(), RATE) else 0.0

    def reset(self) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(self.aggressiveness)
