"""VAD engines and the endpointer: event sequences with a scripted VAD, then real speech."""
from __future__ import annotations

import numpy as np
import pytest
from fixtures_speech import add_noise, concat_with_silence, load, noise, silence

from penny.core.endpointer import Endpointer
from penny.adapters.vad.factory import build_vad
from penny.config import PennyConfig, VADConfig
from penny.core.events import AudioChunk, SilenceStarted, SpeechEnded, SpeechStarted
from penny.errors import ConfigError

SR = 16000


class EnergyVAD:
    """Deterministic stand-in: probability 1 for a loud frame, 0 otherwise."""

    name = "energy"
    frame_samples = 320

    def __init__(self):
        self.resets = 0

    def speech_probability(self, frame):
        assert len(frame) == self.frame_samples
        return 1.0 if float(np.abs(frame).max()) > 0.1 else 0.0

    def reset(self):
        self.resets += 1


def bursts(spec: list[tuple[float, float]], total: float) -> np.ndarray:
    """Loud noise at [(start_s, end_s), ...] in `total` seconds of silence."""
    x = np.zeros(int(total * SR), np.float32)
    for a, b in spec:
        x[int(a * SR):int(b * SR)] = 0.5
    return x


def run(ep: Endpointer, x: np.ndarray, chunk: int) -> list:
    events = []
    for i in range(0, len(x), chunk):
        events += ep.process(AudioChunk(x[i:i + chunk], SR))
    return events + ep.flush()


def cfg(**kw) -> VADConfig:
    base = dict(threshold=0.5, min_speech_ms=100, end_silence_ms=500, max_utterance_s=15, preroll_ms=300)
    base.update(kw)
    return VADConfig(**base)


def kinds(events) -> list[str]:
    return [type(e).__name__ for e in events]


# ---- event sequences (scripted VAD) ----
def test_one_utterance_sample_accurate():
    ep = Endpointer(EnergyVAD(), cfg())
    events = run(ep, bursts([(1.0, 2.0)], 4.0), 512)
    assert kinds(events) == ["SpeechStarted", "SilenceStarted", "SpeechEnded"]
    started, pause, ended = events
    assert isinstance(started, SpeechStarted) and started.t == pytest.approx(1.0)
    assert ended.t == pytest.approx(2.0) and ended.start_t == pytest.approx(1.0)
    assert ended.decided_t == pytest.approx(2.5)
    assert pause.t == pytest.approx(2.0) and pause.audio.duration_s >= 1.0
    # audio: 300 ms pre-roll + 1 s of speech + 200 ms tail pad
    assert ended.audio.duration_s == pytest.approx(1.5)
    assert np.all(ended.audio.samples[:int(0.3 * SR)] == 0) and ended.audio.samples[int(0.3 * SR)] == 0.5


@pytest.mark.parametrize("chunk", [1, 77, 320, 512, 4000, 64000])
def test_chunk_size_does_not_change_events(chunk):
    x = bursts([(0.5, 1.2), (1.5, 1.9), (3.0, 4.0)], 5.0)
    ref = run(Endpointer(EnergyVAD(), cfg()), x, 320)
    got = run(Endpointer(EnergyVAD(), cfg()), x, chunk)
    assert kinds(got) == kinds(ref)
    for a, b in zip(got, ref):
        assert a.t == b.t
        if isinstance(a, SpeechEnded):
            assert (a.start_t, a.decided_t) == (b.start_t, b.decided_t)
            assert np.array_equal(a.audio.samples, b.audio.samples)


def test_short_pause_keeps_turn_long_pause_splits():
    x = bursts([(0.5, 1.2), (1.5, 1.9), (3.0, 4.0)], 5.0)  # 300 ms pause, then 1.1 s
    ended = [e for e in run(Endpointer(EnergyVAD(), cfg()), x, 512) if isinstance(e, SpeechEnded)]
    assert [(e.start_t, e.t) for e in ended] == [pytest.approx((0.5, 1.9)), pytest.approx((3.0, 4.0))]


def test_hold_stretches_one_pause_only():
    """A held pause (the user is mid-thought) lasts up to the hold; the next pause is back to end_silence."""
    x = bursts([(0.5, 1.2), (2.2, 2.6), (3.3, 3.5)], 5.0)  # a 1.0 s pause, then a 0.7 s one
    ep = Endpointer(EnergyVAD(), cfg())
    events = []
    for i in range(0, len(x), 320):
        got = ep.process(AudioChunk(x[i:i + 320], SR))
        if any(isinstance(e, SilenceStarted) for e in got) and i < int(2.0 * SR):
            ep.hold(1600)
        events += got
    ended = [e for e in events + ep.flush() if isinstance(e, SpeechEnded)]
    assert [(e.start_t, e.t) for e in ended] == [pytest.approx((0.5, 2.6)), pytest.approx((3.3, 3.5))]


def test_voiced_s_counts_the_voice_since_the_last_pause():
    """Barge-in reads this: a new burst of voice after a pause starts from zero, even inside one utterance."""
    ep = Endpointer(EnergyVAD(), cfg(early_silence_ms=150))
    ep.process(AudioChunk(bursts([(0.0, 0.06)], 0.06), SR))
    assert ep.voiced_s == pytest.approx(0.06)  # not yet confirmed as speech
    ep.process(AudioChunk(bursts([(0.0, 0.5)], 0.5), SR))
    assert ep.voiced_s == pytest.approx(0.56)
    ep.process(AudioChunk(np.zeros(int(0.3 * SR), np.float32), SR))  # a pause, the utterance still open
    ep.process(AudioChunk(bursts([(0.0, 0.1)], 0.1), SR))
    assert ep.in_speech and ep.voiced_s == pytest.approx(0.1)


def test_a_gap_shorter_than_the_burst_gap_keeps_counting_the_voice():
    """"Stop.": the /t/'s closure is a short gap; barge-in's count goes on over it, whenever early_silence_ms
    starts transcribing."""
    ep = Endpointer(EnergyVAD(), cfg(early_silence_ms=64))
    ep.process(AudioChunk(bursts([(0.0, 0.5)], 0.5), SR))
    ep.process(AudioChunk(np.zeros(int(0.08 * SR), np.float32), SR))  # 80 ms: early silence, not a pause
    ep.process(AudioChunk(bursts([(0.0, 0.1)], 0.1), SR))
    assert ep.in_speech and ep.voiced_s == pytest.approx(0.6, abs=0.04)


def test_blip_shorter_than_min_speech_is_ignored():
    x = bursts([(1.0, 1.06), (3.0, 3.04)], 4.0)
    assert run(Endpointer(EnergyVAD(), cfg(min_speech_ms=100)), x, 512) == []


def test_max_utterance_cuts_and_restarts():
    x = bursts([(0.2, 4.2)], 5.0)
    events = run(Endpointer(EnergyVAD(), cfg(max_utterance_s=1.5)), x, 512)
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(ended) >= 2 and ended[0].t - ended[0].start_t == pytest.approx(1.5, abs=0.03)
    assert sum(e.t - e.start_t for e in ended) == pytest.approx(4.0, abs=0.1)


def test_flush_closes_open_utterance_and_reset_restarts_time():
    vad = EnergyVAD()
    ep = Endpointer(vad, cfg())
    events = ep.process(AudioChunk(bursts([(0.5, 2.0)], 2.0), SR))
    assert kinds(events) == ["SpeechStarted"] and ep.in_speech and ep.last_probability == 1.0
    (ended,) = ep.flush()
    assert ended.t == pytest.approx(2.0) and ended.decided_t == pytest.approx(2.0)
    ep.reset()
    assert vad.resets >= 2 and ep.position_s == 0 and not ep.in_speech
    assert kinds(ep.process(AudioChunk(bursts([(0.1, 0.5)], 0.5), SR))) == ["SpeechStarted"]
    assert ep.flush()[0].start_t == pytest.approx(0.1)


def test_preroll_zero_and_int16_input():
    x = (bursts([(1.0, 1.5)], 2.5) * 32767).astype(np.int16)
    events = run(Endpointer(EnergyVAD(), cfg(preroll_ms=0)), x, 400)
    ended = events[-1]
    assert isinstance(ended, SpeechEnded) and ended.audio.samples[0] > 0.4


def test_factory_names_and_errors():
    assert build_vad(PennyConfig()).name == "silero"
    assert build_vad(VADConfig(provider="WebRTC-VAD")).name == "webrtc"
    with pytest.raises(ConfigError, match="silero"):
        build_vad(VADConfig(provider="nope"))


# ---- real engines on synthesized speech ----
@pytest.fixture(scope="module")
def two_commands(piper_say):
    a, b = piper_say("Turn on the kitchen lights."), piper_say("What is the weather tomorrow?")
    return concat_with_silence([a, b], gap_s=1.5, lead_s=1.0, tail_s=1.0), len(load(a)) / SR


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["silero", "webrtc"])
@pytest.mark.parametrize("snr", [None, 20])
def test_two_commands_give_exactly_two_utterances(two_commands, provider, snr):
    x, first_len = two_commands
    if snr is not None:
        x = add_noise(x, snr)
    ep = Endpointer(build_vad(VADConfig(provider=provider)), VADConfig(provider=provider))
    events = run(ep, x, 480)
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(ended) == 2, kinds(events)
    assert kinds(events).count("SpeechStarted") == 2
    first, second = ended
    assert 0.9 <= first.start_t <= 1.3 and first.t <= 1.0 + first_len + 0.1
    assert second.start_t >= 1.0 + first_len + 1.2
    assert all(e.decided_t - e.t == pytest.approx(0.5, abs=0.07) for e in ended)


@pytest.mark.slow
@pytest.mark.parametrize("level,kind", [(-50, "white"), (-30, "white"), (-20, "pink"), (-30, "pink")])
def test_noise_only_gives_no_utterance_silero(level, kind):
    ep = Endpointer(build_vad(PennyConfig()), PennyConfig().vad)
    assert run(ep, np.concatenate([noise(5, level, kind=kind), silence(1)]), 512) == []


@pytest.mark.slow
def test_noise_only_gives_no_utterance_webrtc():
    c = VADConfig(provider="webrtc", webrtc_aggressiveness=3)
    assert run(Endpointer(build_vad(c), c), noise(5, -40), 480) == []


@pytest.mark.slow
def test_silence_started_comes_before_speech_ended(two_commands):
    x, _ = two_commands
    events = run(Endpointer(build_vad(PennyConfig()), PennyConfig().vad), x, 512)
    ks = kinds(events)
    i = ks.index("SpeechEnded")
    assert "SilenceStarted" in ks[:i]
    pause = events[ks.index("SilenceStarted")]
    assert isinstance(pause, SilenceStarted) and pause.audio.duration_s > 1.0


@pytest.mark.slow
def test_engines_on_silence_and_reset():
    for provider in ("silero", "webrtc"):
        vad = build_vad(VADConfig(provider=provider))
        assert vad.speech_probability(np.zeros(vad.frame_samples, np.float32)) < 0.2
        vad.reset()
        with pytest.raises(ValueError):
            vad.speech_probability(np.zeros(vad.frame_samples + 1, np.float32))


@pytest.mark.slow
async def test_preroll_keeps_the_first_word(piper_say):
    """The utterance handed to STT starts before the speech onset, and Whisper hears the first word."""
    from penny.adapters.stt.factory import build_stt

    clip = load(piper_say("Five minutes on the timer, please."))
    onset = int(np.argmax(np.abs(clip) > 0.01))
    x = concat_with_silence([clip], lead_s=1.0, tail_s=1.0)
    ended = [e for e in run(Endpointer(build_vad(PennyConfig()), PennyConfig().vad), x, 512)
             if isinstance(e, SpeechEnded)]
    assert len(ended) == 1
    utt = ended[0]
    audio_start = utt.t + 0.2 - utt.audio.duration_s  # the audio ends 200 ms after t
    assert audio_start <= 1.0 + onset / SR - 0.1  # at least 100 ms of lead-in kept
    text = (await build_stt(PennyConfig()).transcribe(utt.audio)).text.lower()
    assert text.split()[0].strip(",.") in ("five", "5"), text
