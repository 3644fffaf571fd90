"""The wake-word capability: streaming frames in, a detection out when the word is heard."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from penny.core.events import WakeDetected


@runtime_checkable
class WakeWord(Protocol):
    name: str

    def process(self, frame: np.ndarray, t: float) -> WakeDetected | None: ...

    def reset(self) -> None: ...
