"""The wake benchmark's audio, made from voices and sentences training never saw (training/wake/recipe.py):
held-out wake utterances in five conditions, held-out near-misses, other wake words (openWakeWord's stock
models' own phrases), and an hour and more of non-addressed speech (synthesized) plus real recordings.
Cached under benchmarks/.cache/wake/ (git-ignored): the first run synthesizes (a few minutes), later runs load.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training.wake import recipe as R  # noqa: E402
from training.wake import speech as S  # noqa: E402

SR = 16000
CACHE = ROOT / "benchmarks" / ".cache" / "wake"
VERSION = 1
STOCK_PHRASES = {"hey_jarvis": "hey Jarvis", "alexa": "Alexa", "hey_mycroft": "hey Mycroft",
                 "hey_rhasspy": "hey Rhasspy", "okay_nabu": "okay Nabu"}


@dataclass
class Clip:
    audio: np.ndarray
    end: int  # sample where the wake phrase's speech ends (0 for clips with no wake word)
    meta: dict


def heldout_voices(n_espeak: int = 36) -> list[dict]:
    """Held-out espeak accents × held-out variants × held-out rates/pitches, and Piper's held-out knobs."""
    rng = np.random.default_rng(17)
    out = []
    for i in range(n_espeak):
        accent = R.HELDOUT_ACCENTS[i % len(R.HELDOUT_ACCENTS)]
        variant = R.HELDOUT_VARIANTS[i // len(R.HELDOUT_ACCENTS) % len(R.HELDOUT_VARIANTS)]
        out.append({"engine": "espeak", "voice": f"{accent}+{variant}", "rate": int(rng.choice(R.HELDOUT_RATES)),
                    "pitch": int(rng.choice(R.HELDOUT_PITCHES))})
    p = R.HELDOUT_PIPER
    for ls in p["length_scale"]:
        for ns in p["noise_scale"]:
            for nw in p["noise_w"]:
                for cents in p["cents"]:
                    out.append({"engine": "piper", "length_scale": ls, "noise_scale": ns, "noise_w": nw, "cents": cents})
    return out


def say(text: str, v: dict) -> np.ndarray:
    if v["engine"] == "piper":
        x = S.piper(text, v["length_scale"], v["noise_scale"], v["noise_w"])
        return S.sox(x, ["pitch", str(v["cents"])]) if v["cents"] else x
    return S.espeak(text, v["voice"], v["rate"], v["pitch"])


def _placed(clean: np.ndarray, cond: str, rng, lead_s: float = 1.2, tail_s: float = 1.5) -> tuple[np.ndarray, int]:
    _, b = S.speech_bounds(clean)
    x = np.concatenate([np.zeros(int(lead_s * SR), np.float32), clean, np.zeros(int(tail_s * SR), np.float32)])
    return S.condition(x, cond, rng), int(lead_s * SR) + b


def wake_set(texts_per_voice: int = 2) -> list[Clip]:
    rng = np.random.default_rng(5)
    clips = []
    for i, v in enumerate(heldout_voices()):
        for k in range(texts_per_voice):
            text = R.WAKE_TEXTS[(i + k * 2) % len(R.WAKE_TEXTS)]
            clean = say(text, v)
            for cond in R.CONDITIONS:
                audio, end = _placed(clean, cond, rng)
                clips.append(Clip(audio, end, {"voice": v, "text": text, "condition": cond}))
    return clips


def near_miss_set() -> list[Clip]:
    rng = np.random.default_rng(6)
    voices = heldout_voices()
    clips = []
    for i, text in enumerate(R.HELDOUT_NEAR_MISSES * 3):
        v = voices[(i * 7) % len(voices)]
        cond = ("clean", "noise-15db", "reverb")[i // len(R.HELDOUT_NEAR_MISSES)]
        audio, _ = _placed(say(text, v), cond, rng)
        clips.append(Clip(audio, 0, {"voice": v, "text": text, "condition": cond}))
    return clips


def stock_set() -> list[Clip]:
    """openWakeWord's stock phrases in the held-out voices, clean and in 15 dB noise."""
    rng = np.random.default_rng(7)
    clips = []
    for i, v in enumerate(heldout_voices()[::2]):
        for model, text in STOCK_PHRASES.items():
            cond = ("clean", "noise-15db")[i % 2]
            audio, end = _placed(say(text, v), cond, rng)
            clips.append(Clip(audio, end, {"model": model, "voice": v, "text": text, "condition": cond}))
    return clips


def speech_streams(minutes: float = 72.0) -> list[Clip]:
    """Non-addressed talk: held-out sentences in held-out voices, 10-minute streams, levels, some noise
    or reverb; none says the wake word."""
    rng = np.random.default_rng(8)
    sentences = [s for s in R.sentences() if R.is_heldout_text(s)]
    voices = heldout_voices()
    espeak_voices = [v for v in voices if v["engine"] == "espeak"]
    streams, parts, total, i = [], [], 0, 0
    while total < minutes * 60 * SR:
        v = voices[i % len(voices)]
        if v["engine"] == "piper" and rng.random() < 0.5:  # Piper is slower: keep it to about a quarter
            v = espeak_voices[int(rng.integers(0, len(espeak_voices)))]
        x = S.level(say(sentences[i % len(sentences)], v), float(rng.uniform(-30, -16)))
        parts += [x, np.zeros(int(rng.uniform(0.3, 1.2) * SR), np.float32)]
        total += len(x) + len(parts[-1])
        i += 1
        if sum(len(p) for p in parts) >= 600 * SR or total >= minutes * 60 * SR:
            cond = ("clean", "noise-15db", "clean", "reverb")[len(streams) % 4]
            audio = np.concatenate(parts)
            audio = S.add_noise(audio, 15.0, "pink", rng) if cond == "noise-15db" else (
                S.reverb(audio, 50, 70) if cond == "reverb" else audio)
            streams.append(Clip(audio.astype(np.float32), 0, {"kind": "synthetic", "condition": cond,
                                                              "sentences": i}))
            parts = []
    return streams


def real_speech() -> list[Clip]:
    """Real recorded human speech from Debian packages: the held-out part of the asterisk prompts (the
    rest trained), all of pocketsphinx-testdata, and alsa-utils' test voice."""
    import soundfile

    files = sorted(p for p in R.ASTERISK.glob("*.wav") if R.is_heldout_text(p.name))
    files += sorted(R.POCKETSPHINX.rglob("*.wav")) + sorted(p for p in R.ALSA.glob("*.wav") if p.stem != "Noise")
    clips = []
    for f in files:
        audio, sr = soundfile.read(str(f), dtype="float32")
        clips.append(S.level(S.sox(audio if audio.ndim == 1 else audio[:, 0], [], rate_in=sr), -22.0))
    for raw in sorted(R.POCKETSPHINX.glob("*.raw")):
        clips.append(S.level(np.fromfile(raw, "<i2").astype(np.float32) / 32768.0, -22.0))
    audio = S.concat(clips, gap_s=0.6)
    return [Clip(audio, 0, {"kind": "real", "files": len(clips), "condition": "clean"})]


def _save(name: str, clips: list[Clip]) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE / f"{name}-v{VERSION}.npz", audio=np.concatenate([c.audio for c in clips]),
             lengths=np.array([len(c.audio) for c in clips]), ends=np.array([c.end for c in clips]))
    (CACHE / f"{name}-v{VERSION}.json").write_text(json.dumps([c.meta for c in clips]))


def _load(name: str) -> list[Clip] | None:
    path = CACHE / f"{name}-v{VERSION}.npz"
    if not path.is_file():
        return None
    data, meta = np.load(path), json.loads((CACHE / f"{name}-v{VERSION}.json").read_text())
    audio, ends = data["audio"], data["ends"]  # read each array once: npz decodes on every access
    offsets = np.concatenate([[0], np.cumsum(data["lengths"])])
    return [Clip(audio[offsets[i]:offsets[i + 1]], int(ends[i]), meta[i]) for i in range(len(meta))]


def corpus(name: str, quick: bool = False) -> list[Clip]:
    """A named set (wake, near, stock, speech, real), from the cache or made now."""
    makers = {"wake": wake_set, "near": near_miss_set, "stock": stock_set, "speech": speech_streams,
              "real": real_speech}
    clips = _load(name)
    if clips is None:
        clips = makers[name]()
        _save(name, clips)
    if quick and name == "speech":
        return clips[:1]
    if quick and name in ("wake", "stock"):
        return clips[::7]  # 7, not 5: every condition still appears
    return clips
