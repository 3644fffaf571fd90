"""Audio sources: files of any format in, bad files refused clearly, push and mic sources."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from penny.adapters.audio.push import PushSource
from penny.core.pcm import StreamResampler, to_16k_mono
from penny.adapters.audio.wavfile import WavFileSource, read_audio
from penny.errors import AudioInputError, DeviceNotFound


def tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(x: np.ndarray, sr: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


async def collect(source) -> list:
    return [c async for c in source.frames()]


# ---- read_audio ----
def test_8k_stereo_int16_is_accepted_and_resampled(tmp_path):
    left = tone(440, 1.0, 8000)
    path = tmp_path / "st.wav"
    soundfile.write(str(path), np.stack([left, left], axis=1), 8000, subtype="PCM_16")
    chunk = read_audio(path)
    assert chunk.sample_rate == 16000 and chunk.samples.dtype == np.float32 and chunk.samples.ndim == 1
    assert abs(len(chunk.samples) - 16000) <= 2
    assert abs(dominant_freq(chunk.samples) - 440) < 5
    assert 0.3 < np.max(np.abs(chunk.samples)) < 0.6


@pytest.mark.parametrize("sr,subtype,ext", [(44100, "PCM_24", "wav"), (48000, "FLOAT", "wav"),
                                            (22050, "PCM_U8", "wav"), (32000, "PCM_16", "flac")])
def test_any_rate_and_depth(tmp_path, sr, subtype, ext):
    path = tmp_path / f"x.{ext}"
    soundfile.write(str(path), tone(1000, 0.5, sr), sr, subtype=subtype)
    chunk = read_audio(path)
    assert abs(len(chunk.samples) - 8000) <= 2
    assert abs(dominant_freq(chunk.samples) - 1000) < 10


def test_truncated_wav_is_refused(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(str(good), tone(440, 1.0, 16000), 16000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:12000])
    with pytest.raises(AudioInputError, match="truncated"):
        read_audio(cut)
    header_only = tmp_path / "hdr.wav"
    header_only.write_bytes(good.read_bytes()[:30])
    with pytest.raises(AudioInputError):
        read_audio(header_only)


def test_non_audio_and_empty_and_missing(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 20)
    with pytest.raises(AudioInputError, match="not a readable audio file"):
        read_audio(text)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioInputError, match="empty"):
        read_audio(empty)
    with pytest.raises(AudioInputError, match="no such file"):
        read_audio(tmp_path / "nope.wav")
    zero = tmp_path / "zero.wav"
    soundfile.write(str(zero), np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioInputError, match="no audio"):
        read_audio(zero)


def test_resample_helpers():
    x = tone(300, 1.0, 48000)
    y = to_16k_mono(x, 48000)
    assert abs(len(y) - 16000) <= 2 and abs(dominant_freq(y) - 300) < 5
    assert to_16k_mono((x * 32767).astype(np.int16), 16000).dtype == np.float32
    with pytest.raises(AudioInputError):
        to_16k_mono(x, 0)
    stream = StreamResampler(48000)
    parts = [stream.process(x[i:i + 1000]) for i in range(0, len(x), 1000)]
    parts.append(stream.process(np.zeros(0, np.float32), last=True))
    assert abs(sum(map(len, parts)) - 16000) <= 2


# ---- sources ----
async def test_wav_file_source_frames_and_tail(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(str(path), tone(440, 1.0, 44100), 44100)
    src = WavFileSource(path, frame_ms=32, tail_silence_s=0.5)
    frames = await collect(src)
    assert all(f.sample_rate == 16000 for f in frames)
    assert all(len(f.samples) == 512 for f in frames[:-1])
    total = sum(len(f.samples) for f in frames)
    assert abs(total - 24000) <= 2
    assert np.all(frames[-1].samples == 0)  # tail silence


async def test_wav_file_source_realtime_yields_same_audio(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(str(path), tone(440, 0.2, 16000), 16000)
    fast = await collect(WavFileSource(path, tail_silence_s=0))
    paced = await collect(WavFileSource(path, realtime=True, tail_silence_s=0))
    assert np.array_equal(np.concatenate([f.samples for f in fast]), np.concatenate([f.samples for f in paced]))


async def test_push_source_bytes_split_mid_sample_and_resampled():
    x = (tone(500, 1.0, 48000) * 32767).astype("<i2").tobytes()
    src = PushSource(sample_rate=48000, frame_ms=20)

    async def producer():
        for i in range(0, len(x), 999):  # odd sizes: samples split across pushes
            src.push(x[i:i + 999])
            await asyncio.sleep(0)
        src.end()

    task = asyncio.create_task(producer())
    frames = await collect(src)
    await task
    audio = np.concatenate([f.samples for f in frames])
    assert all(len(f.samples) == 320 for f in frames[:-1])
    assert abs(len(audio) - 16000) <= 2 and abs(dominant_freq(audio) - 500) < 5


async def test_push_source_from_another_thread_and_arrays():
    src = PushSource()
    loop_frames = asyncio.create_task(collect(src))
    await asyncio.sleep(0)

    def feed():
        src.push(np.full(1000, 0.25, np.float32))
        src.push(np.full(1000, 8192, np.int16))
        src.end()

    await asyncio.to_thread(feed)
    frames = await asyncio.wait_for(loop_frames, 10)
    audio = np.concatenate([f.samples for f in frames])
    assert len(audio) == 2000 and np.allclose(audio, 0.25, atol=1e-3)
    with pytest.raises(AudioInputError):
        PushSource().push("not audio")  # type: ignore[arg-type]


# ---- devices ----
def test_missing_device_is_a_clear_error():
    from penny.adapters.audio.device import MicSource, find_device

    with pytest.raises(DeviceNotFound) as err:
        MicSource("no-such-microphone-xyz")
    assert "device" in str(err.value).lower()
    with pytest.raises(DeviceNotFound):
        find_device(9999, "input")


def test_doctor_audio_checks_never_fail_required():
    from penny.adapters.audio.device import doctor_checks, list_devices
    from penny.config import PennyConfig

    checks = doctor_checks(PennyConfig())
    assert {c.component for c in checks} == {"audio input", "audio output", "echo cancellation"}
    for c in checks:
        assert c.status in ("ok", "warn")
        if c.status == "warn":
            assert c.required is False and "browser" in c.detail.lower()
    if not any(d.max_input_channels for d in list_devices()):
        assert checks[0].status == "warn"


def test_cli_listen_without_input_device_exits_nonzero(tmp_path):
    env_cfg = tmp_path / "c.json"
    env_cfg.write_text('{"audio": {"input_device": "no-such-microphone-xyz"}}')
    out = subprocess.run([sys.executable, "-m", "penny", "--config", str(env_cfg), "listen"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "device" in out.stderr.lower() and "Traceback" not in out.stderr
    devices = subprocess.run([sys.executable, "-m", "penny", "devices"], capture_output=True, text=True, timeout=120)
    assert devices.returncode == 0 and devices.stdout.strip()


class FakeSoundDevice:
    """Just enough of sounddevice: one 48 kHz-only microphone that plays a tone through the callback."""

    class PortAudioError(Exception):
        pass

    class default:
        device = (0, -1)

    def __init__(self, audio: np.ndarray):
        self.audio = audio

    def query_devices(self):
        return [{"name": "Fake USB Mic", "hostapi": 0, "max_input_channels": 1, "max_output_channels": 0,
                 "default_samplerate": 48000.0}]

    def query_hostapis(self):
        return [{"name": "ALSA"}]

    def check_input_settings(self, samplerate, **kw):
        if samplerate != 48000:
            raise self.PortAudioError("Invalid sample rate")

    def InputStream(self, samplerate, blocksize, callback, **kw):  # noqa: N802 (sounddevice's name)
        import threading
        from types import SimpleNamespace

        audio = self.audio

        class Stream:
            def start(self):
                def feed():
                    for i in range(0, len(audio), blocksize):
                        callback(audio[i:i + blocksize, None], blocksize, None, SimpleNamespace(input_overflow=False))
                threading.Thread(target=feed, daemon=True).start()

            def stop(self):
                pass

            def close(self):
                pass

        assert samplerate == 48000
        return Stream()


async def test_mic_source_resamples_a_48k_device(monkeypatch):
    from penny.adapters.audio import device

    fake = FakeSoundDevice(tone(700, 1.0, 48000))
    monkeypatch.setattr(device, "_sd", lambda: fake)
    assert [d.name for d in device.list_devices()] == ["Fake USB Mic"]
    mic = device.MicSource("usb mic", frame_ms=20)
    got = []
    async for frame in mic.frames():
        got.append(frame.samples)
        if sum(map(len, got)) >= 15000:
            break
    await mic.close()
    audio = np.concatenate(got)
    assert abs(dominant_freq(audio[2000:15000]) - 700) < 5
    with pytest.raises(DeviceNotFound, match="Fake USB Mic"):
        device.MicSource("built-in")
