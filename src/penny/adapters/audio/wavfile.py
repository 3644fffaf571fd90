"""Audio files in: WAV/FLAC/OGG of any rate, channels and bit depth → 16 kHz mono AudioChunks.

Bad files (empty, truncated, not audio) raise AudioInputError with a sentence a user can act on.
"""
from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import AsyncIterator

import numpy as np
import soundfile

from penny.core.events import AudioChunk
from penny.core.pcm import RATE, to_16k_mono
from penny.errors import AudioInputError

FORMATS_HINT = "Use a WAV, FLAC or OGG audio file (any sample rate, mono or stereo)."


def _check_riff(path: Path) -> None:
    """Refuse a WAV whose data chunk claims more bytes than the file holds (a cut-off download/recording)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return  # not RIFF/WAVE: soundfile decides
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI" if head[:4] == b"RIFF" else ">4sI", f.read(8))
            if cid == b"data":
                if clen in (0, 0xFFFFFFFF):  # written by a stream that could not seek back: length unknown
                    return
                have = size - pos - 8
                if have < clen:
                    raise AudioInputError(
                        f"{path} is a truncated WAV file: its header promises {clen} bytes of audio "
                        f"but only {have} are there.", hint="Re-record or re-copy the file.")
                return
            pos += 8 + clen + (clen & 1)
        raise AudioInputError(f"{path} is a truncated WAV file: it has no audio data chunk.",
                              hint="Re-record or re-copy the file.")


def read_audio(path: str | Path) -> AudioChunk:
    """Read a whole file as 16 kHz mono float32."""
    p = Path(path).expanduser()
    if not p.exists():
        raise AudioInputError(f"{p}: no such file.")
    if not p.is_file():
        raise AudioInputError(f"{p} is not a file.", hint=FORMATS_HINT)
    if p.stat().st_size == 0:
        raise AudioInputError(f"{p} is empty (0 bytes), not an audio file.", hint=FORMATS_HINT)
    _check_riff(p)
    try:
        data, sr = soundfile.read(str(p), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or type(exc).__name__
        raise AudioInputError(f"{p} is not a readable audio file ({reason}).", hint=FORMATS_HINT) from None
    if data.shape[0] == 0:
        raise AudioInputError(f"{p} contains no audio samples.", hint=FORMATS_HINT)
    return AudioChunk(to_16k_mono(data, sr), RATE)


class WavFileSource:
    """An AudioSource over a file: frames of `frame_ms`, as fast as possible or paced at real time.

    `tail_silence_s` of silence is appended so the stream ends like a user who stopped
    talking (the endpointer then closes the last utterance by itself).
    """

    sample_rate = RATE

    def __init__(self, path: str | Path, realtime: bool = False, frame_ms: int = 32,
                 tail_silence_s: float = 1.0):
        if frame_ms <= 0:
            raise ValueError("frame_ms must be positive")
        self.path = Path(path)
        self.realtime = realtime
        self.frame_samples = max(1, int(RATE * frame_ms / 1000))
        self.tail_silence_s = max(0.0, float(tail_silence_s))
        self._closed = False

    async def frames(self) -> AsyncIterator[AudioChunk]:
        audio = await asyncio.to_thread(read_audio, self.path)
        samples = audio.samples
        if self.tail_silence_s:
            samples = np.concatenate([samples, np.zeros(int(self.tail_silence_s * RATE), np.float32)])
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = self.frame_samples
        for i in range(0, len(samples), n):
            if self._closed:
                return
            if self.realtime:
                due = start + min(i + n, len(samples)) / RATE  # a frame exists once recorded
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)  # let other tasks run between frames
            yield AudioChunk(samples[i:i + n], RATE)

    async def close(self) -> None:
        self._closed = True
