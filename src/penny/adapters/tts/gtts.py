"""gTTS, the seed's Google cloud voice. Optional; offline it fails fast so the fallback speaks."""
from __future__ import annotations

import importlib.util
import io
import socket
import threading
import time
from typing import Iterator

import numpy as np

from penny.adapters.tts.engine import EngineTTS
from penny.core import pcm
from penny.errors import TTSFailed

SAMPLE_RATE = 24000  # Google's TTS MP3s are 24 kHz mono


def _reachable(host: str, port: int, timeout: float) -> str | None:
    """None when host:port accepts a TCP connection within `timeout` (DNS included), else why not."""
    result: list[str | None] = ["timed out"]

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result[0] = None
        except OSError as exc:
            result[0] = str(exc) or type(exc).__name__

    t = threading.Thread(target=probe, daemon=True)  # getaddrinfo has no timeout of its own
    t.start()
    t.join(timeout)
    return result[0]


class GTTS(EngineTTS):
    name = "gtts"
    sample_rate = SAMPLE_RATE

    def __init__(self, voice: str = "en", *, timeout_s: float = 3.0, cooldown_s: float = 60.0, slow: bool = False):
        """voice: a language code, optionally with Google's accent domain: "en", "en:co.uk"."""
        super().__init__()
        self.voice = voice or "en"
        self.lang, _, tld = self.voice.partition(":")
        self.tld = tld or "com"
        self.slow = slow
        self.timeout_s = timeout_s
        self.first_chunk_timeout_s = timeout_s * 3
        self.cooldown_s = cooldown_s
        self._down_until = 0.0
        self._down_reason = ""

    def settings(self) -> dict:
        return {"slow": self.slow}

    def _load(self) -> None:
        if importlib.util.find_spec("gtts") is None:
            raise TTSFailed("gTTS is not installed.", hint="Install it: .venv/bin/pip install gtts")

    def _fail(self, why: str) -> TTSFailed:
        return TTSFailed(f"gTTS needs internet access to Google and cannot reach it ({why}).",
                         hint="Use the offline voice: set tts.provider to \"piper\".")

    def _stream(self, text: str, stop: threading.Event) -> Iterator[np.ndarray]:
        if time.monotonic() < self._down_until:
            raise self._fail(self._down_reason)
        why = _reachable(f"translate.google.{self.tld}", 443, self.timeout_s)
        if why:
            self._down_until, self._down_reason = time.monotonic() + self.cooldown_s, why
            raise self._fail(why)
        import soundfile as sf
        from gtts import gTTS, gTTSError

        try:
            for mp3 in gTTS(text, lang=self.lang, tld=self.tld, slow=self.slow, lang_check=False).stream():
                if stop.is_set():
                    return
                audio, rate = sf.read(io.BytesIO(mp3), dtype="float32", always_2d=False)
                if audio.ndim > 1:
                    audio = audio.mean(axis=1, dtype=np.float32)
                if rate != self.sample_rate:
                    audio = pcm.resample(audio, rate, self.sample_rate)
                yield audio
        except gTTSError as exc:
            self._down_until, self._down_reason = time.monotonic() + self.cooldown_s, str(exc)
            raise self._fail(str(exc)) from None
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise TTSFailed(f"gTTS returned audio that could not be decoded: {exc}") from None
