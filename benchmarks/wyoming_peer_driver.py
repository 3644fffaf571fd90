"""Runs inside benchmarks/.peers-venv (wyoming-bench installed): measures every Wyoming server on the same
clips and texts with wyoming-bench's own measuring functions, interleaved (each item goes to every server in
turn, the order rotating), so both sides see the same machine load. Prints one JSON object.

    .peers-venv/bin/python wyoming_peer_driver.py '{"stt_servers": [...], "tts_servers": [...], "corpus": DIR, "texts": [...], "rounds": N}'
"""
from __future__ import annotations

import asyncio
import json
import random
import re
import sys

sys.path.pop(0)  # this folder holds Penny's benchmarks/wyoming_bench.py: import the PyPI wyoming_bench instead

from wyoming.asr import Transcribe
from wyoming_bench.stt.client import measure_stt_once
from wyoming_bench.stt.corpus import load_corpus
from wyoming_bench.tts.client import measure_once

TIMEOUT = 120.0


def fresh(text: str) -> str:
    """`text` with a random number in its first sentence: no server can answer it from a cache (Penny caches
    per sentence, so wyoming-bench's nonce at the end would still leave the first sentence cached)."""
    return re.sub(r"([.!?])", rf" {random.randint(1000, 9999)}\1", text, count=1)


def rotated(servers: list, turn: int) -> list:
    return servers[turn % len(servers):] + servers[:turn % len(servers)]


async def run(spec: dict) -> dict:
    stt_servers, tts_servers = spec["stt_servers"], spec["tts_servers"]
    samples = load_corpus(spec["corpus"])
    stt, tts = [], []
    warm = samples[0]
    for s in stt_servers:  # one untimed request each: nothing measured is a first call
        await measure_stt_once(s["host"], s["port"], "non_streaming", warm, Transcribe(language="en"), 1024,
                               TIMEOUT, TIMEOUT)
    for s in tts_servers:
        await measure_once(s["host"], s["port"], "non_streaming", "Hello there.", None, None, TIMEOUT, TIMEOUT)
    turn = 0
    for _ in range(spec["rounds"]):
        for sample in samples:
            for s in rotated(stt_servers, turn):
                m = await measure_stt_once(s["host"], s["port"], "non_streaming", sample, Transcribe(language="en"),
                                           1024, TIMEOUT, TIMEOUT)
                stt.append({"server": s["label"], "sample": m.sample_id, "ok": m.ok, "error": m.error,
                            "total_s": m.total_s, "audio_s": m.audio_duration_s, "hypothesis": m.hypothesis,
                            "reference": m.reference})
            turn += 1
        for text in spec["texts"]:
            for mode in ("non_streaming", "streaming", "repeated"):
                # Cold text for each request; "repeated": the same text a second time (Penny's phrase cache).
                for s in rotated(tts_servers, turn):
                    if mode == "repeated":
                        await measure_once(s["host"], s["port"], "non_streaming", text, None, None, TIMEOUT, TIMEOUT)
                    m = await measure_once(s["host"], s["port"], "non_streaming" if mode == "repeated" else mode,
                                           text if mode == "repeated" else fresh(text), None, None, TIMEOUT, TIMEOUT)
                    tts.append({"server": s["label"], "mode": mode, "text": text, "ok": m.ok, "error": m.error,
                                "ttfa_s": m.ttft_s, "total_s": m.total_s, "audio_s": m.audio_duration_s,
                                "rate": m.sample_rate})
                turn += 1
    return {"stt": stt, "tts": tts}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
