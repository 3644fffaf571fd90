"""Speech made on purpose, for Penny's tests and benchmarks: text → 16 kHz mono float32 samples."""
from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np


@functools.lru_cache(maxsize=1)
def _piper_voice():
    from piper import PiperVoice

    from penny.models import piper_joe_voice

    return PiperVoice.load(str(piper_joe_voice()))


def piper_16k(text: str, **synthesis) -> np.ndarray:
    """Piper's joe voice; `synthesis` goes to piper.SynthesisConfig (length_scale, noise_scale, ...)."""
    from piper import SynthesisConfig

    from penny.core.pcm import to_16k_mono

    voice = _piper_voice()
    config = SynthesisConfig(**synthesis) if synthesis else None
    chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=config)]
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return to_16k_mono(audio, voice.config.sample_rate)


def espeak_16k(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> np.ndarray:
    import soundfile

    from penny.core.pcm import to_16k_mono

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
                       check=True, capture_output=True, timeout=60)
        data, sr = soundfile.read(str(wav), dtype="float32")
    return to_16k_mono(data, sr)
