"""Penny's own acoustic "Hey Penny" (issue 17), the default wake engine: real synthesized and recorded audio,
the shipped model, real Whisper and a real VoiceSession in wake_word mode."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures_speech import concat_with_silence, load, wake_hits
from test_wake_closed_gate import CHATTER, CountingLLM, CountingSTT, _barge_in, chatter

from penny.adapters.wake.factory import build_wake
from penny.config import PennyConfig, WakeConfig
from penny.core.events import ReplyDone, ReplyStarted, Transcript, WakeDetected
from penny.errors import ModelNotFound

SR = 16000
ROOT = Path(__file__).resolve().parents[1]


def test_streaming_features_are_the_training_features():
    """Training computes whole clips at once; the live stream must give the very same numbers."""
    from penny.adapters.wake.features import EmbeddingStream, clip_embeddings, windows_of

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.02, SR), np.sin(np.arange(2 * SR) / 9) * 0.3]).astype(np.float32)
    stream = EmbeddingStream()
    live = [w for i in range(0, len(x), 700) for w in stream.push(x[i:i + 700])]
    assert np.array_equal(np.array(live), windows_of(clip_embeddings(x)))


def test_default_is_the_acoustic_hey_penny_and_the_others_still_work():
    wake = build_wake(PennyConfig())
    assert wake.hears == "audio" and wake.name == "hey_penny" and 0 < wake.threshold < 1
    assert wake.model_path.name == "hey_penny.onnx" and wake.model_path.stat().st_size < 1_000_000
    assert build_wake(WakeConfig(engine="openwakeword")).name == "hey_jarvis"  # stock models
    assert build_wake(WakeConfig(engine="phrase", phrases=["computer"])).match("Computer, lights on.").command == \
        "lights on"  # custom phrases
    assert build_wake(WakeConfig(model=str(wake.model_path), threshold=0.7)).threshold == 0.7  # a custom .onnx
    with pytest.raises(ModelNotFound, match="hey_penny"):
        build_wake(WakeConfig(model="hey_nobody"))
    repo = json.loads((ROOT / "penny_config.json").read_text())["wake"]  # what `make run` reads
    assert (repo["engine"], repo["model"]) == (WakeConfig().engine, "hey_penny")


def test_consecutive_scores_rule(monkeypatch):
    """The card's `consecutive`: a lone score over the threshold (a spike in ordinary talk) does not fire when 2
    are needed; 2 in a row do, once, at the end of the second; the refractory still holds; reset clears it."""
    from penny.adapters.wake.onnx_wake import OnnxWake

    wake = build_wake(PennyConfig())
    assert wake.consecutive == wake.card.get("consecutive", 1)
    two = OnnxWake("hey_penny", threshold=0.6, consecutive=2)
    one = OnnxWake("hey_penny", threshold=0.6, consecutive=1)
    script = [0.1, 0.9, 0.2, 0.7, 0.8, 0.9, 0.1] + [0.1] * 30 + [0.7, 0.7]  # one score per 80 ms chunk
    for det in (two, one):
        scores = iter(script)
        monkeypatch.setattr(det, "score", lambda window, scores=scores: next(scores))
    chunk = 1280
    x = np.zeros(chunk * len(script), np.float32)
    assert [h.t for h in wake_hits(two, x, frame=chunk)] == [5 * chunk / SR, 39 * chunk / SR]
    assert [h.t for h in wake_hits(one, x, frame=chunk)] == [2 * chunk / SR, 38 * chunk / SR]
    two._above = 1
    two.reset()
    assert two._above == 0


@pytest.fixture(scope="module")
def penny():
    return build_wake(PennyConfig())


@pytest.mark.parametrize("engine,speed", [("piper", 0.9), ("piper", 1.0), ("piper", 1.2),
                                          ("espeak", 140), ("espeak", 175)])
def test_hey_penny_fires_once(penny, piper_say, espeak_say, engine, speed):
    clip = piper_say("Hey Penny", length_scale=speed) if engine == "piper" else espeak_say("Hey Penny", speed=speed)
    x = concat_with_silence([clip], lead_s=1.0, tail_s=1.0)
    found = wake_hits(penny, x)
    assert len(found) == 1, penny.max_score
    assert found[0].name == "hey_penny" and found[0].score >= penny.threshold
    assert 1.0 < found[0].t < len(x) / SR


@pytest.mark.parametrize("frame", [160, 1280, 3000])
def test_any_frame_size(penny, piper_say, frame):
    x = concat_with_silence([piper_say("Hey Penny")], lead_s=1.0, tail_s=1.0)
    found = wake_hits(penny, x, frame)
    assert len(found) == 1 and abs(found[0].t - wake_hits(penny, x, 1280)[0].t) < 0.09


def test_ordinary_speech_does_not_wake_it(penny, piper_say, espeak_say):
    lines = ["What time is it?", "Turn on the kitchen lights.", "Hey Jarvis, set a timer for five minutes.",
             "Alexa, play some music.", "The quick brown fox jumps over the lazy dog."] + CHATTER[:3]
    x = concat_with_silence([piper_say(t) for t in lines] + [espeak_say(t) for t in lines], gap_s=0.7)
    assert wake_hits(penny, x) == [], penny.max_score


@pytest.fixture
def engines(tmp_path):
    """The default config (what `make run` uses for wake), the real skills, Whisper, a counting LLM."""
    from penny.adapters.stt.factory import build_stt
    from penny.adapters.tts.factory import build_tts
    from penny.app.engines import Engines
    from penny.memory.store import MemoryStore
    from penny.plugins.loading import build_plugins

    cfg = PennyConfig()
    cfg = cfg.model_copy(update={"tts": cfg.tts.model_copy(update={"provider": "espeak", "fallbacks": []})})
    return Engines(cfg, llm=CountingLLM(), stt=CountingSTT(build_stt(cfg)), tts=build_tts(cfg, cache=False),
                   plugins=build_plugins(cfg, data_dir=tmp_path / "data"), memory=MemoryStore(tmp_path / "m.db"))


async def run(engines, audio: np.ndarray) -> list:
    from penny.app.run_file import run_turns

    events: list = []
    await run_turns(engines, audio, mode=engines.cfg.wake.mode, all_events=events)
    return events


@pytest.mark.slow
async def test_one_breath_command_is_answered_then_follow_up_then_closed(engines, piper_say):
    x = concat_with_silence([load(piper_say(CHATTER[0])), load(piper_say("Hey Penny, what time is it?")),
                             load(piper_say("And what is the date today?")), np.zeros(9 * SR, np.float32),
                             load(piper_say(CHATTER[1]))], gap_s=1.2)
    events = await run(engines, x)
    wakes = [e for e in events if isinstance(e, WakeDetected)]
    commands = [e.user_text.lower() for e in events if isinstance(e, ReplyStarted)]
    replies = [e.text for e in events if isinstance(e, ReplyDone)]
    heard = " ".join(e.text.lower() for e in events if isinstance(e, Transcript))
    assert len(wakes) == 1 and wakes[0].name == "hey_penny"
    assert len(commands) == 2 and "what time is it" in commands[0] and "date" in commands[1]  # + the follow-up
    assert any(ch.isdigit() for ch in replies[0]) and engines.llm.calls == 0  # the clock skill told the time
    assert "market" not in heard and "train" not in heard  # before the wake word, after the window: never heard


@pytest.mark.slow
async def test_the_llm_gets_the_request_without_the_name_it_was_called_by(engines, piper_say):
    """The acoustic wake word leaves "Hey Penny." in the transcript; SmolLM2 answered "Hey Penny. What's two
    plus two?" with "Hey Penny, how's it going?". The question reaches it alone; the transcript keeps the name."""
    events = await run(engines, concat_with_silence([load(piper_say("Hey Penny, why is the sky blue?"))]))
    heard = [e.text for e in events if isinstance(e, Transcript) and e.text]
    assert heard and "penny" in heard[-1].lower()
    assert len(engines.llm.asked) == 1 and "sky" in engines.llm.asked[0].lower()
    assert "penny" not in engines.llm.asked[0].lower() and engines.llm.asked[0][0].isupper()


@pytest.mark.slow
# (the unaddressed sentence spoken over the reply woke the first model: score 0.76 at its onset)
async def test_barge_in_with_hey_penny(engines, piper_say, monkeypatch):
    monkeypatch.setattr(engines.cfg.wake, "require_during_playback", False)  # about barge-in, not the echo guard
    events = await _barge_in(engines, concat_with_silence([load(piper_say(CHATTER[2]))], lead_s=0.2, tail_s=0.0))
    done = [e for e in events if isinstance(e, ReplyDone)]
    assert len(done) == 1 and done[0].interrupted and engines.stt.calls == 0  # stopped, and heard no further
    events = await _barge_in(engines, concat_with_silence([load(piper_say("Hey Penny, what time is it?"))],
                                                          lead_s=0.2, tail_s=0.0))
    done = [e for e in events if isinstance(e, ReplyDone)]
    commands = [e.user_text.lower() for e in events if isinstance(e, ReplyStarted)]
    assert done[0].interrupted and len(commands) == 2 and "what time is it" in commands[1]


@pytest.mark.slow
# (Piper resynthesizes each session, its sampling noise: the first model woke on some renderings, not others)
async def test_a_minute_of_unaddressed_speech_reaches_nothing(engines, piper_say):
    """The hour-equivalent in the benchmark; here a minute of real recorded and synthesized talk."""
    audio = chatter(piper_say, at_least_s=60.0)
    events = await run(engines, audio)
    assert not [e for e in events if isinstance(e, (WakeDetected, Transcript, ReplyStarted))]
    assert engines.stt.calls == 0 and engines.llm.calls == 0


def test_whisper_is_primed_with_the_wake_phrase(engines):
    """The utterance the acoustic wake word fired in starts with "Hey Penny": Whisper's prompt spells it, or tiny.en
    writes "Hey Tenny" / "K-pen it" and the request after it no longer parses."""
    session = engines.new_session("primed", mode="wake_word")
    assert session.turns.ctx.stt_prompt == "Hey Penny."
    assert "Hey Penny." in engines.assistant.stt_prompt(session.turns.ctx.stt_prompt)
    assert engines.new_session("ptt", mode="push_to_talk").turns.ctx.stt_prompt is None  # no wake word said
