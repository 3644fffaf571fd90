"""Warn once, precisely, when this interpreter or platform is one an audio dependency fails on."""
from __future__ import annotations

import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)
_warned = False


def platform_problems(version: tuple[int, int] = sys.version_info[:2], platform: str = sys.platform) -> list[str]:
    problems = []
    if version < (3, 10):
        problems.append(f"Python {version[0]}.{version[1]} is too old for Penny; use Python 3.11.")
    elif version >= (3, 13):
        problems.append(
            f"Python {version[0]}.{version[1]}: onnxruntime, ctranslate2 (faster-whisper) and webrtcvad may "
            "have no wheels for it yet, so Piper, Whisper or VAD can fail to install. Use Python 3.11 "
            "(python3.11 -m venv .venv)."
        )
    if platform.startswith("linux") and ctypes.util.find_library("portaudio") is None:
        problems.append("libportaudio2 is missing, so the microphone and speaker can't be used "
                        "(browser and WAV audio still work). Install it: sudo apt-get install libportaudio2")
    return problems


def warn_once() -> None:
    global _warned
    if _warned:
        return
    _warned = True
    for p in platform_problems():
        log.warning(p)
