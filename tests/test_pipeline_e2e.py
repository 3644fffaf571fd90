"""The whole voice loop with the real embedded models: Whisper hears, SmolLM2/skills answer, Piper speaks."""
from __future__ import annotations

import asyncio
import datetime as dt
import re
import time

import numpy as np
import pytest
import pytest_asyncio

from fixtures_speech import load, silence, synth_piper
from penny.config import PennyConfig
from penny.app.engines import Engines
from penny.core.events import ReplyAudio, SpeechStarted, TurnTrace
from penny.app.run_file import run_file, run_turns

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

HOMOPHONES = {2: ("to", "too"), 4: ("for",), 8: ("ate",)}
HOUR_WORDS = ["twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]


def e2e_config(tmp, **llm) -> PennyConfig:
    return PennyConfig.model_validate({
        "llm": {"provider": "embedded", **llm},
        "memory": {"path": str(tmp / "memory.db")},
        "tts": {"cache": {"dir": str(tmp / "tts-cache")}},
        "wake": {"mode": "always_listening"},
    })


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    engines = await Engines.load(e2e_config(tmp), data_dir=tmp / "data")
    yield engines
    await engines.aclose()


def trimmed(path) -> np.ndarray:
    """The synthesized speech without its leading and trailing silence."""
    x = load(path)
    voiced = np.flatnonzero(np.abs(x) > 0.01)
    margin = int(0.08 * 16000)  # keep soft onsets and endings ("s", "f") intact
    return x[max(0, voiced[0] - margin):voiced[-1] + 1 + margin]


def ordered(trace: TurnTrace, names: list[str]) -> bool:
    times = [trace.marks[n] for n in names]
    return all(a <= b + 1e-6 for a, b in zip(times, times[1:]))


def in_order(trace: TurnTrace, reply: list[str]) -> bool:
    """The reply's stages in order after the end of speech; the turn may end before or after its words are
    understood (Whisper starts at the pause, the turn model may need the words), but nothing is heard before."""
    return ordered(trace, ["speech_end", "end_of_turn", "first_audio"]) and ordered(trace, ["speech_end", *reply])


def hour_said(text: str, hours: set[int]) -> bool:
    # Whisper writes "two forty-five" as "2.45", "2:45" or "245", "two oh four" as "2004", and "four"
    # sometimes as "for".
    words = re.findall(r"[a-z]+|\d+", text.lower())
    # tiny.en hears Piper's "eight" as "a": "It's 8:03 pm" -> "It's a 0 3 p m", "it's a twenty two p m"
    if 8 in hours and re.search(r"\bit'?s an? \S.*\b[ap](?:'?d)?\.? ?m\b", text.lower()):
        return True
    return any(w in (HOUR_WORDS[h % 12], *HOMOPHONES.get(h, ())) or re.fullmatch(rf"{h}(0?\d\d)?", w)
               for h in hours for w in words)


async def test_time_question_reply_wav_says_the_current_hour(engines, tmp_path):
    question = synth_piper("What time is it?")
    out = tmp_path / "answer.wav"
    before = dt.datetime.now()
    [turn] = await run_file(engines, question, out)
    after = dt.datetime.now()
    assert turn.transcript.lower().startswith("what time is it")
    assert turn.trace.intent == "clock"
    [saved] = engines.memory.turns(turn.trace.session_id)  # a speculative answer is kept once committed
    assert saved.reply_text == turn.reply and not saved.interrupted
    heard = await engines.stt.transcribe(_read(out))
    hours = {before.hour % 12 or 12, after.hour % 12 or 12}
    # Whisper as the judge: at 4:44 its best reading ("It's 4, 4, 4, ...") was dropped as a decoding loop, so
    # the beam's next reading counts too
    said = heard.text or (heard.alternatives[0].text if heard.alternatives else "")
    assert hour_said(said, hours), (turn.reply, heard)
    assert in_order(turn.trace, ["transcript", "first_token", "first_chunk", "first_audio", "playback_start",
                                 "turn_end"])


def _read(path):
    from penny.adapters.audio.wavfile import read_audio

    return read_audio(path)


async def test_general_question_is_answered_by_the_embedded_llm_through_streaming_tts(engines):
    audio = load(synth_piper("What is the capital of France?"))
    [turn] = await run_turns(engines, audio)
    assert "france" in turn.transcript.lower()
    assert turn.trace.intent is None and turn.trace.backends["llm"].startswith("embedded")
    assert turn.reply and turn.audio_s > 0.5
    chunks = [e for e in turn.events if isinstance(e, ReplyAudio)]
    assert len(chunks) >= 1
    assert in_order(turn.trace, ["transcript", "first_token", "first_chunk", "first_audio", "turn_end"])
    assert not turn.interrupted


async def test_the_history_is_read_ahead_while_the_user_asks_again(engines, monkeypatch):
    """Assistant.prepare at the second question's first sound: SmolLM2 reads the first exchange while the user
    talks, so the question itself only adds its own words to the cached prompt."""
    llm = engines.llm.active
    calls: list[list[dict]] = []
    real = llm.stream

    def spy(messages, *args, **kw):
        calls.append(messages)
        return real(messages, *args, **kw)

    monkeypatch.setattr(llm, "stream", spy)
    first, second = load(synth_piper("What is the capital of France?")), load(synth_piper("Why is the sky blue?"))
    turns = await run_turns(engines, np.concatenate([silence(0.3), first, silence(4.0), second, silence(1.5)]),
                            realtime=True)
    assert len(turns) == 2 and "sky" in turns[1].transcript.lower()
    asked = [i for i, m in enumerate(calls) if m[-1]["content"] != "Hello."]
    ahead = [i for i, m in enumerate(calls) if m[-1]["content"] == "Hello." and "France" in str(m)]
    assert ahead and ahead[0] < asked[-1]  # read before the second question was asked
    assert calls[ahead[0]][:-2] == calls[asked[-1]][:-2]  # the same prompt up to the question's time note


class PlayingSink:
    """Plays in real time, like a speaker: drain() returns when the written audio would have ended."""

    echo_cancelled = False  # a speaker Penny's microphone hears

    def __init__(self):
        self.until = 0.0

    async def write(self, chunk) -> None:
        self.until = max(time.perf_counter(), self.until) + chunk.duration_s

    async def drain(self) -> None:
        await asyncio.sleep(max(0.0, self.until - time.perf_counter()))

    async def stop(self) -> None:
        self.until = 0.0


@pytest.mark.xfail(strict=False, reason="timing-dependent in the full suite: seen twice in a clean clone, the "
                   "first turn was stored as not interrupted (passes alone and as a module); issue 13's "
                   "turn runner is to give cancellation one home")
async def test_barge_in_stops_the_first_reply_and_answers_the_second(engines, monkeypatch):
    # A turn lasts until its reply has played (a speaker sink), so a fast LLM cannot finish it early;
    # this test is about barge-in itself, not the speaker path's echo guard.
    monkeypatch.setattr(engines.cfg.wake, "require_during_playback", False)
    first = load(synth_piper("Tell me a long story about a dragon who learns to bake bread."))
    second = load(synth_piper("What time is it?"))
    # The second request arrives 1 s after the first ends: Penny is answering the first by then.
    audio = np.concatenate([first, silence(1.0), second])
    turns = await run_turns(engines, audio, realtime=True, sink=PlayingSink())
    assert len(turns) == 2, [(t.transcript, t.reply) for t in turns]
    assert turns[0].interrupted and turns[0].trace.interrupted
    assert not turns[1].interrupted and turns[1].trace.intent == "clock"
    events = turns[0].events + turns[1].events
    assert any(isinstance(e, SpeechStarted) for e in events)
    session_id = turns[0].trace.session_id
    history = engines.memory.turns(session_id)
    assert [t.interrupted for t in history] == [True, False]
    assert "dragon" in history[0].user_text.lower()


@pytest.mark.xfail(strict=False, reason="timing budget: the early end of turn needs the speculative STT and the "
                   "turn model done before the 500 ms silence rule; on a loaded 2-core machine they can miss it")
async def test_a_finished_question_ends_the_turn_on_a_short_pause(engines):
    [turn] = await run_turns(engines, load(synth_piper("How many legs does a spider have?")), realtime=True)
    assert turn.trace.end_rule == "model" and turn.trace.end_p >= 0.5  # the default rule: Smart Turn + words
    assert "spider" in turn.transcript.lower() and turn.reply
    [saved] = engines.memory.turns(turn.trace.session_id)
    assert saved.reply_text == turn.reply


@pytest.mark.xfail(strict=False, reason="timing budget: the early end of turn needs the speculative STT and the "
                   "turn model done before the 500 ms silence rule; on a loaded 2-core machine they can miss it")
async def test_a_read_only_skill_is_answered_speculatively_and_kept(engines):
    [turn] = await run_turns(engines, load(synth_piper("What's the date today?")), realtime=True)
    assert turn.trace.intent == "clock" and turn.trace.end_rule == "model"
    # the skill answered while the pause was still running: before the end of turn was decided
    assert turn.trace.marks["first_token"] <= turn.trace.marks["end_of_turn"]
    assert [t.reply_text for t in engines.memory.turns(turn.trace.session_id)] == [turn.reply]


async def test_a_pause_mid_sentence_does_not_end_the_turn(engines):
    # A 350 ms pause: longer than the semantic end of turn (300 ms), shorter than the silence one (500 ms).
    audio = np.concatenate([trimmed(synth_piper("Set a timer for")), silence(0.35),
                            trimmed(synth_piper("ten minutes."))])
    turns = await run_turns(engines, audio, realtime=True)
    assert len(turns) == 1, [t.transcript for t in turns]
    [turn] = turns
    assert "timer" in turn.transcript.lower() and ("ten" in turn.transcript.lower() or "10" in turn.transcript)
    assert turn.trace.intent == "timers"


@pytest.mark.parametrize("pause_s", [0.8, 1.2])
async def test_a_thinking_pause_is_not_cut_off_by_the_model_rule(engines, pause_s):
    # "Set a timer for, um" + a long pause: past the 500 ms silence rule; the turn model and the words hold it.
    audio = np.concatenate([trimmed(synth_piper("Set a timer for, um")), silence(pause_s),
                            trimmed(synth_piper("twelve minutes."))])
    turns = await run_turns(engines, audio, realtime=True)
    assert len(turns) == 1, [t.transcript for t in turns]
    [turn] = turns
    assert "twelve" in turn.transcript.lower() or "12" in turn.transcript
    assert turn.trace.intent == "timers"
