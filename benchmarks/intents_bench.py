"""`penny bench --intents`: the old regex router and the new hassil router over one labelled corpus.

The old router is the one at commit OLD_COMMIT (before issue 18): its `src/` is extracted with
`git archive` and run in a subprocess on the same virtual environment. The new router runs here.
Both get the same world: a fixed clock and time zone, a calendar (.ics) and the same seeded notes.
Per router: right (an expected intent), wrong (another intent, or any match where none is expected),
missed (no match where one is expected); per source and per skill; and the time to route a sentence.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks import intents_corpus as corpus

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OLD_COMMIT = "cec7392"
TZ = "Europe/Berlin"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=ZoneInfo(TZ))  # a Wednesday, 8 am
PLUGINS = ("clock", "timers", "notes", "calendar", "weather")

# Runs under the old commit's src/ (PYTHONPATH): reads {"world", "mode", "texts"} on stdin, prints JSON.
_OLD_WORKER = r"""
import asyncio, json, logging, sys, time, penny
from datetime import datetime
from pathlib import Path
logging.disable(logging.CRITICAL)
req = json.load(sys.stdin)
assert str(Path(penny.__file__).resolve()).startswith(req["src"]), penny.__file__
from penny.config import PennyConfig
from penny.plugins.base import ManualClock
from penny.plugins.registry import build_plugins
w, cfg = req["world"], PennyConfig()
cfg.assistant.timezone, cfg.plugins.calendar.sources = w["tz"], [w["ics"]]
cfg.plugins.weather.latitude, cfg.plugins.weather.longitude = 52.5, 13.4
reg = build_plugins(cfg, clock=ManualClock(datetime.fromisoformat(w["now"])), data_dir=Path(w["data"]))
reg.plugins["notes"].store.save({"notes": w["notes"]})
async def start():
    await reg._start_all()
    for name in w["timers"]:
        await reg.plugins["timers"]._set({"duration": "20 minutes", "name": name})
asyncio.run(start())
out = {} if req["mode"] == "patterns" else []
for plugin, intent in (reg.router._table if req["mode"] == "patterns" else []):
    out.setdefault(f"{plugin}.{intent.name}", []).extend(intent.patterns)
if req["mode"] == "route":
    for text in req["texts"]:
        t0 = time.perf_counter()
        m = reg.route(text)
        out.append({"got": f"{m.plugin}.{m.intent}" if m else None, "ms": (time.perf_counter() - t0) * 1000,
                    "slots": {k: str(v) for k, v in (m.slots if m else {}).items()}})
print(json.dumps(out))
"""


def world(tmp: Path) -> dict:
    """What both routers see: an .ics calendar (the accuracy corpus's events), notes, running named timers."""
    from benchmarks.accuracy_scoring import seed_calendar

    ics = tmp / "calendar.ics"
    ics.write_text(seed_calendar(NOW), encoding="utf-8")
    notes = [{"id": f"seed{i}", "text": t, "created": NOW.isoformat()} for i, t in enumerate(corpus.SEED_NOTES)]
    return {"tz": TZ, "now": NOW.isoformat(), "ics": str(ics), "notes": notes, "timers": corpus.VALUES["name"]}


def old_router(mode: str, w: dict, texts: list[str] = ()):
    """The old router's patterns ("patterns") or its answers ("route"), from a subprocess on OLD_COMMIT."""
    with tempfile.TemporaryDirectory(prefix="penny-old-router-") as tmp_name:
        tmp = Path(tmp_name)
        archive = subprocess.run(["git", "archive", OLD_COMMIT, "src"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        src = tmp / "src"
        req = {"mode": mode, "texts": list(texts), "src": str(src.resolve()),
               "world": {**w, "data": str(tmp / "data")}}
        env = {**os.environ, "PYTHONPATH": str(src), "HOME": str(tmp)}
        proc = subprocess.run([sys.executable, "-c", _OLD_WORKER], input=json.dumps(req), text=True,
                              capture_output=True, cwd=tmp, env=env, timeout=600)
        if proc.returncode:
            raise RuntimeError(f"old router (commit {OLD_COMMIT}) failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout)


def new_registry(tmp: Path, w: dict):
    """The current registry on the same world; a plugin that breaks the router is left out and reported."""
    from penny.config import PennyConfig
    from penny.plugins.base import ManualClock
    from penny.plugins.loading import build_plugins

    def build(without: set[str]):
        cfg = PennyConfig()
        cfg.assistant.timezone, cfg.assistant.custom_sentences = TZ, str(tmp / "no-custom-sentences")
        cfg.plugins.calendar.sources = [w["ics"]]
        cfg.plugins.weather.latitude, cfg.plugins.weather.longitude = 52.5, 13.4
        for name in without:
            getattr(cfg.plugins, name).enabled = False
        return build_plugins(cfg, clock=ManualClock(NOW), data_dir=tmp / "data")

    broken: dict[str, str] = {}
    try:
        registry = build(set())
    except Exception:
        for name in PLUGINS:
            try:
                build(set(PLUGINS) - {name})
            except Exception as exc:
                broken[name] = f"{type(exc).__name__}: {exc}"
        registry = build(set(broken))
    if "notes" in registry.plugins:
        registry.plugins["notes"].store.save({"notes": w["notes"]})
    # As at Penny's start: the calendar reads its titles, dateparser warms up (not a routing cost).
    asyncio.run(_start(registry, w["timers"]))
    return registry, broken


async def _start(registry, timers: list[str]) -> None:
    await registry.start()
    for name in timers if "timers" in registry.plugins else ():  # "how much longer for my tea" needs a tea timer
        await registry.plugins["timers"]._set({"duration": "20 minutes", "name": name})
    await registry.aclose()  # schedulers stop; what start() read and the timers stay


def route_new(registry, texts: list[str]) -> list[dict]:
    out = []
    for text in texts:
        t0 = time.perf_counter()
        try:
            m, error = registry.route(text), None
        except Exception as exc:  # a plugin mid-migration: counted as no match, and said
            m, error = None, f"{type(exc).__name__}: {exc}"
        row = {"got": f"{m.plugin}.{m.intent}" if m else None, "ms": (time.perf_counter() - t0) * 1000,
               "slots": {k: str(v) for k, v in (m.slots if m else {}).items()}}
        out.append({**row, "error": error} if error else row)
    return out


def verdict(item: corpus.Item, got: str | None) -> str:
    return ("missed" if item.expect else "right") if got is None else "right" if got in item.expect else "wrong"


def skill(item: corpus.Item) -> str:
    return item.expect[0].split(".")[0] if item.expect else "none (must not match)"

def score(items: list[corpus.Item], results: list[dict]) -> dict:
    """Counts overall, per source and per skill; the first result (a cold call) is timed apart."""
    from benchmarks.report import stats

    def counts(pairs) -> dict:
        c = Counter(verdict(i, r["got"]) for i, r in pairs)
        n = sum(c.values())
        return {"n": n, "right": c["right"], "wrong": c["wrong"], "missed": c["missed"],
                "right_pct": round(100 * c["right"] / n, 1) if n else None}

    pairs = list(zip(items, results))
    return {"all": counts(pairs),
            "by_source": {s: counts([p for p in pairs if p[0].source == s]) for s in corpus.SOURCES
                          if any(p[0].source == s for p in pairs)},
            "by_skill": {k: counts([p for p in pairs if skill(p[0]) == k])
                         for k in sorted({skill(i) for i in items})},
            "first_call_ms": round(results[0]["ms"], 2) if results else None,
            "latency_ms": stats((r["ms"] for r in results[1:]), digits=2)}


def run(out: Path | None = None, *, items: list[corpus.Item] | None = None, write: bool = True) -> dict:
    """Build the corpus (unless given), route it through both routers, score, write the JSON; returns it."""
    from benchmarks.__main__ import machine_info
    from benchmarks.report import result_stem, write_json

    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="penny-intents-") as tmp:
        w = world(Path(tmp))
        registry, broken = new_registry(Path(tmp), w)
        info: dict = {}
        if items is None:
            old_patterns = old_router("patterns", w)
            owners = {name: f"{plugin}.{intent.name}" for name, (plugin, intent)
                      in registry.router._by_sentences.items()}
            hassil, info = corpus.hassil_items(registry.router.library.intents, owners,
                                               registry.router.library.language)
            items, conflicts = corpus.dedupe(corpus.accuracy_items() + corpus.near_miss_items() + hassil
                                             + corpus.regex_items(old_patterns))
            info.update(conflicts=conflicts, old_intents=sorted(old_patterns), new_intents=sorted(owners.values()))
        texts = [i.text for i in items]
        old = old_router("route", w, texts)
        new = route_new(registry, texts)
    machine = machine_info()
    payload = {
        "schema": 1, "machine": machine, "old_commit": OLD_COMMIT, "clock": NOW.isoformat(),
        "duration_s": round(time.perf_counter() - t_all, 1), "broken_plugins": broken,
        "corpus": {"n": len(items), "by_source": dict(Counter(i.source for i in items)),
                   "seed_notes": list(corpus.SEED_NOTES), "running_timers": w["timers"], **info},
        "old": score(items, old), "new": score(items, new),
        "items": [{"text": i.text, "expect": list(i.expect), "source": i.source, "rule": i.rule,
                   "old": o["got"], "new": n["got"], "old_slots": o["slots"], "new_slots": n["slots"],
                   **({"new_error": n["error"]} if "error" in n else {})} for i, o, n in zip(items, old, new)],
        "notes": ["right: an expected intent (or no match where none is expected); wrong: another intent, or a "
                  "match where none is expected; missed: no match where one is expected",
                  "a generated sentence is labelled by the rule that generated it (hassil template or old regex)",
                  "latency is per sentence, warm; the first call is reported apart (first_call_ms)"],
    }
    payload["changes"] = changes(payload["items"])
    if write:
        path = (Path(out) if out else RESULTS) / f"{result_stem(machine, False)}-intents.json"
        write_json(path, payload)
        payload["path"] = str(path)
    return payload


def changes(rows: list[dict]) -> dict:
    """Sentences the old router got right and the new one does not, and the other way round."""
    ok = lambda row, who: verdict(corpus.Item(row["text"], tuple(row["expect"]), ""), row[who]) == "right"  # noqa
    worse, better = ([r for r in rows if ok(r, a) and not ok(r, b)] for a, b in (("old", "new"), ("new", "old")))
    brief = lambda r: {k: r[k] for k in ("text", "expect", "source", "old", "new")}  # noqa: E731
    return {"regressions": len(worse), "gains": len(better),
            "regressions_by_source": dict(Counter(r["source"] for r in worse)),
            "regression_examples": [brief(r) for r in worse[:60]], "gain_examples": [brief(r) for r in better[:30]]}


def _cell(c: dict) -> str:
    return f"{c['right_pct']}% ({c['right']}/{c['n']})" if c["n"] else "–"


def markdown(payload: dict) -> str:
    """The README's Intents section: the side-by-side table and the latency of one run."""
    old, new, m = payload["old"], payload["new"], payload["machine"]
    rows = [("**all**", old["all"], new["all"])]
    rows += [(f"source: {s}", old["by_source"][s], new["by_source"][s]) for s in new["by_source"]]
    rows += [(f"skill: {k}", old["by_skill"][k], new["by_skill"][k]) for k in new["by_skill"]]
    lines = [
        "## Intents", "",
        f"Measured with `penny bench --intents` ({m['date']}, {m['cpu']}, {m['cores_logical']} cores; "
        f"{payload['corpus']['n']} sentences in {payload['duration_s']:.0f} s): the old regular-expression router "
        f"(commit {payload['old_commit']}) and the hassil router side by side on one labelled corpus "
        "(`benchmarks/intents_corpus.py`): the accuracy corpus's requests and speech not for Penny, sentences "
        "sampled from the hassil templates and from the old regular expressions (labelled by the rule that made "
        "them), and questions that must not match. Right: the expected intent (or no match where none is); "
        "wrong: another intent, or a match where none is expected; missed: no match where one is expected.", "",
        "| sentences | old: right | wrong | missed | new: right | wrong | missed |",
        "|---|---:|---:|---:|---:|---:|---:|"]
    for name, o, n in rows:
        lines.append(f"| {name} | {_cell(o)} | {o['wrong']} | {o['missed']} | {_cell(n)} | {n['wrong']} | "
                     f"{n['missed']} |")
    lo, ln = old["latency_ms"], new["latency_ms"]
    lines += ["", "| time to route one sentence (ms) | median | p90 | max | first call |", "|---|---:|---:|---:|---:|",
              f"| old (regular expressions) | {lo['median']} | {lo['p90']} | {lo['max']} | {old['first_call_ms']} |",
              f"| new (hassil) | {ln['median']} | {ln['p90']} | {ln['max']} | {new['first_call_ms']} |", ""]
    ch, rel = payload["changes"], os.path.relpath(payload.get("path") or RESULTS, ROOT)
    examples = "; ".join(f"\"{r['text']}\"" for r in ch["regression_examples"][:4])
    lines += [f"The hassil rows favour the new router by construction (its own templates, and intents the old one "
              f"never had: pausing timers, adding time, lists); the regex rows favour the old one. Sentences the old "
              f"router got right and the new one does not: {ch['regressions']} "
              f"({', '.join(f'{k} {v}' for k, v in ch['regressions_by_source'].items()) or 'none'})"
              + (f", e.g. {examples}" if examples else "") + f"; the other way round: {ch['gains']}."
              + (f" Left out of the new router in this run (they failed to load): "
                 f"{', '.join(sorted(payload['broken_plugins']))}." if payload.get("broken_plugins") else ""),
              "", f"Every sentence with both routers' answers: [`{rel}`]({rel})."]
    return "\n".join(lines) + "\n"


def update_readme(section: str, readme: Path = ROOT / "README.md") -> None:
    """Replace the "## Intents" section, or put it right after "## Understanding"."""
    text = readme.read_text(encoding="utf-8")
    parts = text.split("\n## ")
    heads = [p.split("\n", 1)[0].strip() for p in parts]
    body = section.strip().removeprefix("## ")
    if "Intents" in heads:
        parts[heads.index("Intents")] = body + "\n"
    elif "Understanding" in heads:
        parts.insert(heads.index("Understanding") + 1, body + "\n")
    else:
        parts.append(body + "\n")
    readme.write_text("\n## ".join(p.rstrip("\n") + "\n" for p in parts), encoding="utf-8")


def main(out: Path | None = None, update: bool = False) -> dict:
    payload = run(out)
    print(markdown(payload) + f"\nwrote {payload['path']}")
    if update:
        update_readme(markdown(payload))
        print("updated the Intents section of README.md")
    return payload
