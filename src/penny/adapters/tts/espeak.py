"""espeak-ng: the light fallback voice, through `espeak-ng --stdout` (a subprocess, streamed)."""
from __future__ import annotations

import shutil
import struct
import subprocess
import threading
from typing import Iterator

import numpy as np

from penny.adapters.tts.engine import EngineTTS
from penny.errors import TTSFailed

INSTALL_HINT = "Install it: sudo apt install espeak-ng (macOS: brew install espeak-ng)."
BASE_WPM = 175
BLOCK_BYTES = 8820  # 0.2 s at 22.05 kHz int16


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


def list_voices(language: str = "en") -> list[dict]:
    exe = espeak_binary()
    if not exe:
        return []
    try:
        out = subprocess.run([exe, f"--voices={language}"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    voices = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and not parts[4].startswith("mb/"):  # mbrola voices need mbrola installed
            voices.append({"engine": "espeak", "name": parts[1], "language": parts[1],
                           "sample_rate": 22050, "description": parts[3].replace("_", " ")})
    return voices


def _read_exact(stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = stream.read(n - len(data))
        if not part:
            break
        data += part
    return data


def _skip_to_data(stream) -> int:
    """Read the WAV header up to the 'data' chunk; return the sample rate."""
    head = _read_exact(stream, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise TTSFailed("espeak-ng did not produce WAV audio.")
    rate = 22050
    while True:
        hdr = _read_exact(stream, 8)
        if len(hdr) < 8:
            raise TTSFailed("espeak-ng produced a truncated WAV header.")
        cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        if cid == b"data":
            return rate
        body = _read_exact(stream, size)
        if cid == b"fmt ":
            channels, rate, bits = struct.unpack("<H", body[2:4])[0], struct.unpack("<I", body[4:8])[0], \
                struct.unpack("<H", body[14:16])[0]
            if channels != 1 or bits != 16:
                raise TTSFailed(f"espeak-ng produced {channels}-channel {bits}-bit audio; expected mono 16-bit.")


class EspeakTTS(EngineTTS):
    name = "espeak"
    sample_rate = 22050

    def __init__(self, voice: str = "en-us", *, length_scale: float = 1.0, pitch: int = 50,
                 timeout_s: float = 30.0):
        super().__init__()
        self.voice = voice
        self.length_scale = length_scale
        self.pitch = pitch
        self.timeout_s = timeout_s
        self._exe: str | None = None

    def settings(self) -> dict:
        return {"wpm": self.wpm, "pitch": self.pitch}

    @property
    def wpm(self) -> int:
        return max(80, min(450, round(BASE_WPM / self.length_scale)))

    def _load(self) -> None:
        self._exe = espeak_binary()
        if not self._exe:
            raise TTSFailed("espeak-ng is not installed.", hint=INSTALL_HINT)
        # With --stdin an unknown voice silently becomes the default one; check it up front.
        probe = subprocess.run([self._exe, "-q", "-v", self.voice, "x"], capture_output=True, text=True, timeout=10)
        if probe.returncode != 0:
            raise TTSFailed(f"espeak-ng has no voice {self.voice!r}: {probe.stderr.strip() or probe.stdout.strip()}",
                            hint="List the voices with `penny voices` (or espeak-ng --voices=en).")

    def _stream(self, text: str, stop: threading.Event) -> Iterator[np.ndarray]:
        args = [self._exe, "--stdout", "--stdin", "-v", self.voice, "-s", str(self.wpm), "-p", str(self.pitch)]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        timer = threading.Timer(self.timeout_s, proc.kill)
        timer.start()
        try:
            proc.stdin.write(text.encode("utf-8"))
            proc.stdin.close()
            rate = _skip_to_data(proc.stdout)
            if rate != self.sample_rate:
                self.sample_rate = rate
            leftover = b""
            while not stop.is_set():
                block = proc.stdout.read(BLOCK_BYTES)
                if not block:
                    break
                block = leftover + block
                cut = len(block) - len(block) % 2
                leftover = block[cut:]
                yield np.frombuffer(block[:cut], dtype="<i2").astype(np.int16)
            if stop.is_set():
                return
            code = proc.wait()
            if code != 0:
                err = proc.stderr.read().decode("utf-8", "replace").strip()
                raise TTSFailed(f"espeak-ng failed (exit {code}): {err or 'no message'}",
                                hint=f"Check the voice name {self.voice!r}: espeak-ng --voices=en")
        except BrokenPipeError:
            err = proc.stderr.read().decode("utf-8", "replace").strip()
            raise TTSFailed(f"espeak-ng stopped early: {err or 'no message'}") from None
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for f in (proc.stdout, proc.stderr):
                f.close()
