"""The benchmark's spoken requests: a fixed list, synthesized here (Piper + espeak-ng) and cached as WAVs.

Every clip is 16 kHz mono float32: LEAD_S of silence, the request (trimmed to its voiced part, 1-4 s),
then TRAIL_S of silence. Noisy clips get white noise over the whole clip at the stated SNR (measured
against the speech part), with a fixed seed so every run feeds the same samples.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from penny.testing import espeak_16k, piper_16k

log = logging.getLogger("benchmarks.corpus")

SR = 16000
LEAD_S = 0.3
TRAIL_S = 1.0
MIN_SPEECH_S, MAX_SPEECH_S = 1.0, 4.0
CACHE_DIR = Path(__file__).resolve().parent / ".cache" / "corpus"
CORPUS_VERSION = 1  # bump when synthesis changes, so stale cached clips are not reused


@dataclass(frozen=True)
class Request:
    id: str
    text: str
    kind: str  # "local" (a skill answers) or "llm" (an open question)
    voice: str  # "piper" (en_US-joe-medium) or "espeak:<voice>" (espeak-ng voice name)
    snr_db: float | None = None  # white noise at this SNR; None: clean
    expect: str | None = None  # the skill expected to answer a local request
    quick: bool = False  # part of the --quick subset

    @property
    def label(self) -> str:
        noise = f", {self.snr_db:g} dB SNR" if self.snr_db is not None else ""
        return f"{self.id} ({self.voice}{noise})"


# espeak-ng voice/text pairs are ones Whisper tiny.en hears right (it mishears some robotic voices, e.g.
# "What day is it today?" in en-us → "What made it to me?"); a request that is still misheard is reported
# as misrouted, and its turn counts under whatever answered it.
# Timers are long on purpose: none may fire during a run (a fired timer speaks and skews later turns).
CORPUS: tuple[Request, ...] = (
    # ---- local intents: answered by a skill, no LLM
    Request("time-1", "What time is it right now?", "local", "piper", expect="clock", quick=True),
    Request("time-2", "What's the time right now?", "local", "espeak:en-us", expect="clock"),
    Request("time-3", "Tell me the time, please.", "local", "piper", snr_db=15, expect="clock"),
    Request("date-1", "What's the date today?", "local", "piper", expect="clock"),
    Request("date-2", "What day is it today?", "local", "espeak:en-gb-x-rp", expect="clock"),
    Request("timer-1", "Set a timer for twenty minutes.", "local", "piper", expect="timers", quick=True),
    Request("timer-2", "Set a timer for forty five minutes.", "local", "espeak:en-us", snr_db=10,
            expect="timers"),
    Request("timer-3", "How much time is left on my timer?", "local", "piper", expect="timers"),
    Request("cal-1", "What's on my calendar tomorrow?", "local", "piper", expect="calendar", quick=True),
    Request("cal-2", "Do I have any meetings today?", "local", "espeak:en-us+m3", expect="calendar"),
    Request("cal-3", "What's my next appointment?", "local", "piper", snr_db=10, expect="calendar"),
    # ---- open questions: the LLM answers
    Request("llm-1", "What is the capital of France?", "llm", "piper", quick=True),
    Request("llm-2", "Why is the sky blue?", "llm", "espeak:en-us"),
    Request("llm-3", "Give me a tip for sleeping better.", "llm", "piper"),
    Request("llm-4", "How many legs does a spider have?", "llm", "piper", snr_db=15, quick=True),
    Request("llm-5", "What should I cook for dinner tonight?", "llm", "espeak:en-gb"),
    Request("llm-6", "Tell me a short joke.", "llm", "piper"),
    Request("llm-7", "What is the tallest mountain in the world?", "llm", "espeak:en-us+f3", snr_db=10),
    Request("llm-8", "How far away is the moon?", "llm", "piper"),
    Request("llm-9", "Who wrote Romeo and Juliet?", "llm", "espeak:en-us"),
    Request("llm-10", "Suggest a name for a black cat.", "llm", "piper"),
    Request("llm-11", "How do I boil an egg?", "llm", "piper", snr_db=15),
)


def select(quick: bool = False) -> list[Request]:
    return [r for r in CORPUS if r.quick] if quick else list(CORPUS)


# ---------------------------------------------------------------- synthesis

def _piper(text: str) -> np.ndarray:
    return piper_16k(text)


def _espeak(text: str, voice: str) -> np.ndarray:
    return espeak_16k(text, voice, speed=165)


def trim(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Cut leading/trailing near-silence (synthesizers pad their output)."""
    idx = np.flatnonzero(np.abs(audio) > threshold)
    if idx.size == 0:
        return audio[:0]
    return audio[idx[0]:idx[-1] + 1]


def add_noise(audio: np.ndarray, speech: slice, snr_db: float, seed: int) -> np.ndarray:
    """White noise over the whole clip, its power set by the speech part's power and the SNR."""
    p_speech = float(np.mean(audio[speech].astype(np.float64) ** 2))
    p_noise = p_speech / (10.0 ** (snr_db / 10.0))
    rng = np.random.default_rng(seed)
    noisy = audio + rng.normal(0.0, np.sqrt(p_noise), audio.shape).astype(np.float32)
    return np.clip(noisy, -1.0, 1.0).astype(np.float32)


def _seed(req: Request) -> int:
    return int.from_bytes(hashlib.sha256(req.id.encode()).digest()[:4], "little")


def build_clip(req: Request) -> tuple[np.ndarray, float]:
    """(clip, speech_s): lead silence + speech + trailing silence, noise added when asked."""
    if req.voice == "piper":
        speech = _piper(req.text)
    elif req.voice.startswith("espeak:"):
        speech = _espeak(req.text, req.voice.split(":", 1)[1])
    else:
        raise ValueError(f"{req.id}: unknown voice {req.voice!r} (piper or espeak:<voice>)")
    speech = trim(speech)
    peak = float(np.max(np.abs(speech))) if speech.size else 0.0
    if peak > 0:
        speech = speech * (0.7 / peak)  # the same level for every voice
    speech_s = len(speech) / SR
    if not MIN_SPEECH_S <= speech_s <= MAX_SPEECH_S:
        log.warning("%s is %.2fs of speech, outside %.0f-%.0f s", req.id, speech_s, MIN_SPEECH_S, MAX_SPEECH_S)
    lead, trail = np.zeros(int(LEAD_S * SR), np.float32), np.zeros(int(TRAIL_S * SR), np.float32)
    clip = np.concatenate([lead, speech.astype(np.float32), trail])
    if req.snr_db is not None:
        clip = add_noise(clip, slice(len(lead), len(lead) + len(speech)), req.snr_db, _seed(req))
    return clip, speech_s


@dataclass
class Clip:
    request: Request
    audio: np.ndarray  # 16 kHz mono float32
    speech_start_s: float  # where the speech begins in `audio`
    speech_s: float  # how long the speech lasts

    @property
    def speech_end_s(self) -> float:
        return self.speech_start_s + self.speech_s

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SR


def _cache_name(req: Request) -> str:
    key = json.dumps([CORPUS_VERSION, asdict(req) | {"quick": None}, LEAD_S, TRAIL_S], sort_keys=True)
    return f"{req.id}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.wav"


def load_clip(req: Request, cache_dir: Path = CACHE_DIR) -> Clip:
    """The request's clip, synthesized once and then read from the cache."""
    import soundfile

    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / _cache_name(req)
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        audio, sr = soundfile.read(str(path), dtype="float32")
        info = json.loads(meta.read_text())
        if sr == SR:
            return Clip(req, audio, LEAD_S, float(info["speech_s"]))
    audio, speech_s = build_clip(req)
    soundfile.write(str(path), audio, SR, subtype="FLOAT")
    meta.write_text(json.dumps({"speech_s": speech_s, "request": asdict(req)}))
    return Clip(req, audio, LEAD_S, speech_s)


def load(requests: list[Request], cache_dir: Path = CACHE_DIR) -> list[Clip]:
    return [load_clip(r, cache_dir) for r in requests]
