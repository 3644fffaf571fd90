"""Soak benchmark: does Penny stay fast, right and flat in memory over hundreds of turns?

`penny bench --soak [--quick]` or `python -m benchmarks.soak [--turns N] [--sessions N]`. Chat turns go
round-robin over several sessions (each conversation keeps growing, and the LLM server switches between
them like a household's devices would), with a spoken turn (synthesized speech through the whole voice
pipeline) every `voice_every` chat turns. Every answer is scored (does it contain the expected word?),
every 10 turns the resident memory of Penny and of the llama.cpp child is sampled, and the figures are
reported per 100 turns. Loopback only: the embedded model (the default), nothing else. Results:
benchmarks/results/<date>-<host>-soak.json + .png.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path

from benchmarks.report import percentile

log = logging.getLogger("benchmarks.soak")
RESULTS = Path(__file__).resolve().parent / "results"
# Questions with one expected word each (any of the listed spellings counts as right).
QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What is the capital of France?", ("paris",)),
    ("How many days are in a week?", ("seven", "7")),
    ("What color is the sky on a clear day?", ("blue",)),
    ("How many legs does a spider have?", ("eight", "8")),
    ("What is the largest planet in our solar system?", ("jupiter",)),
    ("What do bees make?", ("honey",)),
    ("What is the capital of Japan?", ("tokyo",)),
    ("What is frozen water called?", ("ice",)),
    ("Which farm animal says moo?", ("cow",)),
    ("What is the opposite of hot?", ("cold",)),
    ("What is the capital of Italy?", ("rome",)),
    ("How many months are in a year?", ("twelve", "12")),
    ("Who wrote Romeo and Juliet?", ("shakespeare",)),
    ("What planet do we live on?", ("earth",)),
    ("What color is grass?", ("green",)),
    ("How many wheels does a bicycle have?", ("two", "2")),
    ("What is the capital of Germany?", ("berlin",)),
    ("What animal is known as the king of the jungle?", ("lion",)),
)
VOICE_REQUESTS = ("llm-1", "llm-4", "time-1")  # from benchmarks/corpus.py


def right(reply: str, expected: tuple[str, ...]) -> bool:
    low = reply.lower()
    return any(word in low for word in expected)


def soak_config(cfg, tmp: Path, max_tokens: int):
    """The embedded model only (loopback), short answers, history and caches in `tmp`."""
    from benchmarks.e2e import isolated_config
    from penny.config import LLMConfig

    cfg = isolated_config(cfg, tmp)
    embedded = cfg.llm.embedded.model_copy(update={"max_tokens": max_tokens})
    cfg.llm = LLMConfig(provider="embedded", mode="local_only", embedded=embedded)
    return cfg


def rss(engines) -> dict:
    """Resident MB of Penny (this process) and of the llama.cpp child (None when none runs)."""
    from penny.adapters.llm.child import rss_mb

    pid = None
    for b in getattr(engines.llm, "backends", [engines.llm]):
        pid = getattr(b, "pid", None) or pid
    return {"penny_mb": round(rss_mb(os.getpid()) or 0, 1),
            "llm_mb": round(rss_mb(pid), 1) if pid and rss_mb(pid) is not None else None}


async def chat_turn(engines, session: str, text: str) -> dict:
    from penny.core.events import BackendSwitched, ReplyDelta, ReplyDone

    t0 = time.perf_counter()
    first, reply, notices = None, "", []
    async for ev in engines.assistant.reply(session, text):
        if isinstance(ev, ReplyDelta) and ev.text:
            first = first if first is not None else time.perf_counter() - t0
        elif isinstance(ev, ReplyDone):
            reply = ev.text
        elif isinstance(ev, BackendSwitched):
            notices.append(f"{ev.frm}->{ev.to}: {ev.reason}")
    return {"s": round(time.perf_counter() - t0, 4), "ttft_s": round(first, 4) if first is not None else None,
            "reply": reply, "notices": notices}


async def soak(engines, *, turns: int = 500, sessions: int = 5, voice_every: int = 50, clips=(),
               sample_every: int = 10, on_turn=None) -> dict:
    """Run the turns on loaded engines; returns every turn, the memory samples and the voice turns."""
    records, samples, voice = [], [rss(engines) | {"turn": 0}], []
    for i in range(1, turns + 1):
        session = f"soak-{(i - 1) % sessions + 1}"
        question, expected = QUESTIONS[(i - 1) // sessions % len(QUESTIONS)]
        rec = await chat_turn(engines, session, question)
        rec.update(turn=i, session=session, question=question, right=right(rec["reply"], expected))
        records.append(rec)
        if on_turn:
            on_turn(rec)
        if i % sample_every == 0:
            samples.append(rss(engines) | {"turn": i})
        if clips and voice_every and i % voice_every == 0:
            from benchmarks.e2e import run_clip

            clip = clips[(i // voice_every - 1) % len(clips)]
            v = await run_clip(engines, clip, "streaming")
            voice.append({"after_turn": i, "request": clip.request.id, "heard": v.transcript, "reply": v.reply,
                          "first_audio_ms": v.ms.get("first_audio"), "error": v.error})
    return {"turns": records, "rss": samples, "voice": voice}


def windows(data: dict, size: int = 100) -> list[dict]:
    """p50/p95 of turn time and first token, the share answered right, and memory, per `size` turns."""
    out = []
    recs = data["turns"]
    for start in range(0, len(recs), size):
        chunk = recs[start:start + size]
        end = chunk[-1]["turn"]
        mem = [s for s in data["rss"] if chunk[0]["turn"] <= s["turn"] <= end] or data["rss"][-1:]
        ttft = [r["ttft_s"] for r in chunk if r["ttft_s"] is not None]
        llm = [s["llm_mb"] for s in mem if s["llm_mb"] is not None]
        out.append({"turns": f"{chunk[0]['turn']}-{end}", "n": len(chunk),
                    "p50_s": round(percentile([r["s"] for r in chunk], 50), 3),
                    "p95_s": round(percentile([r["s"] for r in chunk], 95), 3),
                    "ttft_p50_s": round(percentile(ttft, 50), 3) if ttft else None,
                    "ttft_p95_s": round(percentile(ttft, 95), 3) if ttft else None,
                    "right": round(sum(r["right"] for r in chunk) / len(chunk), 3),
                    "penny_rss_mb": max(s["penny_mb"] for s in mem),
                    "llm_rss_mb": max(llm) if llm else None})
    return out


def plot(payload: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    w = payload["windows"]
    x = list(range(len(w)))
    a.plot(x, [v["p50_s"] for v in w], "o-", label="turn p50")
    a.plot(x, [v["p95_s"] for v in w], "o--", label="turn p95")
    a.plot(x, [v["ttft_p50_s"] for v in w], "s-", label="first token p50")
    a.set_xticks(x, [v["turns"] for v in w], rotation=30)
    a.set_ylabel("seconds")
    a.set_ylim(bottom=0)
    a.set_title("Chat latency per 100 turns")
    a.legend()
    t = [s["turn"] for s in payload["rss"]]
    b.plot(t, [s["penny_mb"] for s in payload["rss"]], label="Penny")
    b.plot(t, [s["llm_mb"] for s in payload["rss"]], label="llama.cpp child")
    b.set_xlabel("turn")
    b.set_ylabel("resident MB")
    b.set_ylim(bottom=0)
    b.set_title("Memory")
    b.legend()
    fig.suptitle(f"Soak: {len(payload['turns'])} chat turns over {payload['sessions']} sessions, "
                 f"{len(payload['voice'])} voice turns ({payload['machine'].get('cpu', '')[:40]})")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


async def measure(cfg, *, turns: int, sessions: int, voice_every: int, max_tokens: int, voice: bool,
                  console_print=print) -> dict:
    from penny.app.engines import Engines

    with tempfile.TemporaryDirectory(prefix="penny-soak-") as tmp:
        cfg = soak_config(cfg, Path(tmp), max_tokens)
        clips = []
        if voice:
            from benchmarks import corpus

            clips = corpus.load([r for r in corpus.CORPUS if r.id in VOICE_REQUESTS])
        t0 = time.perf_counter()
        engines = await Engines.load(cfg, data_dir=Path(tmp) / "data", warm=True)
        console_print(f"engines ready in {time.perf_counter() - t0:.1f} s; {turns} turns over {sessions} sessions")

        def show(rec):
            if rec["turn"] % 10 == 0 or rec["turn"] <= 3:
                console_print(f"  turn {rec['turn']:4} {rec['session']} {rec['s']:6.2f} s "
                              f"{'right' if rec['right'] else 'wrong'}  {rec['reply'][:60]!r}")
        try:
            data = await soak(engines, turns=turns, sessions=sessions, voice_every=voice_every if voice else 0,
                              clips=clips, on_turn=show)
            data["restarts"] = [r for b in getattr(engines.llm, "backends", []) for r in getattr(b, "restarts", [])]
        finally:
            await engines.aclose()
    return data


def main(*, quick: bool = False, out: Path | None = None, config: str | None = None, turns: int | None = None,
         sessions: int = 5, max_tokens: int = 32, voice: bool = True) -> Path:
    from benchmarks.__main__ import machine_info
    from benchmarks.report import write_json
    from penny.config import PennyConfig, load_config

    logging.getLogger("penny").setLevel(logging.WARNING)
    turns = turns or (60 if quick else 500)
    voice_every = 20 if quick else 50
    cfg = load_config(config) if config else PennyConfig()
    machine = machine_info()
    t0 = time.perf_counter()
    data = asyncio.run(measure(cfg, turns=turns, sessions=sessions, voice_every=voice_every,
                               max_tokens=max_tokens, voice=voice))
    machine["load_after"] = os.getloadavg()
    w = windows(data)
    first, last = w[0], w[-1]
    payload = {"schema": 1, "kind": "soak", "machine": machine, "duration_s": round(time.perf_counter() - t0, 1),
               "sessions": sessions, "max_tokens": max_tokens, "windows": w,
               "last_vs_first_p50": round(last["p50_s"] / first["p50_s"], 3) if first["p50_s"] else None,
               "restarts": data["restarts"], "voice": data["voice"], "rss": data["rss"], "turns": data["turns"],
               "notes": ["chat turns go through Assistant.reply (skills, memory, the LLM chain), round-robin "
                         "over the sessions; the embedded model only, answers capped at max_tokens",
                         "right = the reply contains the expected word",
                         "RSS sampled every 10 turns; a window's figure is the largest sample in it"]}
    out_dir = Path(out) if out else RESULTS
    stem = f"{time.strftime('%Y-%m-%d')}-{machine.get('host', 'host')}-soak" + ("-quick" if quick else "")
    json_path = out_dir / f"{stem}.json"
    write_json(json_path, payload)
    plot(payload, json_path.with_suffix(".png"))
    print(f"{'turns':>9} {'p50 s':>7} {'p95 s':>7} {'ttft50':>7} {'right':>6} {'Penny MB':>9} {'llama MB':>9}")
    for v in w:
        print(f"{v['turns']:>9} {v['p50_s']:7.2f} {v['p95_s']:7.2f} {v['ttft_p50_s'] or 0:7.2f} "
              f"{v['right']:6.0%} {v['penny_rss_mb']:9.0f} {v['llm_rss_mb'] or 0:9.0f}")
    print(f"last/first p50: {payload['last_vs_first_p50']}; restarts: {data['restarts']}; wrote {json_path}")
    return json_path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--turns", type=int)
    ap.add_argument("--sessions", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--no-voice", action="store_true")
    ap.add_argument("--config")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    main(quick=a.quick, out=a.out, config=a.config, turns=a.turns, sessions=a.sessions, max_tokens=a.max_tokens,
         voice=not a.no_voice)
