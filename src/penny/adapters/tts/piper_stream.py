"""Piper speaking before its sentence is done.

A Piper voice is one ONNX graph: text encoder, duration predictor and flow (fast), then a HiFi-GAN decoder
that turns latent frames into audio (most of the time: about 80% for a 5 s sentence here). The graph is
split where the decoder begins, once per voice (cached beside Penny's other models), and the decoder runs
on a few frames at a time with CONTEXT frames on either side, so every piece is the audio the whole run
would make (checked to 1e-5 in tests/test_tts_engines.py). The first sound then waits for the encoder and
a fraction of the decoder instead of all of it.

A voice whose graph does not split this way (another architecture, several speakers) keeps Piper's own
whole-sentence synthesis.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Iterator

import numpy as np

log = logging.getLogger("penny.tts")
DECODER = "/dec/"  # the name prefix of the decoder's nodes in Piper's exported graphs
CONTEXT = 20  # frames either side of a piece: more than the decoder's receptive field
FIRST, NEXT = 40, 160  # frames per piece (256 samples each): about 0.46 s first, then 1.9 s
LIMIT = 0.9  # a piece that would clip bends its peaks from here (the level is set by the first piece)


def split(model: Path, cache_dir: Path) -> tuple[Path, Path] | None:
    """(front, decoder) graphs of `model`, made once; None when the graph has no single decoder input."""
    key = hashlib.blake2b(f"{model.resolve()}|{model.stat().st_mtime_ns}".encode(), digest_size=8).hexdigest()
    front, decoder = cache_dir / f"{model.stem}-{key}.front.onnx", cache_dir / f"{model.stem}-{key}.decoder.onnx"
    if front.is_file() and decoder.is_file():
        return front, decoder
    import onnx
    from onnx.utils import extract_model

    graph = onnx.load(str(model), load_external_data=False).graph
    made_outside = {out for node in graph.node if not node.name.startswith(DECODER) for out in node.output}
    feeds = {name for node in graph.node if node.name.startswith(DECODER) for name in node.input
             if name in made_outside}
    if len(feeds) != 1 or len(graph.output) != 1:
        log.info("Piper voice %s: its decoder is fed by %d tensors; speaking whole sentences", model.name, len(feeds))
        return None
    (latent,) = feeds
    cache_dir.mkdir(parents=True, exist_ok=True)
    inputs = [i.name for i in graph.input]
    extract_model(str(model), str(front.with_suffix(".tmp")), inputs, [latent])
    extract_model(str(model), str(decoder.with_suffix(".tmp")), [latent], [graph.output[0].name])
    for made in (front, decoder):  # whole files only: a crash mid-way leaves no half model
        made.with_suffix(".tmp").chmod(0o600)  # like everything else Penny writes (private.py)
        made.with_suffix(".tmp").replace(made)
    return front, decoder


class StreamingVoice:
    """Sentence by sentence like PiperVoice.synthesize, each sentence in pieces as the decoder makes them."""

    def __init__(self, voice, front: Path, decoder: Path):
        import onnxruntime as ort

        self.voice = voice
        self.front = ort.InferenceSession(str(front), providers=["CPUExecutionProvider"])
        self.decoder = ort.InferenceSession(str(decoder), providers=["CPUExecutionProvider"])
        self.latent = self.decoder.get_inputs()[0].name

    def synthesize(self, text: str, config) -> Iterator[np.ndarray]:
        for phonemes in self.voice.phonemize(text):
            if phonemes:
                yield from self._sentence(self.voice.phonemes_to_ids(phonemes), config)

    def _sentence(self, ids: list[int], config) -> Iterator[np.ndarray]:
        cfg = self.voice.config
        scales = np.array([cfg.noise_scale if config.noise_scale is None else config.noise_scale,
                           cfg.length_scale if config.length_scale is None else config.length_scale,
                           cfg.noise_w_scale if config.noise_w_scale is None else config.noise_w_scale],
                          dtype=np.float32)
        (z,) = self.front.run(None, {"input": np.array([ids], dtype=np.int64),
                                     "input_lengths": np.array([len(ids)], dtype=np.int64), "scales": scales})
        frames, gain = z.shape[-1], None
        for start, end in pieces(frames):
            lo, hi = max(0, start - CONTEXT), min(frames, end + CONTEXT)
            (audio,) = self.decoder.run(None, {self.latent: z[:, :, lo:hi]})
            audio = audio.reshape(-1)
            hop = len(audio) // (hi - lo)
            audio = audio[(start - lo) * hop:(end - lo) * hop]
            if gain is None:  # Piper sets each sentence's peak to 1; the first piece decides it here
                gain = 1.0 / max(float(np.max(np.abs(audio))), 0.1) if config.normalize_audio else 1.0
            yield soft_limit(audio * gain * config.volume)


def pieces(frames: int) -> list[tuple[int, int]]:
    out, start, size = [], 0, FIRST
    while start < frames:
        end = frames if frames - start <= size + size // 2 else start + size  # no tiny last piece
        out.append((start, end))
        start, size = end, NEXT
    return out


def soft_limit(audio: np.ndarray) -> np.ndarray:
    """A later piece louder than the first would clip: its peaks above LIMIT bend towards 1 instead."""
    over = np.abs(audio) > LIMIT
    if float(np.max(np.abs(audio), initial=0.0)) > 1.0:
        a = np.abs(audio[over])
        audio = audio.copy()
        audio[over] = np.sign(audio[over]) * (LIMIT + (1 - LIMIT) * np.tanh((a - LIMIT) / (1 - LIMIT)))
    return audio.astype(np.float32)
