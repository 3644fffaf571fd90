"""Acoustic echo cancellation: WebRTC's AEC3 (pywebrtc-audio) on the microphone, with what the speaker played.

One `EchoCanceller` is shared by a SpeakerSink and a MicSource. The speaker's PortAudio callback hands it
every block it writes, stamped with the block's DAC time (`render`); the mic's callback hands it every
block it captured, stamped with its ADC time (`capture`), and gets the block back with Penny's voice
removed. The reference for a mic block is looked up by time, so playback latency and drift between the
two sound-card clocks are followed here; AEC3 only has to model the room.

Noise suppression (a second AEC3 chain, with the suppressor) runs on every block but is heard only while
Penny's voice may be in the room (there it takes what AEC3 leaves of the echo) or the room is noisy: in a quiet
or reverberant room it costs Whisper words on the user's own request (`penny bench --mic`: tiny.en's word error
rate through AEC3 alone / with suppression, clean 0.158 / 0.179, reverberant 0.286 / 0.345; fan-like noise at
15 dB SNR, where suppression helps, 0.350 unprocessed / 0.296).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from penny.core.pcm import QUALITY, RATE

if TYPE_CHECKING:
    from penny.config import AudioConfig

log = logging.getLogger(__name__)

FRAME = RATE // 100  # AEC3 works on 10 ms frames; a partial frame would be zero-padded, so never send one
DELAY_AEC, DELAY_NS = 128, 96  # samples AEC3 and its noise suppressor hold back (measured, 16 kHz)
# The reference leads the echo by this much, so a latency reported a little long does not make it non-causal.
# AEC3 finds the delay itself (measured: its stream_delay hint changes nothing); it gets the lead as the hint.
LEAD_MS = 10
# The read position follows the timestamps through a low-pass (timestamps jitter by a ms or two), moving in
# whole samples; a position more than GAP off is a new start (playback began, or resumed after a stop).
SMOOTH, STEP, GAP = 0.05, 1.0, RATE // 200
# While AEC3 learns the room (the first 1-2 s of Penny's voice, measured) it lets residual bursts through,
# 15 dB down or less, in 60-130 ms runs that Silero calls speech: the canceller counts as working once
# every WINDOW_S of playback for CONVERGE_S in a row had the echo down by CONVERGED_DB. Until then the
# speaker keeps the barge-in guard (SpeakerSink.echo_cancelled).
CONVERGED_DB, WINDOW_S, CONVERGE_S, FAR_ACTIVE_DBFS = 15.0, 0.25, 2.0, -50.0
# A 10 ms frame AEC3 turned down by GATE_DB or more is Penny's voice alone (the user's voice keeps a frame
# within a few dB): GATE_GAIN more off, so its residual reaches neither Silero nor the wake word. Its cost:
# over a loud reply the user's first syllable can be muted too (a later barge-in; see the README).
GATE_DB, GATE_GAIN = -20.0, 10 ** (-30 / 20)
# Penny's voice may still be in the room this long after the reference last played (the room's reverberation
# and a latency reported short): suppression stays on until then. Switching fades over one 10 ms frame.
ECHO_TAIL_S = 0.5
# The room counts as noisy while its floor (the quietest 10 ms of the last FLOOR_S, after AEC3) is above
# NOISY_DBFS, and quiet again below it by HYSTERESIS_DB. A quiet room's microphone hiss is ~-60 to -70 dBFS;
# the accuracy corpus's 15 dB SNR noise sits near -35. FLOOR_S remembers the room from before the user spoke
# through most requests (in a reverberant room the echo of one's own words fills the gaps between them). The
# chains' first STARTUP_FRAMES are zeros, not a room.
NOISY_DBFS, HYSTERESIS_DB, FLOOR_S, STARTUP_FRAMES = -50.0, 5.0, 3.0, 3


def _power(x: np.ndarray) -> np.ndarray:
    """Mean square of each 10 ms frame."""
    return np.square(np.asarray(x).reshape(-1, FRAME), dtype=np.float64).mean(axis=1)


def available() -> bool:
    try:
        import pywebrtc_audio  # noqa: F401
    except ImportError:
        return False
    return True


def for_speaker(audio_cfg: AudioConfig) -> EchoCanceller | None:
    """The canceller `penny listen` shares between its speaker and microphone; None when off or not installed."""
    if not audio_cfg.echo_cancellation:
        return None
    if not available():
        log.warning("audio.echo_cancellation is on but pywebrtc-audio is not installed: Penny may hear "
                    "itself (barge-in then needs a confident voice). pip install pywebrtc-audio")
        return None
    return EchoCanceller()


class TimedResampler:
    """Device rate -> 16 kHz, keeping each output block's time: soxr's output is aligned with its input
    (it holds samples back rather than shifting them), so output sample m is input time m / 16000."""

    def __init__(self, in_rate: int, quality: str = QUALITY):
        import soxr

        self.in_rate = int(in_rate)
        self._rs = soxr.ResampleStream(self.in_rate, RATE, 1, dtype="float32", quality=quality) \
            if self.in_rate != RATE else None
        self._in = 0
        self._out = 0

    def process(self, block: np.ndarray, t: float) -> tuple[np.ndarray, float]:
        """`block` (float32) whose first sample is at time `t` -> (16 kHz samples, time of their first)."""
        t_out = t + (self._out * self.in_rate / RATE - self._in) / self.in_rate
        block = np.asarray(block, np.float32)
        out = block if self._rs is None else self._rs.resample_chunk(block)
        self._in += len(block)
        self._out += len(out)
        return out, t_out


class EchoCanceller:
    """AEC3 + noise suppression on 16 kHz mono; `render` from the speaker's thread, `capture` from the mic's."""

    def __init__(self, *, noise_suppression: bool = True, auto_gain_control: bool = False,
                 ring_s: float = 2.0, lead_ms: int = LEAD_MS):
        from pywebrtc_audio import AudioProcessor

        def chain(ns: bool) -> AudioProcessor:
            return AudioProcessor(sample_rate=RATE, echo_cancellation=True, noise_suppression=ns,
                                  auto_gain_control=auto_gain_control, stream_delay_ms=lead_ms)

        # Two chains on the same blocks (under 1 % of a core each): suppression inside the APM also hears the
        # echo before AEC3 and takes more of what AEC3 leaves than a suppressor after it (an echo soak with
        # one after it had 2 false barge-ins in 50 replies, none in this chain's soaks).
        self._ap = chain(False)
        self._ns = chain(True) if noise_suppression else None
        self.lead_s = lead_ms / 1000
        self.delay_samples = DELAY_AEC + (DELAY_NS if noise_suppression else 0)  # cleaned lags the mic by this
        self._plain = np.zeros(DELAY_NS, np.float32)  # AEC3's output, held back as far as the suppressor's
        self._echo_left = 0  # samples (mic side) for which Penny's voice may still be heard
        self._levels: deque[float] = deque(maxlen=int(FLOOR_S * RATE / FRAME))  # dBFS of recent 10 ms frames
        self._noisy = False
        self._suppressing = False
        self._frames = 0
        self.active = True  # False after AEC3 failed: the mic then passes raw audio (and barge-in is guarded)
        self._lock = threading.Lock()
        self._ring = np.zeros(int(ring_s * RATE), np.float32)  # played samples, global index mod size
        self._written = 0
        self._anchors: deque[tuple[int, float]] = deque(maxlen=512)  # (index of a block's first sample, DAC time)
        # mic side only (one thread)
        self._near = np.zeros(0, np.float32)
        self._near_t = 0.0
        self._near_hist = np.zeros(self.delay_samples, np.float32)
        self._pos: int | None = None  # read position in the played stream for the next near sample
        self._err = 0.0  # smoothed (wanted - actual) read position: clock drift, without timestamp jitter
        self._echo_in = self._echo_out = 0.0  # energy in and out over playback (the user silent, mostly)
        self._far_s = 0.0
        self._streak = 0  # windows in a row with the echo well down
        self.converged = False  # it has learnt the room: Penny's voice no longer reaches the VAD

    # ---- speaker thread --------------------------------------------------------------------
    def render(self, samples: np.ndarray, t: float) -> None:
        """16 kHz samples the speaker plays, the first at (DAC) time `t`."""
        n = len(samples)
        if not n:
            return
        size = len(self._ring)
        with self._lock:
            self._anchors.append((self._written, t))
            start = self._written % size
            first = min(n, size - start)
            self._ring[start:start + first] = samples[:first]
            self._ring[:n - first] = samples[first:]
            self._written += n

    def cut(self, t: float) -> None:
        """Playback stopped at time `t`: whatever was stamped later never reached the speaker."""
        with self._lock:
            i = self._index_at(t)
            if i is not None and i < self._written:
                start = max(int(np.ceil(i)), self._written - len(self._ring))
                self._ring[np.arange(start, self._written) % len(self._ring)] = 0.0
            self._anchors.append((self._written, t))  # nothing plays from t until the next render

    def _index_at(self, t: float) -> float | None:
        """Index in the played stream of the sample at DAC time `t`; None while nothing was playing."""
        nxt = self._written
        for i, t0 in reversed(self._anchors):
            if t0 <= t:
                idx = i + (t - t0) * RATE
                return idx if idx < nxt + GAP else None  # well past this block's end: playback had stopped
            nxt = i
        return None

    # ---- mic thread ------------------------------------------------------------------------
    def capture(self, samples: np.ndarray, t: float) -> np.ndarray:
        """16 kHz mic samples, the first at (ADC) time `t` -> cleaned samples (whole 10 ms frames only,
        so up to 10 ms are held back until the next call)."""
        if len(self._near) == 0:
            self._near_t = t
        self._near = np.concatenate([self._near, np.asarray(samples, np.float32)])
        n = len(self._near) // FRAME * FRAME
        if not n:
            return np.zeros(0, np.float32)
        near, self._near = self._near[:n], self._near[n:]
        t0, self._near_t = self._near_t, self._near_t + n / RATE
        if not self.active:
            return near
        far = self._reference(t0, n)
        try:
            out = self._ap.process(near, far)
            if self._ns is not None:
                out = self._suppress(out, self._ns.process(near, far), far)
        except Exception as exc:  # a broken AEC must not take the microphone down with it
            log.warning("echo cancellation failed, off from now on: %s", exc)
            self.active = False
            return near
        cleaned = self._gate(near, out)
        self._learn(near, far, cleaned)
        return cleaned

    def _suppress(self, out: np.ndarray, suppressed: np.ndarray, far: np.ndarray) -> np.ndarray:
        """The suppressed chain's output while Penny's voice may be in the room or the room is noisy, else
        AEC3's alone (held back as long, so the two line up and a switch is a fade, not a jump)."""
        out = np.asarray(out, np.float32)
        quiet = np.concatenate([self._plain, out])
        self._plain = quiet[len(out):]
        plains = quiet[:len(out)].reshape(-1, FRAME)
        levels = 10 * np.log10(_power(plains) + 1e-12)
        loud = _power(far) >= 10 ** (FAR_ACTIVE_DBFS / 10)
        mixed = []
        for i, denoised in enumerate(np.asarray(suppressed, np.float32).reshape(-1, FRAME)):
            plain = plains[i]
            self._echo_left = int(ECHO_TAIL_S * RATE) if loud[i] else max(0, self._echo_left - FRAME)
            self._frames += 1
            if self._frames > STARTUP_FRAMES:
                self._levels.append(float(levels[i]))
            floor = min(self._levels, default=-np.inf)
            self._noisy = floor > NOISY_DBFS - (HYSTERESIS_DB if self._noisy else 0.0)
            want = self._echo_left > 0 or self._noisy
            if want == self._suppressing:
                mixed.append(denoised if want else plain)
                continue
            fade = np.linspace(0.0, 1.0, FRAME, dtype=np.float32)
            mixed.append(denoised * fade + plain * (1 - fade) if want else plain * fade + denoised * (1 - fade))
            self._suppressing = want
        return np.concatenate(mixed)

    def _gate(self, near: np.ndarray, out: np.ndarray) -> np.ndarray:
        aligned = np.concatenate([self._near_hist, near])  # out lags near by the canceller's own delay
        self._near_hist = aligned[len(aligned) - self.delay_samples:]
        e_in, e_out = _power(aligned[:len(out)]), _power(out)
        gain = np.where(e_out < e_in * 10 ** (GATE_DB / 10), GATE_GAIN, 1.0)
        return (out.reshape(-1, FRAME) * gain[:, None]).reshape(-1).astype(np.float32)

    def _learn(self, near: np.ndarray, far: np.ndarray, cleaned: np.ndarray) -> None:
        """Sticky: once converged, stay so (the user talking over a reply must not make the canceller look
        untrained again, which would turn the barge-in guard back on just when it matters)."""
        if self.converged or float(np.mean(np.square(far))) < 10 ** (FAR_ACTIVE_DBFS / 10):
            return
        self._echo_in += float(np.sum(np.square(near, dtype=np.float64)))
        self._echo_out += float(np.sum(np.square(cleaned, dtype=np.float64)))
        self._far_s += len(near) / RATE
        if self._far_s >= WINDOW_S:
            erle = 10 * np.log10((self._echo_in + 1e-12) / (self._echo_out + 1e-12))
            self._streak = self._streak + 1 if erle >= CONVERGED_DB else 0
            self.converged = self._streak * WINDOW_S >= CONVERGE_S
            self._echo_in = self._echo_out = self._far_s = 0.0

    def _reference(self, t: float, n: int) -> np.ndarray:
        with self._lock:
            want = self._index_at(t + self.lead_s)
            if want is None:
                self._pos = None
                return np.zeros(n, np.float32)
            if self._pos is None or abs(want - self._pos) > GAP:
                self._pos, self._err = int(round(want)), 0.0  # playback (re)started: jump
            else:
                self._err += SMOOTH * (want - self._pos - self._err)
                if abs(self._err) >= STEP:
                    step = int(round(self._err))
                    self._pos += step  # whole samples, rarely: AEC3 re-adapts to a small shift at once
                    self._err -= step
            pos, self._pos = self._pos, self._pos + n
            size = len(self._ring)
            idx = np.arange(pos, pos + n)
            ok = (idx >= self._written - size) & (idx < self._written) & (idx >= 0)
            far = np.zeros(n, np.float32)
            far[ok] = self._ring[idx[ok] % size]
        return far
