"""What each catalogue model costs on this machine: RAM, STT latency and WER, LLM first token and tokens/s.

    .venv/bin/python scripts/model_costs.py [NAME ...]   # default: every bundled or pulled model

Each model is measured in a fresh child process (so its RAM figure is its own) and the results are
printed as JSON and as the table docs/models.md shows. STT accuracy is the word error rate on spoken
requests synthesized here (Piper clean, Piper with white noise at 10 dB SNR, espeak-ng en-us); synthetic
speech flatters Whisper, so read the WER as a comparison between models, not as real-world accuracy.
The LLM is run in-process through llama-cpp-python, the library behind Penny's embedded server.
"""
from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

SENTENCES = (
    "What time is it right now?", "Set a timer for twenty minutes.", "What's on my calendar tomorrow?",
    "Remind me to call my sister at six.", "Add milk and eggs to my shopping list.",
    "What's the weather like this weekend?", "Turn the volume down a little.",
    "How long does it take to boil an egg?", "Cancel the timer for the pasta.",
    "Schedule a dentist appointment next Thursday afternoon.", "Who wrote Pride and Prejudice?",
    "Read me my notes from yesterday.", "Is it going to rain in Edinburgh tomorrow?",
    "Move my meeting with Priya to Friday morning.", "How many tablespoons are in a cup?",
    "Tell me a fun fact about octopuses.", "What's the capital of Australia?",
    "Wake me up at seven thirty.", "Translate good morning into Spanish.",
    "Play some quiet music for reading.",
)
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
       "seventeen eighteen nineteen".split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
PROMPTS = ("What's a good way to remember people's names?", "Give me a quick idea for dinner tonight.",
           "Why is the sky blue?", "How do I get a stain out of a shirt?", "What should I pack for a day hike?")
SYSTEM = "You are Penny, a warm, brief and practical voice assistant. Answer in one or two short sentences."


def words(text: str) -> list[str]:
    """Lower-case words, digits spelt out (Whisper writes 'ten' as '10'), punctuation dropped."""
    def spell(m: re.Match) -> str:
        n = int(m.group())
        if n < 20:
            return ONES[n]
        if n < 100:
            return TENS[n // 10 - 2] + (" " + ONES[n % 10] if n % 10 else "")
        return m.group()

    text = re.sub(r"\d+", spell, text.lower().replace("-", " "))
    return re.sub(r"[^a-z' ]", " ", text).replace("'s", "s").split()


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def clips():
    import numpy as np

    from penny.testing import espeak_16k, piper_16k

    rng = np.random.default_rng(7)
    for text in SENTENCES:
        clean = piper_16k(text)
        noise = rng.standard_normal(len(clean)).astype(np.float32) * np.sqrt(np.mean(clean ** 2) / 10 ** (10 / 10))
        yield text, "piper", clean
        yield text, "piper+noise10dB", clean + noise
        yield text, "espeak", espeak_16k(text)


def measure_stt(path: str) -> dict:
    import asyncio

    from penny.adapters.stt.factory import build_stt
    from penny.config import STTConfig
    from penny.core.events import AudioChunk

    audio = list(clips())  # synthesize before measuring memory: Piper's voice is not the model's cost
    base = rss_mb()
    t0 = time.perf_counter()
    config = STTConfig(model=path)  # Penny's defaults: the cost as Penny runs it
    stt = build_stt(config)
    stt.warmup()
    load_s = time.perf_counter() - t0
    errors: dict[str, list[int]] = {}
    latency = []
    for text, voice, samples in audio:
        t = asyncio.run(stt.transcribe(AudioChunk(samples, 16000)))
        ref = words(text)
        counts = errors.setdefault(voice, [0, 0])
        counts[0] += edit_distance(ref, words(t.text))
        counts[1] += len(ref)
        if voice == "piper":
            latency.append((t.processing_s * 1000, t.processing_s / t.audio_s))
    wrong, total = (sum(c[i] for c in errors.values()) for i in (0, 1))
    return {"load_s": round(load_s, 2), "ram_mb": round(rss_mb() - base), "wer": round(wrong / total, 3),
            "wer_by_voice": {v: round(c[0] / c[1], 3) for v, c in errors.items()},
            "stt_ms": round(statistics.median(ms for ms, _ in latency)), "stt_ms_min": round(min(latency)[0]),
            "rtf": round(statistics.median(r for _, r in latency), 3), "clips": len(audio),
            "stt_config": config.model_dump(exclude={"model", "initial_prompt"})}


def measure_llm(path: str) -> dict:
    from llama_cpp import Llama

    base = rss_mb()
    t0 = time.perf_counter()
    threads = max(1, min(4, os.cpu_count() or 1))  # what Penny's embedded server uses
    llm = Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    llm.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=1)  # Penny warms up too
    load_s = time.perf_counter() - t0
    first, speed = [], []
    for prompt in PROMPTS:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        start = time.perf_counter()
        stamps = []
        for chunk in llm.create_chat_completion(messages, max_tokens=96, temperature=0.3, stream=True, seed=1):
            if chunk["choices"][0]["delta"].get("content"):
                stamps.append(time.perf_counter())
        first.append((stamps[0] - start) * 1000)
        if len(stamps) > 8:
            speed.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return {"load_s": round(load_s, 2), "ram_mb": round(rss_mb() - base),
            "first_token_ms": round(statistics.median(first)), "first_token_ms_min": round(min(first)),
            "tokens_per_s": round(statistics.median(speed), 1) if speed else None,
            "tokens_per_s_max": round(max(speed), 1) if speed else None}


def one(name: str) -> dict:
    from penny.catalog import find, installed_path

    model = find(name)
    path = str(installed_path(model))
    result = measure_stt(path) if model.kind == "stt" else measure_llm(path)
    return {"name": name, "kind": model.kind, **result}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.platform()}"


def main(names: list[str]) -> None:
    from penny.catalog import CATALOG, is_pulled

    names = names or [m.name for m in CATALOG if is_pulled(m)]
    results = []
    print(f"load average at the start: {os.getloadavg()}", file=sys.stderr)
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"measured {name}: {results[-1]}", file=sys.stderr)
    print(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d"), "loadavg": os.getloadavg(),
                      "results": results}, indent=2))
    print("\n| model | RAM added | STT ms (RTF) for 1.5-3 s | WER | LLM first token | tokens/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        stt = f"{r['stt_ms']} ({r['rtf']})" if r["kind"] == "stt" else "—"
        wer = f"{r['wer']:.1%}" if r["kind"] == "stt" else "—"
        first = f"{r['first_token_ms']} ms" if r["kind"] == "llm" else "—"
        tps = r.get("tokens_per_s") or "—"
        print(f"| {r['name']} | {r['ram_mb']} MB | {stt} | {wer} | {first} | {tps} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(sys.argv[2])))
    else:
        main(sys.argv[1:])
