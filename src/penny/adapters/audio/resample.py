"""Resampling at the edges, once: any rate, channels and sample format → 16 kHz mono float32.

Uses soxr (a real band-limited resampler), never naive decimation.
"""
from __future__ import annotations

import numpy as np
import soxr

from penny.errors import AudioInputError

TARGET_SR = 16000
QUALITY = "HQ"


def to_mono_float32(samples: np.ndarray) -> np.ndarray:
    """int/float samples, shape (n,) or (n, channels) → float32 mono in [-1, 1]."""
    a = np.asarray(samples)
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        if a.dtype.kind == "u":  # unsigned PCM (8-bit WAV) is offset by half the range
            a = (a.astype(np.float32) - (info.max + 1) / 2) / ((info.max + 1) / 2)
        else:
            a = a.astype(np.float32) / float(-info.min)
    elif a.dtype.kind == "f":
        a = a.astype(np.float32, copy=False)
    else:
        raise AudioInputError(f"Audio samples of type {a.dtype} are not supported (need int or float PCM).")
    if a.ndim == 2:
        a = a.mean(axis=1, dtype=np.float32) if a.shape[1] > 1 else a[:, 0]
    elif a.ndim != 1:
        raise AudioInputError(f"Audio must be 1-D (mono) or 2-D (frames x channels), got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.ascontiguousarray(a, dtype=np.float32)


def to_16k_mono(samples: np.ndarray, sr: int) -> np.ndarray:
    """Any samples at rate `sr` → 16 kHz mono float32 (soxr, high quality)."""
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioInputError(f"Invalid sample rate {sr!r}.")
    mono = to_mono_float32(samples)
    if sr == TARGET_SR or mono.size == 0:
        return mono.copy() if mono is samples else mono
    out = soxr.resample(mono, int(sr), TARGET_SR, quality=QUALITY)
    return np.ascontiguousarray(out, dtype=np.float32)


class StreamResampler:
    """Chunk-by-chunk resampling to 16 kHz mono for live sources (mic, network) at other rates."""

    def __init__(self, in_rate: int, out_rate: int = TARGET_SR):
        if in_rate <= 0:
            raise AudioInputError(f"Invalid sample rate {in_rate!r}.")
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self._stream = None
        if self.in_rate != self.out_rate:
            self._stream = soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="float32", quality=QUALITY)

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        mono = to_mono_float32(samples)
        if self._stream is None:
            return mono
        return np.ascontiguousarray(self._stream.resample_chunk(mono, last=last), dtype=np.float32)
