"""Smart Turn v3.2 on onnxruntime: at a pause, how likely the speaker has finished (intonation, not words).

What the model expects (learned from pipecat's local_smart_turn_v3.py): the last 8 s at 16 kHz, zeros in
front when shorter; the waveform normalised to zero mean and unit variance; Whisper's 80-bin log-mel
(n_fft 400, hop 160) → `input_features` (1, 80, 800); the output is already a probability of "complete".
faster-whisper's FeatureExtractor is that front end (checked against pipecat's to 2e-6) once its extra
160-sample tail is turned off (padding=0).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from penny.core.contracts import Frame
from penny.core.pcm import RATE

WINDOW_S = 8
WINDOW = WINDOW_S * RATE
# Measured on 2 shared cores: one decision takes ~45 ms on 1 intra-op thread and ~50-60 ms on 2 (the second
# thread waits on a core the VAD and STT also want), so 1.
THREADS = 1


class SmartTurn:
    name = "smart-turn-v3.2"

    def __init__(self, path: Path, threads: int = THREADS):
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._features = FeatureExtractor(feature_size=80, sampling_rate=RATE, hop_length=160, n_fft=400)

    def features(self, audio: Frame) -> Frame:
        x = np.asarray(audio, np.float32).reshape(-1)[-WINDOW:]
        x = np.pad(x, (WINDOW - len(x), 0))
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        return self._features(x, padding=0)[None].astype(np.float32)

    def probability_done(self, audio: Frame) -> float:
        out = self._session.run(None, {self._input: self.features(audio)})[0]
        return float(np.asarray(out).reshape(-1)[0])

    def warmup(self) -> None:
        self.probability_done(np.zeros(RATE, np.float32))  # the first run allocates and plans the graph
