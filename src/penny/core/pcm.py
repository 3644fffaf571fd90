"""Penny's PCM conventions in one place: the internal sample rate, int16 <-> float32, and resampling.

Inside the pipeline audio is mono float32 in [-1, 1] at RATE; sources resample to it on the way in
and sinks resample from it (or from the voice's rate) on the way out. Resampling is soxr (band-limited),
never naive decimation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import soxr

from penny.errors import AudioInputError

if TYPE_CHECKING:
    from penny.core.events import AudioChunk

RATE = 16000  # what the VAD, wake word and Whisper all expect
QUALITY = "HQ"


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 (/32768, so every int16 maps into [-1, 1)); other arrays only cast to float32."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    return samples.astype(np.float32, copy=False)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float -> int16, clipped to [-1, 1] and scaled by 32767 (so +1.0 does not wrap); int16 passes through."""
    if samples.dtype == np.int16:
        return samples
    return (np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0) * 32767.0).astype(np.int16)


def to_mono_float32(samples: np.ndarray) -> np.ndarray:
    """int/float samples, shape (n,) or (n, channels) -> float32 mono in [-1, 1]."""
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


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """One-shot resampling of a whole mono float signal (a file, a decoded clip)."""
    return np.ascontiguousarray(soxr.resample(samples, int(in_rate), int(out_rate), quality=QUALITY),
                                dtype=np.float32)


def to_16k_mono(samples: np.ndarray, sr: int) -> np.ndarray:
    """Any samples at rate `sr` -> RATE mono float32."""
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioInputError(f"Invalid sample rate {sr!r}.")
    mono = to_mono_float32(samples)
    if sr == RATE or mono.size == 0:
        return mono.copy() if mono is samples else mono  # never hand the caller's buffer back
    return resample(mono, sr, RATE)


class StreamResampler:
    """Chunk-by-chunk resampling for live audio (mic, network, TTS): soxr keeps the filter state
    between chunks, so the joins do not click."""

    def __init__(self, in_rate: int, out_rate: int = RATE):
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


class EdgeResampler:
    """Chunks at any rate -> float32 mono at `out_rate` (a sink's edge); the input rate may change
    between chunks (one TTS voice, then another)."""

    def __init__(self, out_rate: int):
        self.out_rate = int(out_rate)
        self._in_rate: int | None = None
        self._stream: StreamResampler | None = None

    def process(self, chunk: AudioChunk) -> np.ndarray:
        tail = np.zeros(0, np.float32)
        if chunk.sample_rate != self._in_rate:
            tail = self.flush()
            self._in_rate = chunk.sample_rate
            self._stream = StreamResampler(chunk.sample_rate, self.out_rate)
        if self._in_rate == self.out_rate or self._stream is None:  # nothing to do: keep the samples as they are
            return np.concatenate([tail, chunk.as_float32()]) if tail.size else chunk.samples
        out = self._stream.process(chunk.samples)
        return np.concatenate([tail, out]) if tail.size else out

    def flush(self) -> np.ndarray:
        """The filter's tail (call at the end of an utterance)."""
        if self._stream is None or self._in_rate is None or self._in_rate == self.out_rate:
            return np.zeros(0, np.float32)
        out = self._stream.process(np.zeros(0, np.float32), last=True)
        self._stream = StreamResampler(self._in_rate, self.out_rate)
        return out

    def reset(self) -> None:
        """Drop the state (barge-in: the tail must not be played)."""
        self._in_rate, self._stream = None, None
