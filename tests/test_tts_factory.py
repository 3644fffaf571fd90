"""build_tts, voices, doctor checks and the `penny say` / `penny voices` commands."""
import json
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from penny.adapters.tts.cache import CachedTTS
from penny.adapters.tts.factory import build_tts, canonical, doctor_checks, list_voices, speak
from penny.adapters.tts.fallback import FallbackTTS
from penny.adapters.tts.base import TTS
from penny.config import PennyConfig, parse_config
from penny.errors import ConfigError


@pytest.fixture
def cfg(tmp_path) -> PennyConfig:
    return parse_config({"tts": {"cache": {"dir": str(tmp_path / "cache")}}})


def test_default_chain_is_cached_piper_with_espeak_fallback(cfg):
    tts = build_tts(cfg)
    assert isinstance(tts, CachedTTS) and isinstance(tts.inner, FallbackTTS)
    assert [e.name for e in tts.inner.engines] == ["piper", "espeak"]
    assert (tts.name, tts.voice, tts.sample_rate) == ("piper", "en_US-joe-medium", 22050)
    assert tts.cache_key() == tts.inner.engines[0].cache_key()
    assert isinstance(tts, TTS) and all(isinstance(e, TTS) for e in tts.inner.engines)


def test_engine_names_and_overrides(cfg):
    assert canonical("eSpeak-NG") == "espeak" and canonical("Google") == "gtts"
    with pytest.raises(ConfigError) as err:
        canonical("festival")
    assert "piper, espeak, gtts" in err.value.message
    tts = build_tts(cfg, engine="espeak", voice="en-gb")
    assert [e.name for e in tts.inner.engines] == ["espeak"] and tts.voice == "en-gb"
    tts = build_tts(cfg, engine="gtts")
    assert [e.name for e in tts.inner.engines] == ["gtts", "espeak"]


def test_missing_piper_voice_still_speaks_through_the_fallback(tmp_path):
    c = parse_config({"tts": {"voice": str(tmp_path / "gone.onnx"), "cache": {"enabled": False}}})
    tts = build_tts(c)
    assert [e.name for e in tts.inner.engines] == ["espeak"]


async def test_speak_into_a_wav_file(cfg, tmp_path):
    from penny.adapters.audio.sinks import WavFileSink

    tts = build_tts(cfg, engine="espeak")
    sink = WavFileSink(tmp_path / "r.wav", 16000)
    result = await speak(tts, "**Hi!** It is 10:30.\n- one\n- two", sink)
    await sink.close()
    assert result["engines"] == ["espeak"] and 1.0 < result["audio_s"] < 8.0
    with wave.open(str(tmp_path / "r.wav")) as w:
        assert w.getframerate() == 16000 and w.getnframes() / 16000 == pytest.approx(result["audio_s"], abs=0.05)


def test_list_voices_has_the_default_piper_voice_and_espeak():
    voices = list_voices()
    piper = [v for v in voices if v["engine"] == "piper"]
    assert any(v["name"] == "en_US-joe-medium" and v["default"] for v in piper)
    assert any(v["engine"] == "espeak" and v["name"] == "en-us" for v in voices)


def test_doctor_checks(cfg):
    checks = doctor_checks(cfg)
    assert all(c.component == "tts" for c in checks)
    assert all(c.status == "ok" for c in checks), [c.to_dict() for c in checks]
    assert any("en_US-joe-medium" in c.detail for c in checks)
    assert any("espeak-ng" in c.detail for c in checks)


def _penny(*args, home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENNY_")}
    env["PENNY_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "penny", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_say_to_file_and_voices(tmp_path):
    out = _penny("say", "Hello from Penny. It costs $3.50.", "--out", str(tmp_path / "reply.wav"), home=tmp_path)
    assert out.returncode == 0, out.stderr
    with wave.open(str(tmp_path / "reply.wav")) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        assert w.getframerate() == 22050 and 1.5 < len(audio) / 22050 < 8
    assert np.abs(audio).max() > 3000
    assert "piper" in out.stderr

    out = _penny("say", "Hi there.", "--engine", "espeak", "--voice", "en-gb", "--out", str(tmp_path / "e.wav"),
                 home=tmp_path)
    assert out.returncode == 0 and "espeak" in out.stderr

    out = _penny("voices", "--json", home=tmp_path)
    assert out.returncode == 0
    assert {"piper", "espeak"} <= {v["engine"] for v in json.loads(out.stdout)}


def test_cli_say_unknown_engine_lists_the_known_ones(tmp_path):
    out = _penny("say", "Hello.", "--engine", "zzz", home=tmp_path)
    assert out.returncode != 0 and "Known: piper, espeak, gtts" in out.stderr
