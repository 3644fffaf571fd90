"""Penny's speaker and microphone in a simulated room, driven through their real PortAudio callbacks.

`Rig` owns a SpeakerSink and a MicSource on fake streams, sharing one EchoCanceller, and a Room between
them. Each `step()` is one mic block of time: the speaker callbacks due by then run (stamped with their DAC
time, the speaker's clock `1 + drift` times the mic's), the room hears what they wrote, the user and noise
are added, and the mic callback gets the block stamped with its ADC time. Nothing is played twice: the
echo is made from exactly what the sink's callback wrote.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from penny.adapters.audio.device import MicSource
from penny.adapters.audio.echo import EchoCanceller, TimedResampler
from penny.adapters.audio.speaker import SpeakerSink
from penny.core.events import AudioChunk
from penny.testing_room import Room, active_rms_db, at_level

RATE = 16000
SPEAKER_RATE = 48000
OK = SimpleNamespace(input_overflow=False, output_underflow=False)


class FakeStream:
    """What the sinks use of a sounddevice stream; the rig calls the callback itself."""

    def __init__(self, samplerate, blocksize, callback, latency=0.0):
        self.samplerate, self.blocksize, self.callback, self.latency = samplerate, blocksize, callback, latency
        self.active = False
        self.time = 0.0  # stream time now (the rig keeps it)

    on_abort = None

    def start(self):
        self.active = True

    def stop(self):
        self.active = False

    def abort(self):
        self.active = False
        if self.on_abort is not None:
            self.on_abort()

    def close(self):
        self.active = False


class Rig:
    def __init__(self, *, delay_ms: float, echo_gain_db: float, drift: float = 0.0, rt60_s: float = 0.4,
                 noise_db: float = -60.0, canceller: EchoCanceller | None = None, speaker_ms: int = 20,
                 mic_ms: int = 32, seed: int = 0, dac_error_ms: float = 0.0, jitter_ms: float = 0.0):
        self.canceller = canceller
        self.dac_error_s, self.jitter_s = dac_error_ms / 1000, jitter_ms / 1000  # what the device reports wrong
        self.delay_s = delay_ms / 1000
        self.streams: dict[str, FakeStream] = {}
        self.sink = SpeakerSink(sample_rate=SPEAKER_RATE, stream_factory=self._open("out", delay_ms / 1000),
                                echo=canceller, blocksize_ms=speaker_ms)
        self.source = MicSource(frame_ms=mic_ms, stream_factory=self._open("in", 0.0), device_rate=RATE,
                                echo=canceller, max_queue_s=600)
        self.room = Room(delay_ms=delay_ms, rt60_s=rt60_s, gain_db=echo_gain_db, drift=drift, seed=seed)
        self.sp_block = SPEAKER_RATE * speaker_ms // 1000
        self.sp_period = speaker_ms / 1000 / (1 + drift)  # the speaker's 20 ms, in true (mic) time
        self.mic_block = RATE * mic_ms // 1000
        self._to16k = TimedResampler(SPEAKER_RATE, quality="QQ")  # the room must hear what played, now (HQ lags)
        self._rng = np.random.default_rng(seed + 1)
        self.noise = 10 ** (noise_db / 20)
        self.user = np.zeros(0, np.float32)  # the user's voice at the mic, from t = 0
        self.k = 0  # speaker callbacks run
        self.j = 0  # mic blocks captured
        self.mic: list[np.ndarray] = []
        self.echo: list[np.ndarray] = []
        self.played: list[np.ndarray] = []

    def _open(self, name: str, latency: float):
        def factory(rate, block, callback):
            self.streams[name] = FakeStream(rate, block, callback, latency)
            if name == "out":
                self.streams[name].on_abort = self._aborted
            return self.streams[name]
        return factory

    def _aborted(self) -> None:
        # what was written for later than now never plays; the room heard it when the callback wrote it
        self.room.stop_after(self.streams["out"].time + self.delay_s - self.t)

    @property
    def t(self) -> float:
        """True time now: the end of the last captured mic block."""
        return self.j * self.mic_block / RATE

    def say(self, voice: np.ndarray, at_s: float) -> None:
        """The user speaks `voice` (already at its level at the mic) from time `at_s`."""
        end = int(at_s * RATE) + len(voice)
        if len(self.user) < end:
            self.user = np.pad(self.user, (0, end - len(self.user)))
        self.user[int(at_s * RATE):end] += voice

    def step(self) -> None:
        t_adc = self.t
        t_cb = t_adc + self.mic_block / RATE
        while self.k * self.sp_period <= t_cb:  # every speaker callback due before this mic callback
            now = self.k * self.sp_period
            out = np.zeros((self.sp_block, 1), np.float32)
            stream = self.streams.get("out")
            if stream is not None and stream.active:  # an aborted/unstarted stream plays nothing
                stream.time = now
                dac = now + self.delay_s + self.dac_error_s + self._rng.uniform(-1, 1) * self.jitter_s
                self.sink._callback(out, self.sp_block, SimpleNamespace(currentTime=now, outputBufferDacTime=dac), OK)
            self.room.play(played := self._to16k.process(out[:, 0], now)[0])
            self.played.append(played)
            self.k += 1
        if "out" in self.streams:
            self.streams["out"].time = t_cb
        n = self.mic_block
        echo = self.room.hear(n)
        lo = self.j * n
        user = np.pad(self.user[lo:lo + n], (0, max(0, lo + n - max(lo, len(self.user)))))[:n]
        block = (echo + user + self._rng.standard_normal(n) * self.noise).astype(np.float32)
        self.mic.append(block)
        self.echo.append(echo)
        self.streams["in"].callback(block[:, None], n, SimpleNamespace(currentTime=t_cb, inputBufferAdcTime=t_adc), OK)
        self.j += 1

    def signals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mic, echo, user) so far, sample for sample."""
        mic, echo = np.concatenate(self.mic), np.concatenate(self.echo)
        return mic, echo, np.pad(self.user, (0, max(0, len(mic) - len(self.user))))[:len(mic)]


@dataclass
class Duplex:
    mic: np.ndarray  # what the microphone heard (16 kHz)
    echo: np.ndarray  # its echo part alone
    user: np.ndarray  # its user part alone (zeros where the user is silent)
    cleaned: np.ndarray  # what MicSource yielded, aligned with `mic` (the canceller's own delay removed)
    played: np.ndarray  # what the speaker played, at 16 kHz


def speech_db(x: np.ndarray) -> float:
    return active_rms_db(x)


async def duplex(reply: np.ndarray, *, delay_ms: float, user: np.ndarray | None = None, user_at_s: float = 0.0,
                 echo_db: float = -20.0, user_db: float = -20.0, noise_db: float = -60.0, drift: float = 0.0,
                 rt60_s: float = 0.4, tail_s: float = 1.0, canceller: EchoCanceller | None = None,
                 speaker_ms: int = 20, mic_ms: int = 32, seed: int = 0, **rig) -> Duplex:
    """Play `reply` (16 kHz) and listen to the room. echo_db/user_db: speech levels at the mic, dBFS."""
    canceller = canceller or EchoCanceller()
    rig = Rig(delay_ms=delay_ms, echo_gain_db=echo_db - speech_db(reply), drift=drift, rt60_s=rt60_s,
              noise_db=noise_db, canceller=canceller, speaker_ms=speaker_ms, mic_ms=mic_ms, seed=seed, **rig)
    if user is not None:
        rig.say(at_level(user, user_db), user_at_s)
    length_s = max(len(reply) / RATE, user_at_s + (len(user) / RATE if user is not None else 0)) + tail_s
    cleaned: list[np.ndarray] = []

    async def consume():
        async for chunk in rig.source.frames():
            cleaned.append(chunk.samples)

    task = asyncio.create_task(consume())
    while "in" not in rig.streams:
        await asyncio.sleep(0)
    await rig.sink.write(AudioChunk(reply, RATE))
    rig.sink._enqueue(rig.sink._resampler.flush())
    while rig.t < length_s:
        rig.step()
        if rig.j % 8 == 0:
            await asyncio.sleep(0)
    mic, echo, voice = rig.signals()
    expected = len(mic) // 160 * 160
    for _ in range(1000):
        if sum(map(len, cleaned)) >= expected:
            break
        await asyncio.sleep(0)
    await rig.source.close()
    task.cancel()
    lag = canceller.delay_samples
    out = np.concatenate(cleaned)[lag:]
    out = np.pad(out, (0, max(0, len(mic) - len(out))))[:len(mic)]
    return Duplex(mic, echo, voice, out, np.concatenate(rig.played))
