"""Audio sinks: WAV file, push (network) and speaker, resampling at the edge and stopping at once."""
import asyncio
import wave

import numpy as np
import pytest

from penny.adapters.audio.base import AudioSink
from penny.adapters.audio.sinks import PushSink, WavFileSink
from penny.adapters.audio.speaker import SpeakerSink
from penny.core.events import AudioChunk
from penny.errors import DeviceNotFound


def tone(seconds=1.0, rate=22050, freq=440.0, dtype=np.float32):
    t = np.arange(int(seconds * rate)) / rate
    a = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return (a * 32767).astype(np.int16) if dtype == np.int16 else a


def chunks_of(samples, rate, n=5):
    return [AudioChunk(part, rate) for part in np.array_split(samples, n)]


def peak_hz(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples))
    return np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))]


async def test_wav_sink_resamples_at_the_edge(tmp_path):
    path = tmp_path / "out" / "reply.wav"
    sink = WavFileSink(path, sample_rate=16000)
    assert isinstance(sink, AudioSink)
    for c in chunks_of(tone(1.0, 22050, dtype=np.int16), 22050):
        await sink.write(c)
    await sink.close()
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    assert abs(len(data) / 16000 - 1.0) < 0.01
    assert abs(peak_hz(data, 16000) - 440) < 3
    # Chunk edges are seamless: no clicks where the chunks were joined.
    assert np.max(np.abs(np.diff(data[100:-100]))) < 0.1


async def test_wav_sink_same_rate_is_exact(tmp_path):
    samples = tone(0.5, 22050, dtype=np.int16)
    async with WavFileSink(tmp_path / "same.wav", 22050) as sink:
        for c in chunks_of(samples, 22050):
            await sink.write(c)
    with wave.open(str(tmp_path / "same.wav")) as w:
        np.testing.assert_array_equal(np.frombuffer(w.readframes(w.getnframes()), np.int16), samples)


async def test_push_sink_sends_resampled_chunks_and_stops_mid_chunk():
    sent = []
    flushed = []

    async def send(chunk):
        sent.append(chunk)
        if len(sent) == 2:
            await sink.stop()  # barge-in while a long chunk is being sent

    async def on_stop():
        flushed.append(True)

    sink = PushSink(send, sample_rate=16000, max_chunk_ms=100, on_stop=on_stop)
    assert isinstance(sink, AudioSink)
    await sink.write(AudioChunk(tone(1.0), 22050))
    assert len(sent) == 2 and flushed == [True]
    assert all(c.sample_rate == 16000 and len(c.samples) <= 1600 for c in sent)
    await sink.write(AudioChunk(tone(0.2), 22050))  # a new turn plays again
    await sink.drain()
    assert sum(len(c.samples) for c in sent[2:]) == pytest.approx(3200, abs=40)


async def test_push_sink_int16_output():
    sent = []

    async def send(chunk):
        sent.append(chunk)

    sink = PushSink(send, sample_rate=22050, as_int16=True)
    await sink.write(AudioChunk(tone(0.1), 22050))
    assert sent[0].samples.dtype == np.int16 and sent[0].sample_rate == 22050


class FakeOutputStream:
    """Stands in for sounddevice.OutputStream: the test pulls blocks through the callback."""

    latency = 0.0

    def __init__(self, samplerate, blocksize, callback):
        self.samplerate, self.blocksize, self.callback = samplerate, blocksize, callback
        self.active = False
        self.starts = self.aborts = 0
        self.closed = False

    def start(self):
        self.active = True
        self.starts += 1

    def abort(self):
        self.active = False
        self.aborts += 1

    def close(self):
        self.closed = True

    def pull(self, blocks=1):
        out = []
        for _ in range(blocks):
            buf = np.full((self.blocksize, 1), 9.0, np.float32)  # garbage the callback must overwrite
            self.callback(buf, self.blocksize, None, None)
            out.append(buf[:, 0].copy())
        return np.concatenate(out)


def fake_speaker(rate=48000):
    made = []

    def factory(samplerate, blocksize, callback):
        made.append(FakeOutputStream(samplerate, blocksize, callback))
        return made[-1]

    return SpeakerSink(sample_rate=rate, stream_factory=factory), made


async def test_speaker_plays_resampled_audio_then_silence():
    sink, made = fake_speaker(48000)
    assert isinstance(sink, AudioSink) and sink.blocksize == 960  # 20 ms blocks
    await sink.write(AudioChunk(tone(0.2, 22050), 22050))
    stream = made[0]
    assert stream.active and stream.samplerate == 48000
    played = stream.pull(20)  # 400 ms of callbacks for ~200 ms of audio
    voiced = np.flatnonzero(np.abs(played) > 0.01)
    assert 0.18 < (voiced[-1] - voiced[0]) / 48000 < 0.22
    assert np.all(played[voiced[-1] + 1:] == 0.0) and np.all(np.abs(played) <= 1.0)


async def test_speaker_stop_silences_at_once_and_restarts():
    sink, made = fake_speaker(48000)
    await sink.write(AudioChunk(tone(5.0, 22050), 22050))
    stream = made[0]
    assert np.abs(stream.pull(2)).max() > 0.1  # playing
    await sink.stop()
    assert stream.aborts == 1 and sink.queued_s == 0
    assert np.all(stream.pull(3) == 0.0)  # the very next block is silence
    await sink.write(AudioChunk(tone(0.1, 22050), 22050))  # the next reply plays again
    assert stream.starts == 2 and np.abs(stream.pull(2)).max() > 0.1
    await sink.close()
    assert stream.closed


async def test_speaker_drain_waits_for_playback():
    sink, made = fake_speaker(16000)
    await sink.write(AudioChunk(tone(0.3, 16000), 16000))
    drained = asyncio.create_task(sink.drain(poll_s=0.001))
    await asyncio.sleep(0.01)
    assert not drained.done()  # nothing has been played yet
    made[0].pull(16)  # 320 ms of callbacks
    await asyncio.wait_for(drained, 5)
    assert sink.samples_played == 4800


def test_missing_speaker_is_actionable(monkeypatch):
    import penny.adapters.audio.device as device

    monkeypatch.setattr(device, "list_devices", lambda: [])
    with pytest.raises(DeviceNotFound) as err:
        SpeakerSink()
    assert "output device" in err.value.message and err.value.hint

    monkeypatch.setattr(device, "list_devices", lambda: [
        device.DeviceInfo(3, "USB Speaker", "ALSA", 0, 2, 48000.0, False, True)])
    with pytest.raises(DeviceNotFound) as err:
        SpeakerSink("Bluetooth headphones")
    assert "USB Speaker" in err.value.message
    sink = SpeakerSink("usb", stream_factory=None)
    assert sink.device_index == 3 and sink.sample_rate == 48000
