"""WebRTC VAD (webrtcvad-wheels, the seed's choice): 30 ms frames → 0.0 or 1.0."""
from __future__ import annotations

import numpy as np


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
        if frame.dtype != np.int16:
            frame = (np.clip(frame, -1.0, 1.0) * 32767.0).astype(np.int16)
        return 1.0 if self._vad.is_speech(frame.tobytes(), 16000) else 0.0

    def reset(self) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(self.aggressiveness)
