"""Synthesized speech for tests and benchmarks: Piper (joe, en_US) and espeak-ng, at 16 kHz.

Plain functions (importable by benchmarks) and pytest fixtures. Results are cached by content
in one directory per session (`speech_dir`), so a phrase is synthesized once.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from penny.testing import espeak_16k, piper_16k

SR = 16000
_cache_dir: Path | None = None


def cache_dir() -> Path:
    global _cache_dir
    if _cache_dir is None:
        _cache_dir = Path(os.environ.get("PENNY_SPEECH_CACHE") or tempfile.mkdtemp(prefix="penny-speech-"))
        _cache_dir.mkdir(parents=True, exist_ok=True)
    return _cache_dir


def set_cache_dir(path: Path) -> None:
    global _cache_dir
    _cache_dir = Path(path)
    _cache_dir.mkdir(parents=True, exist_ok=True)


def _cached(kind: str, text: str, params: dict, path: Path | None) -> tuple[Path, bool]:
    key = hashlib.sha1(repr((kind, text, sorted(params.items()))).encode()).hexdigest()[:16]
    slug = re.sub(r"\W+", "_", text.lower())[:30].strip("_")
    cached = cache_dir() / f"{kind}-{slug}-{key}.wav"
    return cached, cached.exists()


def _deliver(cached: Path, path: Path | None) -> Path:
    if path is None:
        return cached
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, path)
    return Path(path)


def write_wav(path: Path, samples: np.ndarray, sr: int = SR) -> Path:
    soundfile.write(str(path), np.asarray(samples, np.float32), sr, subtype="PCM_16")
    return Path(path)


def load(path: Path) -> np.ndarray:
    """A WAV as 16 kHz mono float32 (through Penny's own reader)."""
    from penny.adapters.audio.wavfile import read_audio

    return read_audio(path).samples


def synth_piper(text: str, path: Path | None = None, length_scale: float = 1.0) -> Path:
    """Speak `text` with Piper's joe voice → 16 kHz mono 16-bit WAV (cached)."""
    cached, hit = _cached("piper", text, {"ls": length_scale}, path)
    if not hit:
        write_wav(cached, 0.7 * piper_16k(text, length_scale=length_scale, noise_scale=0.333, noise_w_scale=0.333))
    return _deliver(cached, path)


def synth_espeak(text: str, path: Path | None = None, voice: str = "en-us", speed: int = 160,
                 pitch: int = 50) -> Path:
    """Speak `text` with espeak-ng → 16 kHz mono 16-bit WAV (cached)."""
    cached, hit = _cached("espeak", text, {"v": voice, "s": speed, "p": pitch}, path)
    if not hit:
        data = espeak_16k(text, voice, speed, pitch)
        peak = float(np.max(np.abs(data))) or 1.0
        write_wav(cached, 0.7 * data / peak)
    return _deliver(cached, path)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


def noise(seconds: float, level_db: float = -40.0, seed: int = 0, kind: str = "white") -> np.ndarray:
    """Noise at an RMS of `level_db` dBFS; kind "white" or "pink"-ish (brown-filtered white)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * SR)).astype(np.float32)
    if kind == "pink":
        x = np.cumsum(x)
        x -= np.convolve(x, np.ones(400) / 400, mode="same")  # keep it from drifting
    x /= float(np.sqrt(np.mean(x ** 2))) or 1.0
    return (x * 10 ** (level_db / 20)).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float = 20.0, seed: int = 0) -> np.ndarray:
    """White noise at `snr_db` below the signal's RMS (measured where it is not silent)."""
    s = np.asarray(samples, np.float32)
    voiced = s[np.abs(s) > 1e-4]
    rms = float(np.sqrt(np.mean(voiced ** 2))) if voiced.size else 1e-3
    rng = np.random.default_rng(seed)
    n = rng.standard_normal(len(s)).astype(np.float32) * rms * 10 ** (-snr_db / 20)
    return np.clip(s + n, -1.0, 1.0).astype(np.float32)


def concat_with_silence(parts, gap_s: float = 1.0, lead_s: float = 0.5, tail_s: float = 1.0) -> np.ndarray:
    """Clips (arrays at 16 kHz, or WAV paths) joined by `gap_s` of silence, with lead and tail."""
    arrays = [load(p) if isinstance(p, (str, Path)) else np.asarray(p, np.float32) for p in parts]
    out = [silence(lead_s)]
    for i, a in enumerate(arrays):
        if i:
            out.append(silence(gap_s))
        out.append(a)
    out.append(silence(tail_s))
    return np.concatenate(out).astype(np.float32)


def wake_hits(det, x, frame: int = 512) -> list:
    """Every detection an acoustic wake engine makes on `x` (samples or a WAV path), fed `frame` samples at a time."""
    if not isinstance(x, np.ndarray):
        x = load(x)
    det.reset()
    found = []
    for i in range(0, len(x), frame):
        hit = det.process(x[i:i + frame], i / SR)
        if hit is not None:
            found.append(hit)
    return found


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after normalising case, punctuation and spelled numbers."""
    r, h = normalize_words(reference), normalize_words(hypothesis)
    d = np.arange(len(h) + 1)
    for i, rw in enumerate(r, 1):
        prev, d[0] = d.copy(), i
        for j, hw in enumerate(h, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (rw != hw))
    return float(d[len(h)]) / max(1, len(r))


_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
            "eight": "8", "nine": "9", "ten": "10", "fifteen": "15", "twenty": "20", "thirty": "30"}


def normalize_words(text: str) -> list[str]:
    words = re.sub(r"[^\w\s']", " ", text.lower().replace("-", " ")).split()
    return [_NUMBERS.get(w, w) for w in words]


# ---- pytest fixtures ----
@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("speech")
    set_cache_dir(path)
    return path


@pytest.fixture(scope="session")
def piper_say(speech_dir):
    return synth_piper


@pytest.fixture(scope="session")
def espeak_say(speech_dir):
    return synth_espeak


class CountingSTT:
    """The real STT, counting every call (a closed gate, or Penny's own voice, must not reach it)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    async def transcribe(self, audio, initial_prompt=None):
        self.calls += 1
        return await self.inner.transcribe(audio, initial_prompt=initial_prompt)

    def __getattr__(self, name):
        return getattr(self.inner, name)
