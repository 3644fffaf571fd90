"""A real VoiceSession on a speaker and microphone in one simulated room (issue 15): Silero VAD, the hey_penny
wake model, Whisper and Piper are real; the LLM is a stub that tells a long story. The room runs in real time:
SpeakerSink's and MicSource's callbacks are driven by hand (echo_sim.Rig), with one EchoCanceller between them.
"""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from echo_sim import Rig, speech_db
from fixtures_llm import LLMStub
from fixtures_speech import CountingSTT
from penny.adapters.audio.echo import EchoCanceller, available
from penny.config import PennyConfig
from penny.core.events import (Interrupted, ReplyAudio, ReplyDone, ReplyStarted, SpeechStarted, TextDelta,
                               Transcript, WakeDetected)
from penny.testing_room import at_level

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not available(), reason="pywebrtc-audio is not installed")]

RATE = 16000
LEVEL_DB = -20.0  # the reply's echo and the user's voice, equally loud at the mic
STORY = ("Once upon a time a small dragon lived above a bakery in a quiet mountain village. Every morning she lit "
         "the oven with one gentle breath. She kneaded the dough with her claws and waited while the loaves turned "
         "golden. The villagers were afraid of her at first. But the smell of warm bread brought them to her door, "
         "one by one, until the whole village came for breakfast.")


class StoryLLM(LLMStub):
    name, model, supports_tools = "story", "story", False

    async def stream(self, messages, tools=None, **kw):
        for word in STORY.split(" "):
            yield TextDelta(word + " ")


@pytest.fixture(scope="module")
def parts():
    from penny.adapters.stt.factory import build_stt
    from penny.adapters.tts.factory import build_tts
    from penny.testing import piper_16k

    # Piper samples noise unless told not to: the same story and the same user, run after run
    cfg = PennyConfig.model_validate({"vad": {"end_of_turn": "silence"}, "tts": {"noise_scale": 0.0, "noise_w": 0.0}})
    stt = build_stt(cfg)
    stt.warmup()
    user = piper_16k("Wait, what time is it?", length_scale=1.2, noise_scale=0.0, noise_w_scale=0.0)
    voiced = np.flatnonzero(np.abs(user) > 0.01)
    return cfg, stt, build_tts(cfg, cache=False), speech_db(piper_16k(STORY, noise_scale=0.0, noise_w_scale=0.0)), user[voiced[0]:voiced[-1] + 1]


def engines_for(parts, tmp_path, mode: str, **vad):
    from penny.app.engines import Engines
    from penny.memory.store import MemoryStore

    cfg, stt, tts, _, _ = parts
    cfg = cfg.model_copy(update={"wake": cfg.wake.model_copy(update={"mode": mode}),
                                 "vad": cfg.vad.model_copy(update=vad)})
    return Engines(cfg, llm=StoryLLM(), stt=CountingSTT(stt), tts=tts, plugins=None,
                   memory=MemoryStore(tmp_path / "m.db"))


async def run_room(engines, rig: Rig, mode: str, *, seconds: float, user: np.ndarray | None = None,
                   user_at_s: float = 0.0):
    """Penny tells the story on the rig's speaker while the rig's mic feeds the session, in real time."""
    session = engines.new_session(mode=mode, sink=rig.sink)
    events: list[tuple[float, object]] = []
    fed = [0]  # samples the session has been fed: its stream time
    stops: list[tuple[float, float]] = []  # (stream time, rig time) of each sink.stop()
    pauses: list[tuple[float, float, str]] = []  # (stream time, rig time, "pause" / "resume")
    real_stop, real_pause, real_resume = rig.sink.stop, rig.sink.pause, rig.sink.resume

    async def stop():
        stops.append((fed[0] / RATE, rig.t))
        await real_stop()

    async def pause():
        pauses.append((fed[0] / RATE, rig.t, "pause"))
        await real_pause()

    async def resume():
        pauses.append((fed[0] / RATE, rig.t, "resume"))
        await real_resume()

    rig.sink.stop, rig.sink.pause, rig.sink.resume = stop, pause, resume  # type: ignore[method-assign]

    async def pump():
        async for frame in rig.source.frames():
            fed[0] += len(frame.samples)
            await session.feed(frame)

    async def collect():
        async for ev in session.events():
            events.append((fed[0] / RATE, ev))

    tasks = [asyncio.create_task(pump()), asyncio.create_task(collect())]
    while "in" not in rig.streams:
        await asyncio.sleep(0)
    await session.ask("Tell me a story about a dragon.")
    while not any(isinstance(e, ReplyAudio) for _, e in events):
        rig.step()  # the speaker is idle, the room quiet, until the first audio
        await asyncio.sleep(0.01)
    start = rig.t
    if user is not None:
        rig.say(at_level(user, LEVEL_DB), start + user_at_s)
    t0 = time.perf_counter() - start
    while rig.t < start + seconds:
        rig.step()
        ahead = t0 + rig.t - time.perf_counter()
        await asyncio.sleep(max(0.0, ahead))
        if user is None and any(isinstance(e, ReplyDone) for _, e in events) and rig.t > start + 3:
            # and the speaker has played it all: on a busy machine the rig runs behind real time, and the
            # turn's drain gives up on a device that slow (its wall-clock deadline) before the story has played
            if rig.t > max(t for t, e in events if isinstance(e, ReplyDone)) + 1.0 and rig.sink.queued_s == 0:
                break
    await rig.source.close()
    await session.close()
    for task in tasks:
        task.cancel()
    rig.pauses = pauses  # type: ignore[attr-defined]
    return events, stops, start


async def test_a_long_reply_does_not_barge_in_wake_or_start_a_turn(parts, tmp_path):
    engines = engines_for(parts, tmp_path, "wake_word")
    reply_db = parts[3]
    rig = Rig(delay_ms=80, echo_gain_db=LEVEL_DB - reply_db, drift=0.001, canceller=EchoCanceller(), mic_ms=32)
    events, stops, start = await run_room(engines, rig, "wake_word", seconds=40.0)
    kinds = [f"{type(e).__name__}@{t:.2f}{getattr(e, 'score', '')}" for t, e in events if type(e).__name__ not in ("StageEvent", "ReplyDelta",
                                                                                          "ReplyAudio", "TextDelta")]
    played_s = sum(map(len, rig.played)) / RATE
    done = [e for _, e in events if isinstance(e, ReplyDone)]
    assert done and not done[0].interrupted, kinds
    assert played_s > 10.0  # the whole story played into the room
    assert not [e for _, e in events if isinstance(e, (Interrupted, WakeDetected, SpeechStarted, Transcript))], kinds
    assert len([e for _, e in events if isinstance(e, ReplyStarted)]) == 1
    assert engines.stt.calls == 0
    # a pause at a voiced frame of Penny's own echo plays on (a stutter, never a cut); few, and all played on
    paused = [p for p in rig.pauses if p[2] == "pause"]
    print(f"{len(paused)} pauses over {played_s:.1f} s of reply, all played on")
    assert len(paused) <= 3 and len(paused) == len([p for p in rig.pauses if p[2] == "resume"])


def clean_burst_s(user: np.ndarray, voiced_ms: int) -> float:
    """How long Silero needs, on the user's clean voice alone, to hear `voiced_ms` of voice in a row."""
    from penny.adapters.vad.silero import SileroVAD

    vad, run = SileroVAD(), 0
    x = np.concatenate([np.zeros(RATE // 2, np.float32), user])
    for i in range(0, len(x) - 512, 512):
        run = run + 512 if vad.speech_probability(x[i:i + 512]) >= 0.5 else 0
        if run >= voiced_ms * RATE / 1000:
            return (i + 512) / RATE - 0.5
    raise AssertionError("Silero never heard the user")


async def test_the_user_stops_the_reply_by_speaking_over_it(parts, tmp_path):
    engines = engines_for(parts, tmp_path, "always_listening")
    user = parts[4]
    rig = Rig(delay_ms=80, echo_gain_db=LEVEL_DB - parts[3], drift=0.001, canceller=EchoCanceller(), mic_ms=32)
    user_at = 5.0
    events, stops, start = await run_room(engines, rig, "always_listening", seconds=user_at + 3.0, user=user,
                                          user_at_s=user_at)
    onset = start + user_at  # the user's first sample (the clip is trimmed to its first sound)
    before = [s for s in stops if s[1] < onset]
    after = [s for s in stops if s[1] >= onset]
    assert not [s for s in before if s[1] > start + 0.5], "stopped before the user spoke"
    assert after and any(isinstance(e, Interrupted) for _, e in events), [type(e).__name__ for _, e in events]
    paused = [p for p in rig.pauses if p[1] >= onset]
    if paused and paused[-1][2] == "pause":  # it went quiet at its last pause and never played on
        assert paused[-1][1] <= after[0][1]
        after = [paused[-1][:2]]
    stream_latency = after[0][0] - onset
    vad = engines.cfg.vad
    clean = clean_burst_s(user, getattr(vad, "barge_in_ms", vad.min_speech_ms))
    print(f"barge-in: the reply stopped {stream_latency * 1000:.0f} ms after the user's onset (stream time; "
          f"{(after[0][1] - onset) * 1000:.0f} ms on the room's clock); Silero alone on the clean voice: "
          f"{clean * 1000:.0f} ms")
    # Measured 242-248 ms ("Wait, ...", echo as loud as the user; 176-240 ms over random Piper renderings),
    # Silero on the clean voice 108 ms: AEC3's own delay (14 ms) and its double-talk detection, which mutes the
    # first ~50 ms of the user's word, cost the rest. Over random renderings about 1 in 8 "Wait"s kept only two
    # voiced frames and the reply stopped on the next word (~1 s): a short first word is AEC3's weak spot.
    assert stream_latency <= clean + 0.2
