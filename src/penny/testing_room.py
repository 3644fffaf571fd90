"""A simulated room for echo tests and benchmarks: what Penny's microphone hears of what its speaker played.

All signals are 16 kHz mono float32. `room_echo(played, ...)` is the echo path (speaker clock drift,
output latency, reverberation, loudness) on a whole signal; `Room` is the same path streamed block by block
(play what the speaker outputs, hear what the mic gets); `mic_mix` adds the user and noise at chosen levels;
`at_level` sets a voice's speech level; `erle_db` scores a canceller on the stretches where only the echo is.
"""
from __future__ import annotations

import numpy as np

RATE = 16000


def rms_db(x: np.ndarray) -> float:
    """Level in dBFS (RMS); -inf-safe for silence."""
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def active_rms_db(x: np.ndarray, floor_db: float = -30.0) -> float:
    """Level of the loud part only (32 ms frames within `floor_db` of the loudest): speech level without its pauses."""
    n = len(x) // 512 * 512
    frames = np.square(x[:n].reshape(-1, 512), dtype=np.float64).mean(axis=1) + 1e-20
    db = 10 * np.log10(frames)
    return float(10 * np.log10(frames[db > db.max() + floor_db].mean()))


def room_ir(rt60_s: float = 0.4, *, seed: int = 0, direct_ms: float = 1.5) -> np.ndarray:
    """A room impulse response: a direct path, then exponentially decaying noise (60 dB down at rt60_s).

    Normalized to unit energy, so `gain_db` in room_echo is the echo's level relative to what was played.
    """
    rng = np.random.default_rng(seed)
    n = int(rt60_s * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # ln(1000): 60 dB of amplitude decay
    tail[: int(0.004 * RATE)] *= np.linspace(0, 1, int(0.004 * RATE))  # first reflections arrive after ~4 ms
    ir = np.zeros(int(direct_ms * RATE / 1000) + n)
    d = int(direct_ms * RATE / 1000)
    ir[d] = 3.0  # the direct sound dominates at arm's length from a small speaker
    ir[d:] += 0.25 * tail
    return (ir / np.sqrt(np.sum(ir ** 2))).astype(np.float32)


def _convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]


def room_echo(played: np.ndarray, *, delay_ms: float, rt60_s: float = 0.4, gain_db: float = 0.0,
              drift: float = 0.0, seed: int = 0) -> np.ndarray:
    """What the mic hears of `played` (16 kHz, the samples as the program handed them to the speaker).

    drift: the speaker's clock runs (1 + drift) times the microphone's (0.001: 0.1 % fast), so the echo is
    `played` compressed in time. delay_ms: from the speaker's first sample to the mic (output latency).
    gain_db: the echo's level relative to `played`. Returns len(played) + delay samples, float32.
    """
    x = np.asarray(played, dtype=np.float32)
    if drift:
        import soxr

        x = soxr.resample(x, RATE * (1.0 + drift), RATE, quality="VHQ")
    wet = _convolve(x.astype(np.float64), room_ir(rt60_s, seed=seed).astype(np.float64))[: len(x)]
    delay = int(round(delay_ms * RATE / 1000))
    out = np.concatenate([np.zeros(delay), wet]) * 10 ** (gain_db / 20)
    return out.astype(np.float32)


class Room:
    """room_echo as a stream, for a loop that plays and listens block by block: `play` what the speaker
    outputs (16 kHz at the speaker's clock, silence included), `hear(n)` the next n samples of echo at the mic.
    The first `delay_ms` heard are silence; hear() past what was played hears silence for the missing part."""

    def __init__(self, *, delay_ms: float, rt60_s: float = 0.4, gain_db: float = 0.0, drift: float = 0.0,
                 seed: int = 0):
        import soxr

        self.ir = room_ir(rt60_s, seed=seed).astype(np.float64)
        self.gain = 10 ** (gain_db / 20)
        self._rs = soxr.ResampleStream(RATE * (1.0 + drift), RATE, 1, dtype="float32", quality="VHQ") if drift else None
        self._dry = np.zeros(int(round(delay_ms * RATE / 1000)), np.float32)  # played, at the mic's clock
        self._hist = np.zeros(len(self.ir) - 1)  # the dry samples before this block, for the reverb tail

    def play(self, samples: np.ndarray) -> None:
        x = np.asarray(samples, np.float32)
        if self._rs is not None:
            x = self._rs.resample_chunk(x)
        self._dry = np.concatenate([self._dry, x])

    def stop_after(self, seconds: float) -> None:
        """The speaker went silent: only what reaches the mic within `seconds` from now was really played
        (an aborted device drops what it had buffered)."""
        self._dry[max(0, int(round(seconds * RATE))):] = 0.0

    def hear(self, n: int) -> np.ndarray:
        dry = np.pad(self._dry[:n], (0, max(0, n - len(self._dry)))).astype(np.float64)
        self._dry = self._dry[n:]
        seg = np.concatenate([self._hist, dry])
        self._hist = seg[len(seg) - len(self._hist):]
        wet = _convolve(seg, self.ir)[len(self._hist):len(self._hist) + n]
        return (wet * self.gain).astype(np.float32)


def at_level(x: np.ndarray, level_db: float) -> np.ndarray:
    """`x` scaled so its speech (active_rms_db) sits at `level_db` dBFS."""
    return (x * 10 ** ((level_db - active_rms_db(x)) / 20)).astype(np.float32)


def mic_mix(echo: np.ndarray, user: np.ndarray | None = None, *, user_at_s: float = 0.0,
            noise_db: float = -60.0, seed: int = 0, length: int | None = None) -> np.ndarray:
    """echo + the user's speech starting at `user_at_s` + white noise at `noise_db` dBFS."""
    n = length or max(len(echo), int(user_at_s * RATE) + (len(user) if user is not None else 0))
    out = np.zeros(n, np.float64)
    out[: min(n, len(echo))] += echo[:n]
    if user is not None:
        start = int(user_at_s * RATE)
        out[start:start + len(user)] += user[: max(0, n - start)]
    out += np.random.default_rng(seed + 1).standard_normal(n) * 10 ** (noise_db / 20)
    return out.astype(np.float32)


def erle_db(mic: np.ndarray, cleaned: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Echo return loss enhancement: how much quieter the cleaned signal is, over `mask` (echo-only samples)."""
    n = min(len(mic), len(cleaned), len(mask) if mask is not None else len(mic))
    m = np.ones(n, bool) if mask is None else mask[:n]
    return rms_db(mic[:n][m]) - rms_db(cleaned[:n][m])
