"""penny.core.pcm: the one place for Penny's rate, int16 <-> float32 and resampling."""
import numpy as np

from penny.core import pcm
from penny.core.events import AudioChunk


def tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_int16_float_round_trip():
    x = np.array([-32768, -12345, -1, 0, 1, 12345, 32767], np.int16)
    f = pcm.to_float(x)
    assert f.dtype == np.float32 and f[0] == -1.0 and f.max() < 1.0
    back = pcm.to_int16(f)
    assert back.dtype == np.int16
    assert np.all(np.abs(back.astype(int) - x) <= 1)  # *32767 out, /32768 in: at most one step off


def test_conversions_pass_their_own_type_through():
    x = np.arange(5, dtype=np.int16)
    assert pcm.to_int16(x) is x
    f = np.zeros(3, np.float32)
    assert pcm.to_float(f) is f


def test_to_int16_clips_instead_of_wrapping():
    out = pcm.to_int16(np.array([-2.0, -1.0, 0.0, 1.0, 1.5], np.float32))
    assert out.tolist() == [-32767, -32767, 0, 32767, 32767]


def test_audio_chunk_uses_the_same_conversions():
    x = np.array([0.25, -0.5, 1.2], np.float32)
    chunk = AudioChunk(x, pcm.RATE)
    assert np.array_equal(chunk.as_int16(), pcm.to_int16(x))
    assert np.array_equal(AudioChunk(chunk.as_int16(), pcm.RATE).as_float32(), pcm.to_float(pcm.to_int16(x)))


def test_resampling_lengths():
    for sr in (8000, 22050, 44100, 48000):
        y = pcm.to_16k_mono(tone(440, 1.0, sr), sr)
        assert y.dtype == np.float32 and abs(len(y) - pcm.RATE) <= 2
    assert len(pcm.resample(tone(440, 0.5, 16000), 16000, 22050)) == 11025


def test_stream_in_chunks_matches_one_shot():
    x = tone(440, 1.0, 48000)
    whole = pcm.to_16k_mono(x, 48000)
    stream = pcm.StreamResampler(48000)
    parts = [stream.process(x[i:i + 777]) for i in range(0, len(x), 777)]
    chunked = np.concatenate(parts + [stream.process(np.zeros(0, np.float32), last=True)])
    assert abs(len(chunked) - len(whole)) <= 2
    n = min(len(chunked), len(whole))
    mid = slice(200, n - 200)  # the filter's start and end transients differ between the two modes
    assert np.max(np.abs(chunked[mid] - whole[mid])) < 1e-3


def test_edge_resampler_follows_a_change_of_input_rate():
    edge = pcm.EdgeResampler(16000)
    a = edge.process(AudioChunk(tone(300, 0.5, 22050), 22050))
    b = edge.process(AudioChunk(tone(300, 0.5, 16000), 16000))  # flushes the 22.05 kHz tail first
    assert abs(len(a) + len(b) - 16000) <= 4 and b.dtype == np.float32
