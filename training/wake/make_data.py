"""Make the training features for "Hey Penny": synthesize, augment, extract openWakeWord embeddings.

    /work/wake-venv/bin/python training/wake/make_data.py /work/wake-data [--scale 1.0] [--jobs 2]

Writes, in livekit-wakeword's layout (train.py hands it to its trainer):
  OUT/model/hey_penny/positive_features_{train,test}.npy    windows ending just after "penny"
  OUT/model/hey_penny/negative_features_{train,test}.npy    near-misses, and "hey pe-" before the end
  OUT/model/hey_penny/background_noise_features_{train,test}.npy
  OUT/data/features/openwakeword_features_ACAV100M_2000_hrs_16bit.npy   general speech (synthetic + real)
  OUT/data/features/validation_talk_{features,ids}.npy   talk jobs' validation: every window + stretch index
  OUT/model/hey_penny/hard_negative_{features,scores}_train.npy   talk the --mine model scored >= 0.05
Each array is (N, 16, 96): the classifier's input, computed by Penny's own streaming feature code
(src/penny/adapters/wake/features.py), so training and run time see the same numbers.
"test" here is a validation split of *training* voices (1 job in 10); the held-out voices in recipe.py
are only ever made by the benchmark.
"""
from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from penny.adapters.wake.features import CHUNK, clip_embeddings, windows_of  # noqa: E402
from training.wake import recipe as R  # noqa: E402
from training.wake import speech as S  # noqa: E402

SR = S.SR
COMMANDS = ["what time is it", "turn on the kitchen lights", "set a timer for five minutes",
            "what's the weather like", "play some music", "stop", "add milk to my shopping list"]


def _voice(rng, heldout: bool = False) -> dict:
    """A random training voice: espeak (accent + variant, rate, pitch) or Piper (its knobs + pitch shift)."""
    if rng.random() < 0.25:
        p = R.TRAIN_PIPER
        return {"engine": "piper", "length_scale": float(rng.choice(p["length_scale"])),
                "noise_scale": float(rng.choice(p["noise_scale"])), "noise_w": float(rng.choice(p["noise_w"])),
                "cents": int(rng.choice(p["cents"]))}
    variant = str(rng.choice(R.train_variants() + [""]))
    accent = str(rng.choice(R.TRAIN_ACCENTS))
    return {"engine": "espeak", "voice": accent + (f"+{variant}" if variant else ""),
            "rate": int(rng.choice(R.TRAIN_RATES)), "pitch": int(rng.choice(R.TRAIN_PITCHES))}


def say(text: str, v: dict) -> np.ndarray:
    if v["engine"] == "piper":
        x = S.piper(text, v["length_scale"], v["noise_scale"], v["noise_w"])
        return S.sox(x, ["pitch", str(v["cents"])]) if v["cents"] else x
    return S.espeak(text, v["voice"], v["rate"], v["pitch"])


def augment(x: np.ndarray, rng) -> tuple[np.ndarray, float]:
    """Tempo, telephone band, reverb and level: (audio, tempo factor)."""
    tempo = float(rng.uniform(0.85, 1.15)) if rng.random() < 0.5 else 1.0
    effects = (["tempo", f"{tempo:.3f}"] if tempo != 1.0 else []) + (["sinc", "300-3400"] if rng.random() < 0.08 else [])
    if effects:
        x = S.sox(x, effects)
    x = S.level(x, float(rng.uniform(-40, -14)))
    if rng.random() < 0.35:
        x = S.reverb(x, int(rng.integers(20, 90)), int(rng.integers(30, 100)), int(rng.integers(0, 30)))
    return x, tempo


def background(x: np.ndarray, rng) -> np.ndarray:
    """Noise over everything (70%: white/pink/brown at 0..25 dB SNR), and always a faint floor."""
    if rng.random() < 0.7:
        x = S.add_noise(x, float(rng.uniform(0, 25)), str(rng.choice(["white", "pink", "brown"])), rng)
    return (x + S.noise("pink", len(x), rng) * 10 ** (-75 / 20)).astype(np.float32)


def placed(text: str, v: dict, rng, command: bool) -> tuple[np.ndarray, int, int]:
    """The phrase in context: a lead-in (silence or someone's speech), the phrase, maybe a command after it.
    Returns (audio, start, end) of the phrase's speech in samples."""
    clean = say(text, v)
    a, b = S.speech_bounds(clean)
    x, tempo = augment(clean, rng)
    start, end = int(a / tempo), int(b / tempo)
    lead = np.zeros(int(rng.uniform(0.6, 1.6) * SR), np.float32)
    if rng.random() < 0.3:  # someone was talking just before
        talk = S.level(S.espeak(str(rng.choice(R.HOUSEHOLD)), str(rng.choice(R.TRAIN_ACCENTS)),
                                int(rng.choice(R.TRAIN_RATES))), float(rng.uniform(-45, -25)))
        talk = talk[-len(lead) + int(0.2 * SR):]
        lead[:len(talk)] = talk
    tail = np.zeros(int(0.7 * SR), np.float32)
    if command and rng.random() < 0.4:  # "Hey Penny, what time is it?" in one breath
        cmd = S.level(S.trim(say(str(rng.choice(COMMANDS)), v)), float(rng.uniform(-35, -18)))
        gap = int(rng.uniform(0.0, 0.25) * SR)
        tail = np.concatenate([np.zeros(gap, np.float32), cmd[:int(0.6 * SR)], tail])
    audio = background(np.concatenate([lead, x, tail]), rng)
    return audio, len(lead) + start, len(lead) + end


def chunk_ends(n: int) -> np.ndarray:
    return (np.arange(n) + 1) * CHUNK


def job_wake(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    x, start, end = placed(str(rng.choice(R.WAKE_TEXTS)), _voice(rng), rng, command=True)
    win = windows_of(clip_embeddings(x))
    ends = chunk_ends(len(win))
    pos = (ends >= end - int(0.04 * SR)) & (ends <= end + int(0.44 * SR))
    early = (ends >= start + int(0.2 * SR)) & (ends <= end - int(0.5 * SR))
    return {"positive": win[pos], "near": win[early]}


def job_near(seed: int, texts: list[str] = R.NEAR_MISSES) -> dict:
    rng = np.random.default_rng(seed)
    x, start, end = placed(str(rng.choice(texts)), _voice(rng), rng, command=True)
    win = windows_of(clip_embeddings(x))
    ends = chunk_ends(len(win))
    return {"near": win[(ends >= start) & (ends <= end + int(0.8 * SR))]}


SENTENCES: list[str] = []  # set before the worker pool forks


def job_speech(seed: int, sentences: list[str]) -> dict:
    """A stretch of ordinary talk in one voice: every other window is a negative."""
    rng = np.random.default_rng(seed)
    v = _voice(rng)
    picks = [sentences[i] for i in rng.choice(len(sentences), size=6, replace=False)]
    clips = [S.level(say(s, v), float(rng.uniform(-32, -16))) for s in picks]
    x = S.concat(clips, gap_s=float(rng.uniform(0.15, 0.9)))
    if rng.random() < 0.3:
        x = S.reverb(x, int(rng.integers(20, 90)), int(rng.integers(30, 100)))
    win = windows_of(clip_embeddings(background(x, rng)))
    return {"speech": win[16::2]}


def job_onset(seed: int) -> dict:
    """Talk starting after a long quiet: its first second looks like a short phrase after silence, which
    the talk stretches (windows from 1.28 s on) never show."""
    rng = np.random.default_rng(seed)
    v = _voice(rng)
    x = S.level(S.trim(say(SENTENCES[int(rng.integers(0, len(SENTENCES)))], v)), float(rng.uniform(-34, -16)))
    if rng.random() < 0.3:
        x = S.reverb(x, int(rng.integers(20, 90)), int(rng.integers(30, 100)))
    lead = int(rng.uniform(1.0, 2.5) * SR)
    audio = background(np.concatenate([np.zeros(lead, np.float32), x[:int(2.5 * SR)]]), rng)
    win = windows_of(clip_embeddings(audio))
    ends = chunk_ends(len(win))
    return {"near": win[(ends >= lead) & (ends <= lead + int(2.0 * SR))]}


_MINER: list = []  # (onnxruntime session, input name) of the --mine model, one per worker process
MINE_MODEL: list[str] = []  # set before the worker pool forks
MINE_FLOOR = 0.05  # keep training-talk windows the mining model scores at least this high (with their scores)


def _mine_scores(win: np.ndarray) -> np.ndarray:
    if not _MINER:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(MINE_MODEL[0], opts, providers=["CPUExecutionProvider"])
        _MINER.append((sess, sess.get_inputs()[0].name))
    sess, name = _MINER[0]
    return np.concatenate([sess.run(None, {name: win[i:i + 2048].astype(np.float32)})[0][:, 0]
                           for i in range(0, len(win), 2048)]) if len(win) else np.zeros(0, np.float32)


def job_talk(seed: int, index: int, split: str) -> dict:
    """A long stretch of ordinary talk (12 sentences, one training voice, pauses of 0.3-1.2 s; clean, in
    noise or reverberant), every window kept. Validation jobs ("test") keep all windows with the stretch's
    index, so validation can count false accepts per hour the way the detector fires (events, 2 s apart).
    Training jobs give every other window to the general talk set, and the windows the --mine model scores
    >= MINE_FLOOR as hard negatives (with their scores: train.py picks its own cut)."""
    rng = np.random.default_rng(seed)
    v = _voice(rng)
    picks = [SENTENCES[i] for i in rng.choice(len(SENTENCES), size=12, replace=False)]
    parts = []
    for s in picks:
        parts += [S.level(say(s, v), float(rng.uniform(-32, -16))),
                  np.zeros(int(rng.uniform(0.3, 1.2) * SR), np.float32)]
    x = np.concatenate([np.zeros(int(0.5 * SR), np.float32)] + parts)
    cond = str(rng.choice(["clean", "noise", "clean", "reverb"]))
    if cond == "noise":
        x = S.add_noise(x, float(rng.uniform(8, 25)), str(rng.choice(["white", "pink", "brown"])), rng)
    elif cond == "reverb":
        x = S.reverb(x, int(rng.integers(30, 90)), int(rng.integers(40, 100)), int(rng.integers(0, 30)))
    x = (x + S.noise("pink", len(x), rng) * 10 ** (-75 / 20)).astype(np.float32)
    win = windows_of(clip_embeddings(x))[16:]
    if split == "test":
        return {"valtalk": win, "valtalk_ids": np.full(len(win), index, np.float32)}
    out = {"speech": win[::2]}
    if MINE_MODEL:
        sc = _mine_scores(win)
        keep = sc >= MINE_FLOOR
        out.update({"hard": win[keep], "hard_scores": sc[keep].astype(np.float32)})
    return out


def job_real(seed: int, files: list[str]) -> dict:
    """Real recorded speech (Debian's asterisk prompts), clean and in noise."""
    import soundfile

    rng = np.random.default_rng(seed)
    clips = []
    for f in files:
        audio, sr = soundfile.read(f, dtype="float32")
        clips.append(S.level(S.sox(audio if audio.ndim == 1 else audio[:, 0], [], rate_in=sr),
                             float(rng.uniform(-32, -16))))
    x = background(S.concat(clips, gap_s=float(rng.uniform(0.2, 0.8))), rng)
    return {"speech": windows_of(clip_embeddings(x))[16::2]}


def job_noise(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = 30 * SR
    x = S.noise(str(rng.choice(["white", "pink", "brown"])), n, rng) * 10 ** (float(rng.uniform(-60, -20)) / 20)
    if rng.random() < 0.5:  # a hum, a fan
        t = np.arange(n) / SR
        x = x + 0.01 * np.sin(2 * np.pi * float(rng.choice([50, 60, 100, 120])) * t)
    return {"noise": windows_of(clip_embeddings(x.astype(np.float32)))[16::4]}


def run_job(job: tuple) -> tuple[str, dict]:
    kind, split, seed, arg = job
    fn = {"wake": job_wake, "near": job_near, "noise": job_noise, "onset": job_onset}.get(kind)
    if kind == "talk":
        return split, job_talk(seed, arg, split)
    if kind == "near2":
        return split, job_near(seed, R.NEAR_MISSES_2)
    out = fn(seed) if fn else (job_speech(seed, SENTENCES) if kind == "speech" else job_real(seed, arg))
    return split, out


def jobs(scale: float, kinds: list[str] | None = None, start: int = 0) -> list[tuple]:
    SENTENCES[:] = [s for s in R.sentences() if not R.is_heldout_text(s)]
    real = sorted(str(p) for p in R.ASTERISK.glob("*.wav") if not R.is_heldout_text(p.name))
    out: list[tuple] = []
    counts = {"wake": 4400, "near": 2200, "speech": 610, "noise": 40, "onset": 1000, "talk": 862, "near2": 1000}
    for kind, n in counts.items():
        if kinds and kind not in kinds:
            continue
        for i in range(start, int(n * scale)):
            # talk: a quarter for validation (2.2 h at --scale 0.65: 560 jobs: enough to see 1 false accept/h)
            split = "test" if i % (4 if kind == "talk" else 10) == 0 else "train"
            out.append((kind, split, zlib.crc32(f"{kind}-{i}".encode()), i if kind == "talk" else None))
    for i in range(0, max(20, int(len(real) * scale)), 20) if not kinds or "real" in kinds else []:
        out.append(("real", "test" if i // 20 % 10 == 0 else "train", i, real[i:i + 20]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full recipe (0.01 to try it)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--kinds", nargs="+", help="only these job kinds (wake near speech noise onset talk near2 real); their rows are "
                    "added to the arrays already in OUT")
    ap.add_argument("--start", type=int, default=0, help="with --kinds: the first job index (skip ones already made)")
    ap.add_argument("--mine", type=Path, help="talk jobs: score training talk with this model (the shipped "
                    "hey_penny.onnx) and keep its high-scoring windows as hard negatives")
    args = ap.parse_args()
    if args.mine:
        MINE_MODEL[:] = [str(args.mine.resolve())]
    todo = jobs(args.scale, args.kinds, args.start)
    got: dict[tuple[str, str], list] = defaultdict(list)
    t0 = time.time()
    with Pool(args.jobs) as pool:
        for i, (split, out) in enumerate(pool.imap_unordered(run_job, todo, chunksize=4)):
            for name, arr in out.items():
                if len(arr):
                    got[(name, split)].append(arr.astype(np.float32))
            if i % 200 == 0:
                print(f"{i}/{len(todo)} jobs, {time.time() - t0:.0f} s", flush=True)
    model_dir, feat_dir = args.out / "model" / "hey_penny", args.out / "data" / "features"
    model_dir.mkdir(parents=True, exist_ok=True)
    feat_dir.mkdir(parents=True, exist_ok=True)
    names = {"positive": "positive_features_{}.npy", "near": "negative_features_{}.npy",
             "noise": "background_noise_features_{}.npy", "hard": "hard_negative_features_{}.npy",
             "hard_scores": "hard_negative_scores_{}.npy"}
    for (name, split), arrs in sorted(got.items()):
        arr = np.concatenate(arrs)
        if name == "speech":  # the trainer's big general-negative set; its test part is its validation set
            path = feat_dir / ("openwakeword_features_ACAV100M_2000_hrs_16bit.npy" if split == "train"
                               else "validation_set_features.npy")
        elif name.startswith("valtalk"):  # every window of the validation talk stretches (+ stretch index)
            path = feat_dir / f"validation_{name[3:]}_features.npy".replace("_ids_features", "_ids")
        else:
            path = model_dir / names[name].format(split)
        if args.kinds and path.exists():  # an addition to an earlier run
            arr = np.concatenate([np.load(path), arr])
        np.save(path, arr)
        print(f"{path.name}: {arr.shape}", flush=True)
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
