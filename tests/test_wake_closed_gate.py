"""A closed gate means closed (issue 17): with openWakeWord, audio goes to the wake model and the VAD only
until a detection. Real audio (recorded human speech and Piper), the real openWakeWord model, real Whisper."""
from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from fixtures_speech import CountingSTT, concat_with_silence, load

from penny.core.wake_gate import WakeGate
from penny.config import PennyConfig, WakeConfig
from penny.core.events import (AudioChunk, Listening, ReplyAudio, ReplyDone, ReplyStarted, SpeechEnded,
                               TextDelta, Transcript, WakeDetected)
from fixtures_llm import LLMStub

SR = 16000
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
CHATTER = ["I was thinking we could go to the market on Saturday morning.",
           "The train was late again, so I missed the first half of the meeting.",
           "Did you see the game last night? The second half was unbelievable.",
           "My sister is coming over for dinner, we should buy some bread and cheese.",
           "I can never remember where I put my keys when I get home from work."]


class CountingLLM(LLMStub):
    name, model, supports_tools = "echo", "echo", False

    def __init__(self):
        self.calls = 0
        self.asked: list[str] = []  # the user's words of each call

    async def stream(self, messages, tools=None):
        self.calls += 1
        self.asked.append(messages[-1]["content"])
        yield TextDelta("You said: " + messages[-1]["content"])


CFG = PennyConfig(wake=WakeConfig(mode="wake_word", engine="openwakeword", model="hey_jarvis"))
CFG = CFG.model_copy(update={"tts": CFG.tts.model_copy(update={"provider": "espeak", "fallbacks": []})})


@pytest.fixture(scope="module")
def real_stt():
    from penny.adapters.stt.factory import build_stt

    return build_stt(CFG)


@pytest.fixture
def engines(tmp_path, real_stt):
    from penny.adapters.tts.factory import build_tts
    from penny.app.engines import Engines
    from penny.memory.store import MemoryStore

    return Engines(CFG, llm=CountingLLM(), stt=CountingSTT(real_stt), tts=build_tts(CFG, cache=False),
                   plugins=None, memory=MemoryStore(tmp_path / "m.db"))


def chatter(piper_say, at_least_s: float = 30.0) -> np.ndarray:
    """Speech not addressed to Penny: Debian's recorded human speech (pocketsphinx test data), topped up
    with Piper when that is missing."""
    clips = [load(p) for p in sorted((POCKETSPHINX / "librivox").glob("*.wav"))]
    for raw in ("goforward.raw", "numbers.raw", "something.raw"):
        if (POCKETSPHINX / raw).is_file():
            clips.append(np.fromfile(POCKETSPHINX / raw, "<i2").astype(np.float32) / 32768.0)
    for line in CHATTER * 4:
        if sum(len(c) for c in clips) >= at_least_s * SR:
            break
        clips.append(load(piper_say(line)))
    return concat_with_silence(clips, gap_s=0.8)


async def run(engines, audio: np.ndarray) -> list:
    from penny.app.run_file import run_turns

    events: list = []
    await run_turns(engines, audio, mode="wake_word", all_events=events)
    return events


def test_gate_admits_only_what_the_acoustic_engine_woke_for():
    class Acoustic:
        hears = "audio"
        name = "hey_jarvis"

        def process(self, frame, t):
            return None

    gate = WakeGate.for_engine("wake_word", Acoustic(), follow_up_s=8)
    assert gate.acoustic and gate.wake_word == "hey jarvis"
    assert not gate.admits(1.0, 3.0)  # closed, nothing detected
    gate.wake(12.5)
    assert gate.admits(12.0, 14.0)  # the detection is inside the utterance
    assert gate.admits(13.0, 15.0)  # just before it / the listening window it opened
    gate.close()
    assert not gate.admits(30.0, 32.0)
    gate.answered(40.0)
    assert gate.admits(45.0, 47.0) and not gate.admits(49.0, 50.0)  # follow-up window, then closed
    # the phrase engine transcribes to find its phrase: it admits everything
    from penny.adapters.wake.phrase import PhraseWake
    assert WakeGate.for_engine("wake_word", PhraseWake(["hey penny"])).admits(1.0, 3.0)
    assert WakeGate.for_engine("always_listening", None).admits(1.0, 3.0)


def test_gate_reports_its_state_changes():
    gate = WakeGate("wake_word", follow_up_s=8)
    first = gate.poll(0.1)
    assert first == Listening(False, "start", 0.1, "") and gate.poll(0.2) is None
    gate.wake(1.0)
    assert gate.poll(1.1).open and gate.poll(1.2) is None
    gate.close()
    assert gate.poll(2.0) == Listening(False, "heard", 2.0, "")
    gate.answered(3.0)
    assert gate.poll(3.1) == Listening(True, "follow_up", 3.1, "")
    assert gate.poll(12.0) == Listening(False, "timeout", 12.0, "")
    assert WakeGate("always_listening").poll(1.0) is None


@pytest.mark.slow
async def test_closed_gate_sends_nothing_to_stt_or_llm(engines, piper_say):
    audio = chatter(piper_say)
    assert len(audio) >= 30 * SR
    events = await run(engines, audio)
    utterances = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(utterances) >= 5  # the VAD heard the speech...
    assert not [e for e in events if isinstance(e, WakeDetected)]
    assert engines.stt.calls == 0 and engines.llm.calls == 0  # ...and nothing went further
    assert not [e for e in events if isinstance(e, (Transcript, ReplyStarted, ReplyAudio))]
    states = [e for e in events if isinstance(e, Listening)]
    assert states == [Listening(False, "start", states[0].t, "hey jarvis")]  # waiting for the name, throughout


@pytest.mark.slow
async def test_one_breath_command_and_follow_up_and_closing_again(engines, piper_say):
    x = concat_with_silence([load(piper_say(CHATTER[0])), load(piper_say("Hey Jarvis, what time is it?")),
                             load(piper_say("And what is the date today?")), np.zeros(9 * SR, np.float32),
                             load(piper_say(CHATTER[1]))], gap_s=1.2)
    events = await run(engines, x)
    wakes = [e for e in events if isinstance(e, WakeDetected)]
    commands = [e.user_text.lower() for e in events if isinstance(e, ReplyStarted)]
    heard = " ".join(e.text.lower() for e in events if isinstance(e, Transcript))
    assert len(wakes) == 1
    assert len(commands) == 2 and "what time is it" in commands[0] and "date" in commands[1]  # follow-up
    assert "market" not in heard and "train" not in heard  # before the wake word, after the window: never heard
    assert engines.llm.calls >= 2
    states = [(e.open, e.reason) for e in events if isinstance(e, Listening)]
    assert states[:2] == [(False, "start"), (True, "wake")]
    assert states[-1] == (False, "timeout")  # fed faster than real time, the turns (closed while answering,
    # then open for the follow-up) fall between two audio frames: the window just stays open until the timeout


@pytest.mark.slow
async def test_wake_only_opens_the_window_for_the_next_utterance(engines, piper_say):
    x = concat_with_silence([load(piper_say("Hey Jarvis")), load(piper_say("Turn on the kitchen lights."))],
                            gap_s=1.2)
    events = await run(engines, x)
    commands = [e.user_text.lower() for e in events if isinstance(e, ReplyStarted)]
    assert len(commands) == 1 and "kitchen lights" in commands[0]


class PlayingSink:
    """A speaker whose first reply plays until someone stops it (the barge-in); later ones end at once."""

    echo_cancelled = False  # a speaker Penny's microphone hears

    def __init__(self):
        self.stopped, self.first, self.written = asyncio.Event(), True, False

    async def write(self, chunk) -> None:
        if not self.written:  # a stop before the reply (ask() interrupts first) does not count
            self.written = True
            self.stopped.clear()

    async def drain(self) -> None:
        if self.first:
            self.first = False
            await asyncio.wait_for(self.stopped.wait(), 60)

    async def stop(self) -> None:
        self.stopped.set()

    async def close(self) -> None:
        pass


async def _barge_in(engines, speech: np.ndarray) -> list:
    """Penny is answering (a typed question, still playing); the user speaks over it."""
    session = engines.new_session(mode="wake_word", sink=PlayingSink())
    events: list = []
    playing = asyncio.Event()

    async def collect():
        async for ev in session.events():
            events.append(ev)
            if isinstance(ev, ReplyAudio):
                playing.set()

    collector = asyncio.create_task(collect())
    await session.ask("tell me about the lighthouse keeper who counted ships")
    await asyncio.wait_for(playing.wait(), 60)
    x = np.concatenate([speech, np.zeros(int(0.9 * SR), np.float32)])
    for i in range(0, len(x), 512):  # faster than real time, while the reply plays
        await session.feed(AudioChunk(x[i:i + 512], SR))
        await asyncio.sleep(0)
    await session.end_of_input()
    await session.wait_idle()
    await session.close()
    await collector
    return events


@pytest.mark.slow
async def test_barge_in_still_stops_the_reply_and_a_woken_one_is_answered(engines, piper_say, monkeypatch):
    monkeypatch.setattr(engines.cfg.wake, "require_during_playback", False)  # about barge-in, not the echo guard
    events = await _barge_in(engines, concat_with_silence([load(piper_say(CHATTER[2]))], lead_s=0.2, tail_s=0.0))
    done = [e for e in events if isinstance(e, ReplyDone)]
    assert len(done) == 1 and done[0].interrupted  # speech over the reply stops it, as before
    assert engines.stt.calls == 0 and engines.llm.calls == 1  # but unaddressed speech goes no further
    events = await _barge_in(engines, concat_with_silence([load(piper_say("Hey Jarvis, what time is it?"))],
                                                          lead_s=0.2, tail_s=0.0))
    done = [e for e in events if isinstance(e, ReplyDone)]
    commands = [e.user_text.lower() for e in events if isinstance(e, ReplyStarted)]
    assert done[0].interrupted and len(commands) == 2 and "what time is it" in commands[1]


def test_listening_reaches_the_page_and_the_terminal():
    from penny.app.listen import describe
    from penny.server.protocol import event_message

    closed = Listening(False, "start", 0.1, "hey jarvis")
    assert event_message(closed) == {"type": "listening", "open": False, "reason": "start", "t": 0.1,
                                     "wake_word": "hey jarvis"}
    assert describe(closed) == "-- waiting for 'hey jarvis'"
    assert describe(Listening(True, "wake", 1.0, "hey jarvis")) == "-- listening to you"
    assert "no wake word needed" in describe(Listening(True, "follow_up", 1.0, "hey jarvis"))
