"""Summaries, tables, chart and README section of the accuracy benchmark (benchmarks/accuracy.py).

Headline: task success over every skill request plus the wake-word gate (non-addressed speech must get
no reply); open questions are reported apart (whether Penny heard them, and whether the embedded model
knew the answer). The corpus is split in two by ask number: the odd half ("dev") was looked at while
Penny was improved, the even half ("held-out") was not, so both figures are given.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

SKILLS = ("time", "date", "calendar_read", "calendar_add", "timer_set", "timer_query", "timer_cancel", "reminder",
          "note_add", "note_recall", "weather")
SUCCESS = ("fulfilled", "confirmed")


def split_of(ask_id: str) -> str:
    return "dev" if int(ask_id.rsplit("-", 1)[1]) % 2 else "held-out"


def _rate(recs: list[dict], ok) -> dict:
    n = len(recs)
    k = sum(1 for r in recs if ok(r))
    return {"n": n, "ok": k, "rate": round(k / n, 4) if n else None}


def _success(r: dict) -> bool:
    return r["correct"] if r["task"] == "ignore" else r["outcome"] in SUCCESS


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    pos = (len(values) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (pos - lo), 1)


def _latency(recs: list[dict]) -> dict:
    ms = [r["voice_to_audio_ms"] for r in recs if r.get("voice_to_audio_ms") is not None]
    return {"n": len(ms), "median": _pct(ms, 0.5), "p90": _pct(ms, 0.9)}


def _wer(recs: list[dict]) -> float | None:
    import jiwer

    from benchmarks.accuracy import request_words

    pairs = [(request_words(r["reference"]), request_words(r["transcript"])) for r in recs if r["task"] != "ignore"]
    if not pairs:
        return None
    return round(float(jiwer.wer([p[0] for p in pairs], [p[1] for p in pairs])), 4)


def stt_paths(recs: list[dict]) -> dict:
    """WER and time of the fast (short-window) and full (30 s window) decoders on the same speech."""
    import jiwer

    from benchmarks.accuracy import request_words

    out = {}
    for path in ("fast", "full"):
        got = [(request_words(r["reference"]), request_words(r["paths"][path][0]), r["paths"][path][1])
               for r in recs if r.get("paths", {}).get(path)]
        if got:
            ms = [g[2] for g in got]
            out[path] = {"n": len(got), "wer": round(float(jiwer.wer([g[0] for g in got], [g[1] for g in got])), 4),
                         "ms_median": _pct(ms, 0.5), "ms_p90": _pct(ms, 0.9)}
    return out


def tradeoff(recs: list[dict]) -> list[dict]:
    """For each `sure` threshold: of the addressed turns, how many would be acted on and heard right
    (fulfilled), acted on though misheard (wrong), or asked about (asked). From each first turn's
    confidence and whether its words meant what was said."""
    turns = [r for r in recs if r["task"] != "ignore" and r.get("heard") and r.get("heard_right") is not None]
    rows = []
    for t in (0.0, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9):
        acted = [r for r in turns if r["heard"]["confidence"] >= t]
        rows.append({"sure": t, "n": len(turns), "acted_right": sum(r["heard_right"] for r in acted),
                     "acted_wrong": sum(not r["heard_right"] for r in acted), "asked": len(turns) - len(acted)})
    return rows


def summarize(records: list[dict]) -> dict:
    skills = [r for r in records if r["task"] in SKILLS]
    ignore = [r for r in records if r["task"] == "ignore"]
    opens = [r for r in records if r["task"] == "open"]
    headline = skills + ignore
    by = lambda key, recs: {k: _rate(v, _success) for k, v in sorted(_group(recs, key).items())}  # noqa: E731
    outcomes = defaultdict(int)
    for r in skills + opens:
        outcomes[r["outcome"]] += 1
    return {
        "task_success": _rate(headline, _success),
        "task_success_by_split": {s: _rate([r for r in headline if split_of(r["id"]) == s], _success)
                                  for s in ("dev", "held-out")},
        "skills": _rate(skills, _success),
        "wake_gate": _rate(ignore, _success),
        "false_accepts": sum(1 for r in ignore if not r["correct"]),
        "by_task": by("task", headline),
        "by_condition": by("condition", headline),
        "by_voice": by("voice", headline),
        "open_heard": _rate(opens, lambda r: r["outcome"] in SUCCESS or bool(r.get("heard_right"))),
        "open_correct": _rate(opens, lambda r: r["correct"]),
        "outcomes": dict(outcomes),
        "asked_repeat_rate": _rate(skills + opens, lambda r: r["outcome"] == "asked_repeat")["rate"],
        "clarified_rate": _rate(skills + opens, lambda r: any(x.startswith("Did you say") for x in r["replies"][:1]))
        ["rate"],
        "wer": {"all": _wer(records), **{c: _wer(v) for c, v in sorted(_group(records, "condition").items())}},
        "voice_to_audio_ms": {"skills": _latency([r for r in skills if r["outcome"] == "fulfilled"]),
                              "open": _latency([r for r in opens if r["outcome"] == "fulfilled"])},
        "stt_ms": {"median": _pct([r["stt_ms"] for r in records if r.get("stt_ms")], 0.5),
                   "p90": _pct([r["stt_ms"] for r in records if r.get("stt_ms")], 0.9)},
        "stt_paths": stt_paths(records),
        "tradeoff": tradeoff(records),
        "errors": [f"{r['id']} {r['condition']}: {r['error']}" for r in records if r.get("error")],
    }


def _group(recs: list[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        out[r[key]].append(r)
    return out


def _fmt(rate: dict) -> str:
    return "—" if not rate["n"] else f"{100 * rate['rate']:.1f}% ({rate['ok']}/{rate['n']})"


def tables(s: dict) -> list:
    from rich.table import Table

    head = Table(title="Task success (skills + wake-word gate)")
    for col in ("measure", "value"):
        head.add_column(col)
    rows = [("task success", _fmt(s["task_success"])),
            *((f"  {k} half", _fmt(v)) for k, v in s["task_success_by_split"].items()),
            ("skills", _fmt(s["skills"])), ("wake-word gate (no reply to others)", _fmt(s["wake_gate"])),
            ("open questions heard right", _fmt(s["open_heard"])),
            ("open questions answered right (model knowledge)", _fmt(s["open_correct"])),
            ("asked to repeat / asked 'did you say'", f"{s['asked_repeat_rate']} / {s['clarified_rate']}"),
            ("WER (all / per condition)", " / ".join(f"{k} {v}" for k, v in s["wer"].items())),
            ("voice→first audio, true end (skills)", str(s["voice_to_audio_ms"]["skills"])),
            ("voice→first audio, true end (open)", str(s["voice_to_audio_ms"]["open"])),
            ("STT ms median / p90", f"{s['stt_ms']['median']} / {s['stt_ms']['p90']}"),
            *[(f"{p} path: WER, ms median / p90", f"{v['wer']}, {v['ms_median']} / {v['ms_p90']}")
              for p, v in s.get("stt_paths", {}).items()]]
    for r in rows:
        head.add_row(*r)
    detail = Table(title="By task and by condition")
    detail.add_column("group")
    detail.add_column("success")
    for name in ("by_task", "by_condition", "by_voice"):
        for k, v in s[name].items():
            detail.add_row(f"{name[3:]}: {k}", _fmt(v))
    return [head, detail]


def write_chart(path: Path, s: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 5), gridspec_kw={"width_ratios": [3, 1.2, 1.6]})
    tasks = list(s["by_task"])
    a.barh(tasks, [100 * s["by_task"][t]["rate"] for t in tasks], color="#4c78a8")
    a.axvline(95, color="#e45756", ls="--", lw=1)
    a.set_xlim(0, 100)
    a.set_title("task success by task (%)")
    conds = list(s["by_condition"])
    b.bar(conds, [100 * s["by_condition"][c_]["rate"] for c_ in conds], color="#72b7b2")
    b.axhline(95, color="#e45756", ls="--", lw=1)
    b.set_ylim(0, 100)
    b.set_title("by condition (%)")
    rows = s["tradeoff"]
    xs = [r["sure"] for r in rows]
    for key, color in (("acted_right", "#54a24b"), ("acted_wrong", "#e45756"), ("asked", "#f58518")):
        c.plot(xs, [r[key] for r in rows], marker="o", color=color, label=key.replace("_", " "))
    c.set_xlabel("understanding.sure")
    c.set_title("threshold trade-off (turns)")
    c.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def readme_section(s: dict, machine: dict, png: str, json_path: str, clips: int, duration_s: float) -> str:
    t = s["task_success"]
    lines = [
        "## Understanding",
        "",
        f"Measured with `penny bench --accuracy` ({machine['date']}, {machine['cpu']}, {machine['cores_logical']} "
        f"cores; {clips} clips in {duration_s / 60:.0f} minutes): every request of the accuracy corpus "
        "(`benchmarks/accuracy_requests.py`: 11 Piper and espeak-ng voices, plus real recordings from Debian "
        "packages as speech not addressed to Penny), each clean, at 15 and 5 dB SNR (pink noise) and in a "
        "reverberant room, spoken \"Hey Penny, ...\" into the default wake-word pipeline at real-time pace. "
        "A request counts only if it really happened (the timer exists, the event is in the .ics, the note is "
        "stored) or the answer states the right fact; when Penny asks \"Did you say ...?\" the simulated user "
        "says yes only if the words mean the request.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| **task success** (skills + wake-word gate) | **{_fmt(t)}** |",
        *(f"| … {k} half of the corpus | {_fmt(v)} |" for k, v in s["task_success_by_split"].items()),
        f"| skills | {_fmt(s['skills'])} |",
        f"| no reply to speech not addressed to Penny | {_fmt(s['wake_gate'])} |",
        f"| open questions heard right / answered right by SmolLM2-135M | {_fmt(s['open_heard'])} / "
        f"{_fmt(s['open_correct'])} |",
        f"| asked to repeat · asked \"did you say\" | {s['asked_repeat_rate']} · {s['clarified_rate']} |",
        "| word error rate: " + ", ".join(s["wer"]) + " | " + ", ".join(str(v) for v in s["wer"].values()) + " |",
        f"| voice→first audio from the true end of speech, skills (median, p90 ms) | "
        f"{s['voice_to_audio_ms']['skills']['median']}, {s['voice_to_audio_ms']['skills']['p90']} |",
        f"| STT time (median, p90 ms) | {s['stt_ms']['median']}, {s['stt_ms']['p90']} |",
        *[f"| the same speech through Whisper's {'short-window' if p == 'fast' else 'full 30 s'} path: WER; ms "
          f"(median, p90) | {v['wer']}; {v['ms_median']}, {v['ms_p90']} |" for p, v in s.get("stt_paths", {}).items()],
        "",
        "| condition | " + " | ".join(s["by_condition"]) + " |",
        "|---|" + "---:|" * len(s["by_condition"]),
        "| task success | " + " | ".join(_fmt(v) for v in s["by_condition"].values()) + " |",
        "",
        f"![Task success]({png})",
        "",
        f"Per-clip records: [`{json_path}`]({json_path}).",
    ]
    return "\n".join(lines) + "\n"
