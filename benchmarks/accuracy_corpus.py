"""The spoken corpus of the task-success ("accuracy") benchmark: every skill, open questions and speech not
addressed to Penny, in synthetic voices (Piper, sox-pitched Piper, espeak-ng variants) and real human recordings
shipped by Debian packages, each clean, at 15 and 5 dB SNR (pink 1/f noise over the whole clip, like a fan or
traffic, seeded per clip; SNR measured against the speech) and in a reverberant room (sox `reverb`).
Words and voices live in benchmarks/accuracy_requests.py. Clips are cached as WAV by content hash under
benchmarks/.cache/accuracy/, so a second build is fast.  python -m benchmarks.accuracy_corpus [--quick] [--out DIR]
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import soundfile
from piper import PiperVoice, SynthesisConfig

from benchmarks.accuracy_requests import (  # noqa: F401 (SEED_* re-exported for the runner)
    QUICK, REAL_CLIPS, REQUESTS, SEED_EVENTS, SEED_NOTES, VOICE_SPECS)
from penny.core.pcm import to_16k_mono
from penny.models import piper_joe_voice
from penny.testing import espeak_16k

log = logging.getLogger("benchmarks.accuracy_corpus")

SR = 16000
LEAD_S, TRAIL_S = 0.5, 1.5
PEAK = 0.5  # every voice's speech is scaled to this peak before noise or reverb
CACHE_DIR = Path(__file__).resolve().parent / ".cache" / "accuracy"
VERSION = 2  # bump when rendering changes, so stale cached clips are not reused
TASKS = ("time", "date", "calendar_read", "calendar_add", "timer_set", "timer_query", "timer_cancel", "reminder",
         "note_add", "note_recall", "weather", "open", "ignore")
CONDITIONS = ("clean", "snr15", "snr5", "reverb")
REVERB = ("reverb", "75", "50", "100", "100", "15", "0")  # reverberance %, HF damping %, room %, depth %, pre-delay ms


@dataclass(frozen=True)
class Ask:
    id: str  # "timer_set-03"
    text: str  # the words spoken (also the WER reference)
    task: str  # one of TASKS; "ignore": speech not addressed to Penny (wake-word mode must not reply)
    expect: dict  # task-specific expected facts (see accuracy_requests.py)
    followup: str | None = None  # calendar_add: what the user says when Penny asks to confirm
    quick: bool = False  # in the --quick subset

    def __hash__(self) -> int:  # expect is a dict; the id is unique
        return hash(self.id)


@dataclass(frozen=True)
class Voice:
    name: str
    kind: str  # "piper" | "piper-pitched" | "espeak" | "real"
    params: dict

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass
class Clip:
    ask: Ask
    voice: str
    condition: str
    audio: np.ndarray  # 16 kHz mono float32: LEAD_S lead-in + speech + TRAIL_S tail, noise over all of it
    speech_start_s: float
    speech_end_s: float  # the true end of speech (last voiced sample of the clean speech; no reverb tail)
    followup_audio: np.ndarray | None = None
    followup_speech_end_s: float | None = None


VOICES: tuple[Voice, ...] = tuple(Voice(*spec) for spec in VOICE_SPECS)
_VOICE = {v.name: v for v in VOICES}
_SYNTHETIC = [v.name for v in VOICES if v.kind != "real"]


def _make_asks() -> tuple[tuple[Ask, ...], dict[str, str], dict[str, str]]:
    asks, voice_of, real_file, i = [], {}, {}, 0
    for task in TASKS:
        for n, row in enumerate(REQUESTS[task], 1):
            aid = f"{task}-{n:02d}"
            asks.append(Ask(aid, row[0], task, row[1], row[2] if len(row) > 2 else None, aid in QUICK))
            voice_of[aid] = _SYNTHETIC[i % len(_SYNTHETIC)]  # rotate: every voice speaks many tasks
            i += 1
    for n, (voice, path, text) in enumerate(REAL_CLIPS, len(REQUESTS["ignore"]) + 1):
        aid = f"ignore-{n:02d}"
        asks.append(Ask(aid, text, "ignore", {}, None, aid in QUICK))
        voice_of[aid], real_file[aid] = voice, path
    return tuple(asks), voice_of, real_file


ASKS, _VOICE_OF, _REAL_FILE = _make_asks()


def voice_of(ask: Ask) -> str:
    """The one voice that speaks this ask."""
    return _VOICE_OF[ask.id]


# ---------------------------------------------------------------- words (for WER)

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
            "twelve": "twelfth"}


def _number_words(n: int) -> str:
    for size, name in ((1000, " thousand"), (100, " hundred")):
        if size <= n < 10 * size:
            return _ONES[n // size] + name + ("" if n % size == 0 else " " + _number_words(n % size))
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return " ".join(_ONES[int(d)] for d in str(n))


def _ordinal_words(m: re.Match) -> str:
    *head, last = _number_words(int(m.group(1))).split()
    return " ".join([*head, _ORDINAL.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")])


def _clock_words(m: re.Match) -> str:
    h, mins = int(m.group(1)), int(m.group(2))
    return _number_words(h) + ("" if mins == 0 else (" oh " if mins < 10 else " ") + _number_words(mins))


def normalise(text: str) -> str:
    """Lower-case words, numbers as words, no punctuation: apply to reference and hypothesis alike."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"\b([ap])\.\s?m\.?", r"\1m", t)
    t = re.sub(r"\b(\d{1,2}):(\d{2})\b", _clock_words, t)
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t)
    t = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", _ordinal_words, t)
    t = re.sub(r"\$(\d+)", r"\1 dollars", t)
    t = re.sub(r"\d+", lambda m: f" {_number_words(int(m.group()))} ", t)
    t = re.sub(r"\bwi-?fi\b", "wifi", t).replace("o'clock", "oclock").replace("'", "")
    t = re.sub(r"\bmrs\b", "missus", re.sub(r"\bmr\b", "mister", re.sub(r"\bok\b", "okay", t)))
    return " ".join(re.sub(r"[^a-z ]+", " ", t.replace("-", " ")).split())


def reference_text(ask: Ask) -> str:
    """The ask's words, normalised for WER (use normalise() on the transcript too)."""
    return normalise(ask.text)


# ---------------------------------------------------------------- audio

def _sox(audio: np.ndarray, *effects: str) -> np.ndarray:
    raw = ["-t", "f32", "-r", str(SR), "-c", "1"]
    out = subprocess.run(["sox", "-q", *raw, "-", *raw, "-", *effects], input=audio.astype("<f4").tobytes(),
                         capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(out, "<f4").astype(np.float32)


def _real(voice: Voice, rel: str) -> np.ndarray | None:
    path = Path(voice.params["root"]) / rel
    if not path.is_file():
        return None
    if path.suffix == ".raw":  # headerless 16 kHz 16-bit little-endian mono
        return to_16k_mono(np.fromfile(path, "<i2"), SR)
    data, sr = soundfile.read(str(path), dtype="float32")
    return to_16k_mono(data, sr)


def _piper(text: str, seed: int, **synthesis) -> np.ndarray:
    """Piper joe, reproducibly: its noise is drawn inside the ONNX graph from a generator that onnxruntime seeds
    when the session is created, so each utterance gets a fresh session under its own seed (about 1 s)."""
    onnxruntime.set_seed(seed)
    voice = PiperVoice.load(str(piper_joe_voice()))
    chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=SynthesisConfig(**synthesis))]
    return to_16k_mono(np.concatenate(chunks).astype(np.float32), voice.config.sample_rate)


def synthesize(voice: Voice, text: str, real_file: str | None = None) -> np.ndarray | None:
    """The voice saying `text`, 16 kHz mono float32, untrimmed; None when a real recording is not installed."""
    p = voice.params
    if voice.kind == "real":
        return _real(voice, real_file or "")
    if voice.kind == "espeak":
        return espeak_16k(text, p["voice"], speed=p["speed"], pitch=p["pitch"])
    synthesis = {k: v for k, v in p.items() if k != "cents"}
    audio = _piper(text, _seed(voice.name, text), **synthesis)
    if voice.kind == "piper-pitched":
        audio = _sox(audio, "pitch", str(p["cents"]))
    return audio


def voiced_bounds(audio: np.ndarray, floor_db: float = -40.0) -> tuple[int, int]:
    """First and one-past-last sample of the voiced part: 10 ms frames within floor_db of the loudest frame,
    tightened to the first/last sample above 2 % of the peak."""
    hop, n = SR // 100, len(audio) // (SR // 100)
    rms = np.sqrt(np.mean(audio[:n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1))
    loud = np.flatnonzero(rms > max(rms.max(initial=0.0) * 10 ** (floor_db / 20), 1e-4))
    if loud.size == 0:
        return 0, 0
    part = np.abs(audio[loud[0] * hop:(loud[-1] + 1) * hop])
    idx = np.flatnonzero(part > 0.02 * part.max())
    return loud[0] * hop + int(idx[0]), loud[0] * hop + int(idx[-1]) + 1


def prepare_speech(audio: np.ndarray) -> np.ndarray:
    """Trimmed to the voiced part, scaled to PEAK, 5 ms fades so a real recording's floor does not click."""
    a, b = voiced_bounds(audio)
    speech = audio[a:b].astype(np.float64) * (PEAK / max(float(np.max(np.abs(audio[a:b]), initial=0.0)), 1e-9))
    fade = np.minimum(1.0, np.minimum(np.arange(len(speech)), np.arange(len(speech))[::-1]) / (SR // 200))
    return (speech * fade).astype(np.float32)


def pink_noise(n: int, seed: int) -> np.ndarray:
    """n samples of unit-RMS pink noise: power falls 3 dB an octave above 20 Hz."""
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spec /= np.sqrt(np.fft.rfftfreq(n, 1 / SR) / 20.0).clip(1.0)
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return (x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)).astype(np.float32)


def render(speech: np.ndarray, condition: str, seed: int) -> tuple[np.ndarray, float, float]:
    """(clip, speech_start_s, speech_end_s): lead-in + prepared speech + tail, under `condition`."""
    lead, trail = np.zeros(int(LEAD_S * SR), np.float32), np.zeros(int(TRAIL_S * SR), np.float32)
    clip = np.concatenate([lead, speech, trail])
    start, end = len(lead) / SR, (len(lead) + len(speech)) / SR
    if condition.startswith("snr"):
        p_speech = float(np.mean(speech.astype(np.float64) ** 2))
        clip = clip + pink_noise(len(clip), seed) * np.sqrt(p_speech / 10 ** (int(condition[3:]) / 10))
    elif condition == "reverb":
        wet = _sox(clip * 0.5, *REVERB)[:len(clip)]
        clip = np.pad(wet, (0, len(clip) - len(wet))) * (PEAK / max(float(np.max(np.abs(wet))), 1e-9))
    elif condition != "clean":
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    return np.clip(clip, -1.0, 1.0).astype(np.float32), start, end


# ---------------------------------------------------------------- build, with a cache

def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:4], "little")


def _cached(key: list, make, cache_dir: Path) -> tuple[np.ndarray, float, float] | None:
    digest = hashlib.sha256(json.dumps([VERSION, LEAD_S, TRAIL_S, PEAK, REVERB, *key], sort_keys=True).encode())
    path = cache_dir / f"{key[0]}-{key[1]}-{key[2]}-{digest.hexdigest()[:12]}.wav"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        audio, _ = soundfile.read(str(path), dtype="float32")
        return audio, info["start"], info["end"]
    made = make()
    if made is None:
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), made[0], SR, subtype="FLOAT")
    meta.write_text(json.dumps({"start": made[1], "end": made[2], "key": key}))
    return made


def build_clips(quick: bool = False, conditions: tuple[str, ...] = CONDITIONS, voices: list[str] | None = None,
                wake_phrase: str | None = None, cache_dir: Path = CACHE_DIR) -> list[Clip]:
    """Every selected ask in its voice under every condition. With wake_phrase ("Hey Penny"), addressed asks
    are spoken as "<wake_phrase>, <text>" in the same voice (speech_start_s is then the wake phrase's start)."""
    speech_memo: dict[tuple[str, str], np.ndarray | None] = {}
    clips, missing = [], set()

    def speech(voice: Voice, text: str, ask: Ask) -> np.ndarray | None:
        if (voice.name, text) not in speech_memo:
            raw = synthesize(voice, text, _REAL_FILE.get(ask.id))
            speech_memo[(voice.name, text)] = None if raw is None else prepare_speech(raw)
        return speech_memo[(voice.name, text)]

    for ask in ASKS:
        voice = _VOICE[voice_of(ask)]
        if (quick and not ask.quick) or (voices is not None and voice.name not in voices):
            continue
        text = f"{wake_phrase}, {ask.text}" if wake_phrase and ask.task != "ignore" else ask.text
        for cond in conditions:
            def make(t=text, c=cond, part="main"):
                s = speech(voice, t, ask)
                return None if s is None else render(s, c, _seed(ask.id, voice.name, c, part))
            key = [ask.id, voice.name, cond, voice.kind, voice.params, text, _REAL_FILE.get(ask.id)]
            main = _cached(key, make, cache_dir)
            if main is None:
                missing.add(voice.params.get("package", voice.name))
                continue
            clip = Clip(ask, voice.name, cond, main[0], main[1], main[2])
            if ask.followup:
                fu = _cached([f"{ask.id}.followup", voice.name, cond, voice.kind, voice.params, ask.followup],
                             lambda c=cond: make(ask.followup, c, "followup"), cache_dir)
                clip.followup_audio, clip.followup_speech_end_s = fu[0], fu[2]
            clips.append(clip)
    for package in sorted(missing):
        log.warning("real recordings skipped: install the Debian package %s", package)
    return clips


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time
    from collections import Counter

    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy_corpus", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the ~16-ask subset")
    ap.add_argument("--out", type=Path, help="also write every clip (and follow-up) here as WAV, for listening")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    clips = build_clips(quick=args.quick)
    took = time.perf_counter() - t0
    for label in ("task", "voice", "condition"):
        counts = Counter(c.ask.task if label == "task" else getattr(c, label) for c in clips)
        print(f"per {label}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    audio_s = sum(len(c.audio) + len(c.followup_audio if c.followup_audio is not None else []) for c in clips) / SR
    asks = {c.ask for c in clips}
    print(f"{len(clips)} clips of {len(asks)} asks ({sum(a.task != 'ignore' for a in asks)} addressed), "
          f"{audio_s / 60:.1f} min of audio, built in {took:.1f} s")
    for c in clips if args.out else []:
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"{c.ask.id}-{c.voice}-{c.condition}"
        soundfile.write(str(args.out / f"{name}.wav"), c.audio, SR)
        if c.followup_audio is not None:
            soundfile.write(str(args.out / f"{name}-followup.wav"), c.followup_audio, SR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
