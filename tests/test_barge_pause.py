"""Voice over a reply pauses the speaker at its first voiced frame (vad.barge_in_pause): a real barge-in then
stops it for good, a short sound lets it play on, exactly from where it went quiet."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest
from fixtures_speech import silence
from test_continuation import EchoLLM, LoudnessVAD, Sink, ToneSTT, ToneTTS, tone
from test_sinks import FakeOutputStream

from penny.adapters.audio.speaker import SpeakerSink
from penny.app.run_file import feed_audio
from penny.config import PennyConfig
from penny.core.events import AudioChunk

SR = 16000


class PausingSink(Sink):
    """A speaker that can pause: what the session asked of it, in order."""

    def __init__(self, echo_cancelled: bool = True):
        super().__init__(echo_cancelled)
        self.calls: list[str] = []

    async def pause(self) -> None:
        self.calls.append("pause")

    async def resume(self) -> None:
        self.calls.append("resume")

    async def stop(self) -> None:
        self.calls.append("stop")


async def over_a_reply(tmp_path, *sounds: np.ndarray, echo_cancelled: bool = True, frame_ms: int = 32, **vad):
    """A request (220 Hz), then `sounds` fed while its 3 s reply plays, the first at the start of a chunk of
    `frame_ms` (a chunk may hold several VAD frames)."""
    from penny.app.engines import Engines
    from penny.core.endpointer import Endpointer
    from penny.memory.store import MemoryStore

    cfg = PennyConfig.model_validate({"vad": {"end_of_turn": "silence", **vad}, "understanding": {"enabled": False},
                                      "assistant": {"filler_after_ms": 0}})
    engines = Engines(cfg, llm=EchoLLM(), stt=ToneSTT(), tts=ToneTTS(3.0), plugins=None,
                      memory=MemoryStore(tmp_path / "m.db"))
    engines.new_endpointer = lambda: Endpointer(LoudnessVAD(), cfg.vad)  # type: ignore[method-assign]
    sink = PausingSink(echo_cancelled)
    head = np.concatenate([silence(0.3), tone(220, 1.0, 0.3), silence(0.8)])
    audio = np.concatenate([head, np.zeros(-len(head) % 2048, np.float32), *sounds])
    session = engines.new_session(mode="always_listening", sink=sink)
    events: list = []

    async def collect():
        async for ev in session.events():
            events.append(type(ev).__name__)

    collector = asyncio.create_task(collect())
    await feed_audio(session, np.concatenate([audio, silence(0.3)]), realtime=False, frame_ms=frame_ms)
    await session.wait_idle()
    calls, heard = list(sink.calls), list(events)  # before closing the session stops the reply too
    await session.close()
    await collector
    return calls, heard


@pytest.mark.asyncio
async def test_a_short_sound_pauses_the_reply_and_it_plays_on(tmp_path):
    calls, events = await over_a_reply(tmp_path, tone(440, 0.03, 0.3), silence(0.4))  # at most two voiced frames
    assert calls == ["pause", "resume"] and "Interrupted" not in events


@pytest.mark.asyncio
async def test_a_voiced_frame_anywhere_in_a_chunk_pauses(tmp_path):
    """The echo canceller hands on whole 10 ms blocks, so a chunk may hold two VAD frames: "Stop." at 5 dB
    of echo was voiced in the first (p 0.59) and not the second (0.28), and the pause came 130 ms late."""
    calls, _ = await over_a_reply(tmp_path, tone(440, 0.02, 0.3), silence(0.4), frame_ms=64)
    assert calls == ["pause", "resume"]


@pytest.mark.asyncio
async def test_a_barge_in_stops_a_reply_that_went_quiet_at_its_first_voiced_frame(tmp_path):
    calls, events = await over_a_reply(tmp_path, tone(440, 0.5, 0.3), silence(0.6))
    assert calls == ["pause", "stop"] and "Interrupted" in events


@pytest.mark.asyncio
async def test_the_closure_of_a_stop_consonant_does_not_let_the_reply_play_on(tmp_path):
    """"Stop." over a loud reply: its /s/ paused the speaker, then the /t/ closure and AEC3's gate left 128 ms
    with no voice. The reply played on for a moment and the stop came 160 ms after the first pause."""
    calls, events = await over_a_reply(tmp_path, tone(440, 0.064, 0.3), silence(0.128), tone(440, 0.3, 0.3),
                                       silence(0.6))
    assert calls == ["pause", "stop"] and "Interrupted" in events


@pytest.mark.asyncio
async def test_a_voice_between_two_sentences_holds_the_next_one():
    """Nothing sounding at the user's first voiced frame (the next sentence still being made): the sink
    pauses anyway, so that sentence waits instead of starting over the user."""
    from penny.core.output import Playback

    sink = PausingSink()
    playback = Playback(sink, ToneTTS(1.0))
    assert not playback.playing
    await playback.pause()
    assert sink.calls == ["pause"] and playback.paused
    await playback.resume()
    assert sink.calls == ["pause", "resume"] and not playback.paused


@pytest.mark.asyncio
@pytest.mark.parametrize("echo_cancelled, enabled", [(False, True), (True, False)])
async def test_no_pause_where_penny_hears_itself_or_when_turned_off(tmp_path, echo_cancelled, enabled):
    """Without echo cancellation Penny's own voice would pause it all the time; only a sure voice barges in."""
    calls, _ = await over_a_reply(tmp_path, tone(440, 0.03, 0.3), silence(0.4), echo_cancelled=echo_cancelled,
                                  barge_in_pause=enabled)
    assert "pause" not in calls


class ClockedStream(FakeOutputStream):
    """A device 60 ms behind its callback: each block sounds 60 ms after it is handed out."""

    latency = 0.06

    def __init__(self, samplerate, blocksize, callback):
        super().__init__(samplerate, blocksize, callback)
        self.time = 0.0

    def pull(self, blocks=1):
        out = []
        for _ in range(blocks):
            buf = np.zeros((self.blocksize, 1), np.float32)
            info = SimpleNamespace(currentTime=self.time, outputBufferDacTime=self.time + self.latency)
            self.callback(buf, self.blocksize, info, None)
            out.append(buf[:, 0].copy())
            self.time += self.blocksize / self.samplerate
        return np.concatenate(out)


def clocked_speaker() -> tuple[SpeakerSink, list[ClockedStream]]:
    """A SpeakerSink on ClockedStreams, and the streams it opened."""
    made: list[ClockedStream] = []

    def factory(rate, block, callback):
        made.append(ClockedStream(rate, block, callback))
        return made[-1]

    return SpeakerSink(sample_rate=SR, stream_factory=factory, blocksize_ms=20), made


@pytest.mark.asyncio
async def test_the_speaker_plays_on_from_the_first_sample_it_had_not_yet_played():
    sink, made = clocked_speaker()
    ramp = np.arange(SR, dtype=np.float32) / SR  # every sample its own value
    await sink.write(AudioChunk(ramp, SR))
    handed = made[0].pull(10)  # 200 ms handed out; 140 ms of it has sounded by now
    assert np.array_equal(handed, ramp[:3200])
    await sink.pause()
    assert not made[0].active and made[0].aborts == 1  # the device's buffer is dropped: quiet now
    await sink.write(AudioChunk(ramp[:160], SR))  # a reply's next sentence, while paused
    assert not made[0].active
    await sink.resume()
    assert made[0].active
    again = made[0].pull(5)
    assert np.array_equal(again, ramp[2240:2240 + 1600])  # from 140 ms on: nothing lost, nothing twice
    await sink.stop()
    assert sink.queued_s == 0 and not sink.paused


@pytest.mark.asyncio
async def test_a_speaker_paused_between_sentences_starts_the_next_one_only_on_resume():
    from penny.core.output import Playback

    sink, made = clocked_speaker()
    playback = Playback(sink, ToneTTS(1.0))
    await playback.pause()  # the user's first voiced frame, with nothing sounding
    ramp = np.arange(SR // 2, dtype=np.float32) / SR
    await sink.write(AudioChunk(ramp, SR))  # the next sentence arrives
    assert not any(s.active for s in made)  # and waits
    await playback.resume()
    assert made and made[-1].active
    assert np.array_equal(made[-1].pull(3), ramp[:960])  # from its first sample
    await sink.stop()
