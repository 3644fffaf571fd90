"""The VAD capability: one fixed-size 16 kHz frame in, speech probability out."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VAD(Protocol):
    name: str
    frame_samples: int  # samples per frame the model expects at 16 kHz

    def speech_probability(self, frame: np.ndarray) -> float: ...

    def reset(self) -> None: ...
