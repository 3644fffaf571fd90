"""Real engines: Piper (joe), espeak-ng, gTTS (offline: fails fast, the fallback speaks)."""
import asyncio
import re

import numpy as np
import pytest

from penny.adapters.tts.espeak import EspeakTTS
from penny.adapters.tts.fallback import FallbackTTS
from penny.adapters.tts.gtts import GTTS
from penny.adapters.tts.piper import PiperTTS
from penny.errors import ModelNotFound, TTSFailed

SENTENCE = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def piper():
    engine = PiperTTS()
    engine.load()
    return engine


async def collect(tts, text):
    return [c async for c in tts.synthesize(text)]


def rms(samples: np.ndarray) -> float:
    a = samples.astype(np.float32) / (32768.0 if samples.dtype == np.int16 else 1.0)
    return float(np.sqrt(np.mean(a * a)))


def check_speech(chunks, sample_rate, words=9):
    assert chunks, "no audio"
    assert all(c.sample_rate == sample_rate for c in chunks)
    audio = np.concatenate([c.as_float32() for c in chunks])
    duration = len(audio) / sample_rate
    # ~2 to 5 words per second is speech; anything far outside is silence, a stub or a hang.
    assert words / 5.5 < duration < words / 1.5, duration
    assert rms(audio) > 0.02
    assert chunks[0].samples.dtype in (np.float32, np.int16)


async def test_piper_speaks(piper):
    assert piper.sample_rate == 22050 and piper.voice == "en_US-joe-medium"
    check_speech(await collect(piper, SENTENCE), 22050)


async def test_espeak_speaks_in_streamed_blocks():
    engine = EspeakTTS()
    chunks = await collect(engine, SENTENCE)
    check_speech(chunks, 22050)
    assert len(chunks) > 1  # streamed from the subprocess, not one blob at the end


async def test_espeak_bad_voice_is_tts_failed():
    with pytest.raises(TTSFailed):
        await collect(EspeakTTS("zzz"), "Hello.")


async def test_gtts_speaks_online_or_fails_fast_offline():
    engine = GTTS(timeout_s=2.0)
    try:
        chunks = await collect(engine, SENTENCE)
    except TTSFailed as exc:
        assert "internet" in exc.message and exc.hint
        assert engine._down_until > 0  # remembered: the next sentence fails without waiting
        with pytest.raises(TTSFailed):
            await collect(engine, "Again.")
    else:
        check_speech(chunks, engine.sample_rate)


async def test_gtts_offline_falls_back_to_espeak(monkeypatch):
    import penny.adapters.tts.gtts as gmod

    probes = []
    monkeypatch.setattr(gmod, "_reachable", lambda *a: probes.append(a) or "Network is unreachable")
    chain = FallbackTTS([GTTS(), EspeakTTS()])
    check_speech(await collect(chain, SENTENCE), 22050)
    assert chain.last_used == "espeak"
    await collect(chain, "Hello again.")
    assert len(probes) == 1  # within the cooldown gTTS fails at once, without probing the network


def test_cache_key_reflects_voice_and_settings():
    a, b = EspeakTTS(), EspeakTTS(length_scale=1.5)
    assert a.cache_key() != b.cache_key()
    assert a.cache_key() != EspeakTTS("en-gb").cache_key()
    assert PiperTTS().cache_key() != PiperTTS(length_scale=1.3).cache_key()
    assert PiperTTS().cache_key().startswith("piper|en_US-joe-medium|")


def test_piper_speaks_a_sentence_in_pieces_that_are_the_whole_sentences_audio(piper):
    """The split voice (adapters/tts/piper_stream.py) starts sooner and says exactly what Piper would."""
    from piper import SynthesisConfig

    from penny.adapters.tts import piper_stream

    assert piper._pieces is not None  # the bundled voice's graph splits at its decoder
    still = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)  # the same audio twice
    text = "The weather today is sunny with a high of twenty degrees and a light wind from the west."
    pieces = list(piper._pieces.synthesize(text, still))
    whole = np.concatenate([c.audio_float_array for c in piper._voice.synthesize(text, syn_config=still)])
    assert len(pieces) >= 2 and len(pieces[0]) == piper_stream.FIRST * 256  # the first ~0.46 s comes alone
    joined = np.concatenate(pieces)
    assert len(joined) == len(whole) and float(np.max(np.abs(joined - whole))) < 1e-3
    loud = list(piper._pieces.synthesize(text, SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)))
    assert abs(float(np.max(np.abs(loud[0]))) - 1.0) < 1e-3  # normalised by its first piece, as Piper does
    assert float(np.max(np.abs(np.concatenate(loud)))) <= 1.0


def test_piper_length_scale_changes_duration(piper):
    slow = PiperTTS(length_scale=1.6)
    normal = sum(len(c.samples) for c in piper.synthesize_blocking("Good morning to you."))
    longer = sum(len(c.samples) for c in slow.synthesize_blocking("Good morning to you."))
    assert longer > normal * 1.3


def test_piper_unknown_voice_is_actionable(tmp_path):
    with pytest.raises(ModelNotFound) as err:
        PiperTTS("en_XX-nobody-low")
    assert "en_US-joe-medium" in err.value.message and err.value.hint
    with pytest.raises(ModelNotFound):
        PiperTTS(str(tmp_path / "missing.onnx"))


async def test_leaving_early_stops_the_worker(piper):
    text = " ".join(f"This is sentence number {i}." for i in range(12))
    gen = piper.synthesize(text)
    first = await gen.__anext__()
    await gen.aclose()  # barge-in
    assert first.duration_s > 0.3  # real speech: the first piece of the first sentence
    check_speech(await collect(piper, SENTENCE), 22050)  # the engine is fine afterwards


async def test_synthesis_runs_off_the_event_loop(piper):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await collect(piper, "The event loop keeps running while Piper works on this sentence.")
    task.cancel()
    assert ticks > 5


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@pytest.mark.slow
async def test_piper_whisper_round_trip(piper):
    from faster_whisper import WhisperModel

    from penny.core.pcm import to_16k_mono
    from penny.models import whisper_tiny_en

    said = "Penny, please set a timer for the pasta and remind me to call my sister tomorrow."
    audio = np.concatenate([c.as_float32() for c in await collect(piper, said)])
    model = WhisperModel(str(whisper_tiny_en()), device="cpu", compute_type="int8")
    segments, _ = model.transcribe(to_16k_mono(audio, piper.sample_rate), language="en", beam_size=1)
    heard = _words(" ".join(s.text for s in segments))
    expected = _words(said)
    recovered = sum(1 for w in expected if w in heard) / len(expected)
    assert recovered >= 0.85, (heard, expected)
