"""LLM benchmark: time-to-first-token and tokens/s of the active backend (median over a few prompts).

`python -m benchmarks.llm [--config FILE] [--max-tokens N] [--out FILE.json]`, or from the suite:
`await benchmarks.llm.run(cfg=..., quick=...)` returns a dict. Tokens are counted as streamed
content chunks (llama.cpp-family servers send one token per chunk).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

PROMPTS = [
    "What is the capital of France?",
    "Give me one tip for sleeping better.",
    "Explain what a rainbow is in two sentences.",
    "Suggest a name for a small grey cat.",
    "How many minutes are in three hours?",
]
SYSTEM = "You are Penny, a brief voice assistant. Reply in English, in one or two short sentences."


async def _one(chain, prompt: str, max_tokens: int) -> dict:
    from penny.core.events import TextDelta

    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    t0 = time.perf_counter()
    first = last = None
    tokens = 0
    async for ev in chain.stream(messages, max_tokens=max_tokens):
        if isinstance(ev, TextDelta) and ev.text:
            last = time.perf_counter()
            first = first or last
            tokens += 1
    ttft = (first - t0) if first else None
    rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else None
    return {"prompt": prompt, "backend": chain.active.name, "model": chain.active.model, "tokens": tokens,
            "ttft_s": ttft, "tokens_per_s": rate, "total_s": time.perf_counter() - t0}


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


async def run(cfg=None, quick: bool = False, max_tokens: int = 64, prompts: list[str] | None = None) -> dict:
    """Benchmark the chain's active backend; returns medians plus every run."""
    from penny.adapters.llm.factory import build_llm
    from penny.config import load_config

    cfg = cfg or load_config()
    prompts = prompts or (PROMPTS[:3] if quick else PROMPTS)
    chain = build_llm(cfg)
    try:
        t0 = time.perf_counter()
        await chain.start()
        start_s = time.perf_counter() - t0
        await _one(chain, "Hello! Who are you?", 32)  # warm-up: first-use allocations, not measured
        runs = [await _one(chain, p, max_tokens) for p in prompts]
    finally:
        await chain.aclose()
    return {
        "backend": runs[-1]["backend"], "model": runs[-1]["model"], "prompts": len(runs),
        "max_tokens": max_tokens, "start_s": round(start_s, 3),
        "ttft_s_median": _median(r["ttft_s"] for r in runs),
        "tokens_per_s_median": _median(r["tokens_per_s"] for r in runs),
        "tokens_median": _median(r["tokens"] for r in runs),
        "loadavg_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews these numbers
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="penny_config.json to use")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="three prompts instead of five")
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    args = ap.parse_args(argv)
    from penny.config import load_config

    result = asyncio.run(run(load_config(args.config), quick=args.quick, max_tokens=args.max_tokens))
    for r in result["runs"]:
        ttft = f"{r['ttft_s'] * 1000:7.0f} ms" if r["ttft_s"] is not None else "      n/a"
        rate = f"{r['tokens_per_s']:6.1f} tok/s" if r["tokens_per_s"] else "    n/a"
        print(f"{ttft}  {rate}  {r['tokens']:3d} tokens  {r['prompt']}")
    print(f"{result['backend']} ({result['model']}): time to first token {result['ttft_s_median'] * 1000:.0f} ms "
          f"(median), {result['tokens_per_s_median']} tokens/s (median of {result['prompts']}); "
          f"start-up {result['start_s']:.2f} s; load average {result['loadavg_1m']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
