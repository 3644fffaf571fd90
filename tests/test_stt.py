"""Speech-to-text on synthesized speech: accuracy (WER), hallucination guard, errors, CLI."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest
from fixtures_speech import concat_with_silence, load, noise, silence, wer

from penny.adapters.stt.factory import build_stt, resolve_model
from penny.config import PennyConfig, STTConfig
from penny.core.events import AudioChunk
from penny.errors import ConfigError, ModelNotFound

COMMANDS = [
    "What time is it?",
    "Turn on the kitchen lights.",
    "Set a timer for ten minutes.",
    "What is the weather tomorrow?",
    "Remind me to call my mother at six.",
    "Add milk to my shopping list.",
    "Play some music in the living room.",
    "What is on my calendar today?",
]
# Bounds stated for the bundled tiny.en on clean synthetic speech (measured: Piper ~0.03, espeak ~0.1).
MAX_WER = {"piper": 0.10, "espeak": 0.25}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stt():
    engine = build_stt(PennyConfig())
    engine.warmup()
    return engine


def chunk(path_or_array) -> AudioChunk:
    x = load(path_or_array) if not isinstance(path_or_array, np.ndarray) else path_or_array
    return AudioChunk(x, 16000)


@pytest.mark.parametrize("voice", ["piper", "espeak"])
async def test_command_set_word_error_rate(stt, piper_say, espeak_say, voice):
    say = piper_say if voice == "piper" else espeak_say
    errors, words, report = 0.0, 0, []
    for text in COMMANDS:
        t = await stt.transcribe(chunk(concat_with_silence([say(text)], lead_s=0.3, tail_s=0.3)))
        n = len(text.split())
        errors += wer(text, t.text) * n
        words += n
        report.append(f"{text!r} -> {t.text!r}")
        assert t.processing_s > 0 and t.audio_s > 1 and t.language == "en"
        assert t.segments and t.segments[0].start >= 0 and t.segments[-1].end <= t.audio_s + 0.5
    total = errors / words
    print(f"\n{voice} WER {total:.3f}\n" + "\n".join(report))
    assert total <= MAX_WER[voice], "\n".join(report)


async def test_initial_prompt_is_used(stt, piper_say):
    # Piper's voice varies from run to run (its noise is not seeded), and tiny.en hears the unprompted clip
    # as "ask pennie about quets of cotle" or "ask any about quetzal": the prompt must change what it hears
    # and bring the rare word in.
    clip = chunk(piper_say("Ask Penny about Quetzalcoatl."))
    plain = (await stt.transcribe(clip)).text.lower()
    prompted = (await stt.transcribe(clip, initial_prompt="Penny, Quetzalcoatl.")).text.lower()
    assert prompted != plain and "quetzal" in prompted


@pytest.mark.parametrize("make", [lambda: silence(2.0), lambda: noise(3.0, -60), lambda: noise(3.0, -35),
                                  lambda: noise(3.0, -25, kind="pink"), lambda: np.zeros(800, np.float32),
                                  lambda: np.zeros(0, np.float32)])
async def test_silence_and_noise_give_empty_text(stt, make):
    t = await stt.transcribe(AudioChunk(make(), 16000))
    assert t.text == "", t


async def test_event_loop_keeps_running_while_decoding(stt, piper_say):
    """Decoding runs in a worker thread: a ticker task advances during transcription."""
    ticks = 0
    done = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start_ticks = ticks
    await stt.transcribe(chunk(piper_say("Remind me to water the plants on Sunday morning.")))
    done.set()
    await task
    assert ticks - start_ticks >= 3


async def test_other_sample_rates_are_resampled(stt, piper_say):
    from penny.core.pcm import to_16k_mono

    x = load(piper_say("What time is it?"))
    import soxr

    x8 = soxr.resample(x, 16000, 8000)
    t = await stt.transcribe(AudioChunk(x8.astype(np.float32), 8000))
    assert wer("what time is it", t.text) <= 0.25
    assert len(to_16k_mono(x8, 8000)) == pytest.approx(len(x), abs=2)


def test_model_resolution():
    assert (resolve_model("tiny.en") / "model.bin").is_file()
    assert resolve_model(str(resolve_model("tiny.en"))) == resolve_model("tiny.en")
    with pytest.raises(ModelNotFound, match="download_model"):
        resolve_model("large-v3")
    with pytest.raises(ModelNotFound, match="No Whisper model folder"):
        build_stt(STTConfig(model="./no/such/model"))
    with pytest.raises(ConfigError, match="faster_whisper"):
        build_stt(STTConfig(provider="vosk"))


def test_doctor_check_loads_model():
    from penny.adapters.stt.factory import doctor_checks

    (check,) = doctor_checks(PennyConfig())
    assert check.status == "ok", check
    (bad,) = doctor_checks(PennyConfig(stt=STTConfig(model="medium.en")))
    assert bad.status == "fail" and "download" in bad.fix


def test_cli_transcribe_prints_text_and_latency(tmp_path, piper_say):
    good = piper_say("Turn on the kitchen lights.", tmp_path / "lights.wav")
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = subprocess.run([sys.executable, "-m", "penny", "transcribe", str(good)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "kitchen lights" in out.stdout.lower() and " ms for " in out.stderr and "RTF" in out.stderr
    out = subprocess.run([sys.executable, "-m", "penny", "transcribe", str(bad), str(good)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1 and "not a readable audio file" in out.stderr and "Traceback" not in out.stderr
    assert "kitchen lights" in out.stdout.lower()  # the good file is still transcribed


def test_hallucination_filter_on_segments():
    from types import SimpleNamespace as S

    from penny.adapters.stt.faster_whisper import FasterWhisperSTT

    stt = FasterWhisperSTT("unused")
    seg = lambda text, nsp=0.1, lp=-0.3, cr=1.2: S(text=text, start=0.0, end=1.0, no_speech_prob=nsp,  # noqa: E731
                                                   avg_logprob=lp, compression_ratio=cr)
    assert stt._keep([seg(" Thank you.")], rms=0.001) == []  # near-silence: invented
    assert [s.text for s in stt._keep([seg(" Thank you.")], rms=0.1)] == ["Thank you."]  # really said
    assert stt._keep([seg(" Thanks for watching!", nsp=0.5)], rms=0.1) == []
    assert stt._keep([seg(" [BLANK_AUDIO]"), seg(" ♪"), seg(" ...")], rms=0.1) == []
    assert stt._keep([seg(" Hello there.", nsp=0.9, lp=-1.2)], rms=0.1) == []  # Whisper's own no-speech rule
    assert stt._keep([seg(" you you you you you you", cr=3.1)], rms=0.1) == []
    assert [s.text for s in stt._keep([seg(" Set a timer.")], rms=0.05)] == ["Set a timer."]


def test_short_window_cuts_a_whisper_loop():
    from penny.adapters.stt.short_window import ShortSegment, drop_repeats

    looped = [ShortSegment(0, 1.8, "What is the capital of France? What is the capital of France?", 0, 0, 0)]
    assert [s.text for s in drop_repeats(looped)] == ["What is the capital of France?"]
    two = [ShortSegment(0, 1, "Set a timer.", 0, 0, 0), ShortSegment(1, 2, "Set a timer.", 0, 0, 0)]
    assert [s.text for s in drop_repeats(two)] == ["Set a timer."]
    fine = [ShortSegment(0, 1, "Hey Penny.", 0, 0, 0), ShortSegment(1, 2, "What time is it?", 0, 0, 0)]
    assert len(drop_repeats(fine)) == 2
    # A loop that misspells its copy (heard on an espeak clip) is still a loop.
    misspelt = [ShortSegment(0, 1.5, "Cancel the timer. Cancell the timer.", 0, 0, 0)]
    assert [s.text for s in drop_repeats(misspelt)] == ["Cancel the timer."]
    longer = [ShortSegment(0, 2, "Set a timer. Set a timer for ten minutes.", 0, 0, 0)]
    assert [s.text for s in drop_repeats(longer)] == ["Set a timer. Set a timer for ten minutes."]


def test_the_full_decoder_s_repeat_is_cut_too():
    """A reverberant room made the 30 s decoder hear the request twice, the name misheard the second time."""
    from penny.adapters.stt.short_window import cut_repeat

    assert cut_repeat("Hey Penny, what's today's date? Hey pay me, what's today's date?") == \
        "Hey Penny, what's today's date?"
    assert cut_repeat("Set a timer. Then cancel it.") == "Set a timer. Then cancel it."
    assert cut_repeat("") == ""


def test_a_copy_inside_a_sentence_or_after_a_misheard_wake_phrase_is_cut():
    """Loops the sentence rule missed, from the accuracy benchmark's transcripts (the fast path wrote them, and
    they made its word error rate worse than the full decoder's): the first copy is kept."""
    from penny.adapters.stt.short_window import cut_repeat

    assert cut_repeat("Is it going to rain tomorrow? Hey apparently is it going to rain tomorrow") == \
        "Is it going to rain tomorrow"
    assert cut_repeat("Sorry, what time is it out? Hey Fanny, sorry, what time is it out?") == \
        "Sorry, what time is it out?"
    assert cut_repeat("Hey Penny, hey, turn off the timer. Turn off the timer.") == "Hey Penny, hey, turn off the timer."
    assert cut_repeat("Remind me at this afternoon to pick up my kids. This afternoon to pick up my kids.") == \
        "Remind me at this afternoon to pick up my kids."
    assert cut_repeat("What's the capital of Japan, what's the capital of Japan?") == "What's the capital of Japan?"
    # Words used twice in one request are no loop: other words stand between the copies, or the copy is short.
    for said in ("Set a timer for ten minutes and another timer for ten minutes.",
                 "What's the weather, what's the weather like tomorrow?", "New York, New York."):
        assert cut_repeat(said) == said


def test_decoder_threads_leave_a_core_for_listening():
    """stt.cpu_threads 0: every core but one, at most 4 (CTranslate2's own 4 oversubscribed 2 cores: in the
    pipeline a command's decode took 266 ms median with it, 125 ms on one thread). A number set is kept."""
    from penny.adapters.stt.faster_whisper import FasterWhisperSTT, auto_threads

    assert [auto_threads(n) for n in (1, 2, 4, 16)] == [1, 1, 3, 4]
    assert FasterWhisperSTT("m").cpu_threads == auto_threads()
    assert FasterWhisperSTT("m", cpu_threads=2).cpu_threads == 2
    cfg = PennyConfig()
    assert cfg.stt.cpu_threads == 0 and build_stt(cfg).cpu_threads == auto_threads()
