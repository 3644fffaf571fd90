"""STT work per request is bounded: tones and noise cannot start a temperature-fallback storm, a decode
loop is cut by a token budget sized to the audio, and what a loop produces is not returned as words."""
from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from penny.adapters.stt.faster_whisper import MAX_WINDOW_TOKENS, looped, max_new_tokens
from penny.adapters.stt.factory import build_stt
from penny.config import PennyConfig


def test_token_budget_grows_with_the_audio_and_stops_at_the_cap():
    assert max_new_tokens(2.0) == 32
    assert max_new_tokens(0.0) < max_new_tokens(5.0) < max_new_tokens(20.0)
    assert max_new_tokens(600.0) == max_new_tokens(30.0) == MAX_WINDOW_TOKENS


@pytest.mark.parametrize("text, loop", [
    ("Beep beep beep beep beep beep.", True),
    ("you you you you you you you", True),
    ("Oh, oh, oh, oh, oh, oh, oh, oh, oh, oh.", True),
    ("What time is it?", False),
    ("Set a timer for ten minutes.", False),
    ("Add milk, eggs and more milk to the list.", False),
])
def test_looped(text, loop):
    assert looped(text) is loop


def tone_wav(freq: float, seconds: float = 2.0, rate: int = 8000) -> bytes:
    """The report's input: a 2 s, 8 kHz, stereo sine tone."""
    t = np.arange(int(seconds * rate)) / rate
    x = (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(x, 2).tobytes())
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("freq", [700.0, 2000.0])
def test_tone_is_decoded_once_with_a_bounded_budget(freq, tmp_path):
    from penny.adapters.audio.wavfile import read_audio

    stt = build_stt(PennyConfig())
    model = stt._load()
    calls = []
    real = model.transcribe

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    model.transcribe = spy
    path = tmp_path / "tone.wav"
    path.write_bytes(tone_wav(freq))
    transcript = stt.transcribe_sync(read_audio(str(path)))
    assert transcript.text == ""  # a tone has no words ("Beep beep beep ..." is a loop, not speech)
    for kwargs in calls:  # the full decoder, when the short window did not settle it
        assert kwargs["temperature"] == 0.0  # no sampling fallbacks (best_of 5 at each temperature)
        assert kwargs["max_new_tokens"] <= max_new_tokens(2.0)
