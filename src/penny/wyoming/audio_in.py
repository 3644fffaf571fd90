"""Wyoming audio in (any rate, sample width and channel count) -> Penny's 16 kHz mono float32.

Home Assistant sends 16 kHz 16-bit mono, but satellites and other clients may not; everything is
checked here, so a bad format ends that request with a clear message instead of garbage reaching Whisper.
"""
from __future__ import annotations

import numpy as np

from penny.core.pcm import RATE, StreamResampler, to_mono_float32

DTYPES = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}  # Wyoming widths in bytes (8-bit WAV is unsigned)
MIN_RATE, MAX_RATE = 8000, 192000
MAX_CHANNELS = 8
MAX_KEPT_S = 120.0  # one transcript's audio: far above a spoken command, far below a memory problem


class BadAudio(ValueError):
    """Audio a Wyoming client sent that Penny cannot read (the request is refused, the connection dropped)."""


def check_format(data: dict) -> tuple[int, int, int]:
    """(rate, width, channels) from an audio-start/audio-chunk event's data, or BadAudio."""
    try:
        rate, width, channels = int(data["rate"]), int(data["width"]), int(data["channels"])
    except (KeyError, TypeError, ValueError):
        raise BadAudio(f"audio format needs integer rate, width and channels, got {_show(data)}") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadAudio(f"sample rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE}")
    if width not in DTYPES:
        raise BadAudio(f"sample width {width} bytes is not supported (1, 2 or 4)")
    if not 1 <= channels <= MAX_CHANNELS:
        raise BadAudio(f"{channels} channels is not supported (1..{MAX_CHANNELS})")
    return rate, width, channels


def _show(data: dict) -> str:
    return str({k: data.get(k) for k in ("rate", "width", "channels")})


class AudioIn:
    """One audio stream (audio-start .. audio-stop). `feed` returns the new 16 kHz samples; `samples()`
    everything so far. A chunk may carry another format than the start (the converter follows it)."""

    def __init__(self, rate: int, width: int, channels: int, keep: bool = True):
        self.format = (rate, width, channels)
        self.keep = keep  # False for wake streams: they run for hours, only the newest samples matter
        self._resampler = StreamResampler(rate, RATE)
        self._parts: list[np.ndarray] = []
        self.seconds_in = 0.0

    @classmethod
    def from_event(cls, data: dict) -> "AudioIn":
        return cls(*check_format(data))

    def feed(self, data: dict, payload: bytes | None) -> np.ndarray:
        fmt = check_format(data) if {"rate", "width", "channels"} <= set(data) else self.format
        if fmt != self.format:  # a new format mid-stream: finish the old filter, follow the new one
            self._keep(self._resampler.process(np.zeros(0, np.float32), last=True))
            self.format, self._resampler = fmt, StreamResampler(fmt[0], RATE)
        rate, width, channels = fmt
        payload = payload or b""
        frame = width * channels
        if len(payload) % frame:
            raise BadAudio(f"audio chunk of {len(payload)} bytes is not whole frames of {frame} bytes "
                           f"({width}-byte samples, {channels} channel(s))")
        samples = np.frombuffer(payload, DTYPES[width])
        if channels > 1:
            samples = samples.reshape(-1, channels)
        self.seconds_in += len(samples) / rate
        return self._keep(self._resampler.process(to_mono_float32(samples)))

    def finish(self) -> np.ndarray:
        """The resampler's tail (call at audio-stop)."""
        return self._keep(self._resampler.process(np.zeros(0, np.float32), last=True))

    def samples(self) -> np.ndarray:
        return np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)

    def _keep(self, x: np.ndarray) -> np.ndarray:
        if x.size and self.keep:
            self._parts.append(x)
            if self.seconds_in > MAX_KEPT_S:
                raise BadAudio(f"more than {MAX_KEPT_S:g} s of audio for one transcript")
        return x
