"""Train, export and check the "Hey Penny" classifier with livekit-wakeword's trainer (PyPI).

    /work/wake-venv/bin/python training/wake/train.py /work/wake-data [--heads dnn conv_attention]
        [--steps 12000] [--install]

Trains one classifier head per --heads on the features make_data.py wrote, exports each to ONNX
(input (batch, 16, 96) embeddings → (batch, 1) score), and picks the head by measurement on the
validation split of the training voices: recall at the threshold where validation speech gives at most
0.5 false accepts per hour. The held-out voices are never looked at here. --install copies the winner
to src/penny/data/hey_penny.onnx and writes its card (hey_penny.json: head, threshold, data sizes).
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HOP_S = 0.08  # one window per 80 ms chunk
SPEECH_STRIDE = 2  # make_data.py keeps every other speech window


def config(out: Path, head: str, steps: int, neg_weight: float, size: str = "small"):
    from livekit.wakeword.config import ModelConfig, WakeWordConfig

    return WakeWordConfig(
        model_name=f"hey_penny_{head}_{size}_w{neg_weight:g}", target_phrases=["hey penny"], data_dir=str(out / "data"),
        output_dir=str(out / "model"), model=ModelConfig(model_type=head, model_size=size), steps=steps,
        max_negative_weight=neg_weight,
        # per batch: our windows are many per clip, so fewer per class than the defaults
        batch_n_per_class={"positive": 128, "adversarial_negative": 128, "ACAV100M_sample": 512,
                           "background_noise": 32},
        target_fp_per_hour=0.5)


def link_features(out: Path, name: str) -> None:
    """The trainer reads OUT/model/<model_name>/: point each run's folder at the shared features."""
    src, dst = out / "model" / "hey_penny", out / "model" / name
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.npy"):
        if not (dst / f.name).exists():
            (dst / f.name).symlink_to(f.resolve())


def scores(onnx_path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 4096]})[0][:, 0] for i in range(0, len(x), 4096)])


def measure(onnx_path: Path, out: Path, max_speech_windows: int = 1) -> dict:
    """Validation (training voices): the lowest threshold ≥ 0.5 at which at most `max_speech_windows` windows
    of validation speech fire (0.18 h here: a stricter rule would rest on one window), and the share of
    validation wake utterances detected there (an utterance: its 6 positive windows, one must fire)."""
    d = out / "model" / "hey_penny"
    pos = np.load(d / "positive_features_test.npy")
    speech = np.load(out / "data" / "features" / "validation_set_features.npy")
    near = np.load(d / "negative_features_test.npy")
    ps, ss, ns = scores(onnx_path, pos), scores(onnx_path, speech), scores(onnx_path, near)
    hours = len(speech) * SPEECH_STRIDE * HOP_S / 3600
    t = next((t for t in np.arange(0.5, 0.99, 0.01) if int(np.sum(ss >= t)) <= max_speech_windows), 0.99)
    utt = ps.reshape(-1, 6).max(axis=1) if len(ps) % 6 == 0 else ps
    return {"threshold": round(float(t), 2), "recall_utterances": round(float(np.mean(utt >= t)), 4),
            "recall_windows": round(float(np.mean(ps >= t)), 4), "speech_windows_fired": int(np.sum(ss >= t)),
            "near_miss_windows_fired": round(float(np.mean(ns >= t)), 4), "validation_hours": round(hours, 2),
            "positives": len(pos), "near_windows": len(near)}


def skip_generator() -> None:
    """livekit.wakeword.data's __init__ imports its Piper VITS generator (torchaudio, a hub checkpoint),
    which this recipe does not use: register the bare package so only dataset.py is loaded."""
    import types

    import livekit.wakeword as lw

    pkg = types.ModuleType("livekit.wakeword.data")
    pkg.__path__ = [str(Path(lw.__file__).parent / "data")]
    sys.modules.setdefault("livekit.wakeword.data", pkg)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--heads", nargs="+", default=["dnn", "conv_attention"])
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--install", action="store_true", help="then install the best of every run in OUT")
    ap.add_argument("--install-only", action="store_true", help="no training: install the best saved run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", nargs="+", default=["small"], help="livekit-wakeword model sizes: tiny small medium")
    ap.add_argument("--neg-weights", nargs="+", type=float, default=[1500.0],
                    help="the trainer's final negative-class weight (its default 1500), one run each")
    args = ap.parse_args()
    if args.install_only:
        return install(args.out, args.steps)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    skip_generator()
    from livekit.wakeword.export.onnx import export_onnx
    from livekit.wakeword.training.trainer import WakeWordTrainer

    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(args.threads)
    results = {}
    for head, weight, size in [(h, w, z) for h in args.heads for w in args.neg_weights for z in args.sizes]:
        cfg = config(args.out, head, args.steps, weight, size)
        link_features(args.out, cfg.model_name)
        t0 = time.time()
        trainer = WakeWordTrainer(cfg)
        trainer.train()
        pt = cfg.model_output_dir / f"{cfg.model_name}.pt"
        trainer.save(pt)
        onnx_path = export_onnx(cfg, pt, cfg.model_output_dir / f"{cfg.model_name}.onnx")
        results[cfg.model_name] = {**measure(onnx_path, args.out), "head": head, "size": size, "max_negative_weight": weight,
                                   "train_s": round(time.time() - t0), "onnx": str(onnx_path),
                                   "bytes": onnx_path.stat().st_size}
        print(cfg.model_name, json.dumps(results[cfg.model_name]), flush=True)
    (args.out / f"runs-{int(time.time())}.json").write_text(json.dumps(results, indent=2))
    if args.install:
        install(args.out, args.steps)


def install(out: Path, steps: int) -> None:
    """Pick the run that detects most validation utterances (at its threshold) among every run saved in OUT; copy
    it to src/penny/data/hey_penny.onnx with its card (hey_penny.json)."""
    results = {k: v for f in sorted(out.glob("runs-*.json")) for k, v in json.loads(f.read_text()).items()}
    for name, r in results.items():  # runs saved before measure() changed: measure them again
        if "recall_utterances" in r:
            continue
        r.update(measure(Path(r["onnx"]), out))
    best = max(results, key=lambda h: (results[h]["recall_utterances"], -results[h]["threshold"]))
    print("picked", best, flush=True)
    dest = ROOT / "src" / "penny" / "data"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results[best]["onnx"], dest / "hey_penny.onnx")
    card = {"phrase": "hey penny", "run": best, "threshold": results[best]["threshold"],
            "trainer": "livekit-wakeword 0.3.0", "steps": steps,
            "compared": {h: {k: v for k, v in r.items() if k != "onnx"} for h, r in results.items()}}
    (dest / "hey_penny.json").write_text(json.dumps(card, indent=2) + "\n")
    print("installed", dest / "hey_penny.onnx", flush=True)


if __name__ == "__main__":
    sys.exit(main())
