"""Numbers → statistics → a terminal table, a JSON file, a PNG chart and the README's Latency section.

Everything here is pure (no engines, no clocks), so it is unit-tested with made-up records.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Iterable

# Cumulative stage marks, in ms from the pipeline's end of speech, in pipeline order.
STAGES: tuple[tuple[str, str], ...] = (
    ("end_of_turn", "end-of-turn decision"),
    ("transcript", "transcript"),
    ("first_token", "first token (LLM/skill)"),
    ("first_chunk", "first speakable chunk"),
    ("first_audio", "first audio = voice→audio"),
    ("turn_end", "reply synthesized"),
    ("played_end", "reply finished playing"),
)
EXTRA: tuple[tuple[str, str], ...] = (
    ("first_audio_true_end", "voice→audio, true speech end"),
    ("first_sound", "first sound, filler incl."),
)
CHART_STAGES = ("end_of_turn", "transcript", "first_token", "first_chunk", "first_audio")
GROUPS = (("local", "Local intents (skills)"), ("llm", "LLM answers"))
MODES = ("streaming", "sequential")


# ---------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def stats(values: Iterable[float | None], digits: int = 1) -> dict:
    """n, missing, median, p90, max. Missing values (None) are counted, never treated as zero."""
    vals = list(values)
    have = [float(v) for v in vals if v is not None]
    out = {"n": len(have), "missing": len(vals) - len(have)}
    if have:
        out.update(median=round(percentile(have, 50), digits), p90=round(percentile(have, 90), digits),
                   max=round(max(have), digits))
    else:
        out.update(median=None, p90=None, max=None)
    return out


def stage_value(rec: dict, stage: str) -> float | None:
    """One turn's value for a stage, in ms since end of speech; None when it did not happen."""
    ms = rec.get("ms") or {}
    if stage == "played_end":
        return rec.get("played_end_ms")
    if stage == "first_sound":
        return rec.get("first_sound_ms")
    if stage == "first_audio_true_end":
        fa, off = ms.get("first_audio"), rec.get("vad_end_offset_ms")
        return None if fa is None or off is None else round(fa + off, 1)
    return ms.get(stage)


def summarize(records: list[dict]) -> dict:
    """Per answer path (local / llm) and mode: stats of every stage, plus failures and pairwise ratios."""
    measured = [r for r in records if not r.get("warmup")]
    out: dict = {"groups": {}, "failed": {}, "misrouted": [], "ratios": {}}
    for mode in MODES:
        out["failed"][mode] = [r["request_id"] for r in measured if r["mode"] == mode and r["path"] == "failed"]
    for r in measured:
        if r["path"] != "failed" and r["path"] != r["kind"]:
            out["misrouted"].append({"request_id": r["request_id"], "mode": r["mode"], "expected": r["kind"],
                                     "answered_by": r["path"], "transcript": r.get("transcript", "")})
    for group, _ in GROUPS:
        g: dict = {}
        for mode in MODES:
            rows = [r for r in measured if r["path"] == group and r["mode"] == mode]
            rules: dict[str, int] = {}
            for r in rows:
                rules[r.get("end_rule") or "unknown"] = rules.get(r.get("end_rule") or "unknown", 0) + 1
            g[mode] = {"turns": len(rows), "end_rules": rules,
                       **{stage: stats(stage_value(r, stage) for r in rows) for stage, _ in STAGES + EXTRA}}
        out["groups"][group] = g
        out["ratios"][group] = {s: pair_ratios(measured, group, s) for s in ("first_audio", "played_end")}
    out["ratios"]["all"] = {s: pair_ratios(measured, None, s) for s in ("first_audio", "played_end")}
    out["split"] = [{"request_id": r["request_id"], "mode": r["mode"], "turns": r.get("turns")}
                    for r in measured if (r.get("turns") or 0) > 1]
    return out


def pair_ratios(records: list[dict], group: str | None, stage: str) -> dict:
    """streaming / sequential for the same request, over requests both modes answered by `group`
    (None: by the same path, whichever it was)."""
    by: dict[str, dict[str, dict]] = {}
    for r in records:
        by.setdefault(r["request_id"], {})[r["mode"]] = r
    ratios, pairs = [], []
    for rid, modes in by.items():
        s, q = modes.get("streaming"), modes.get("sequential")
        if not s or not q or s["path"] != q["path"] or s["path"] == "failed":
            continue
        if group is not None and s["path"] != group:
            continue
        a, b = stage_value(s, stage), stage_value(q, stage)
        if a is None or b is None or b <= 0:
            continue
        ratios.append(a / b)
        pairs.append({"request_id": rid, "streaming_ms": a, "sequential_ms": b, "ratio": round(a / b, 3)})
    out = {"n": len(ratios), "pairs": pairs}
    if ratios:
        out.update(median=round(percentile(ratios, 50), 3), min=round(min(ratios), 3), max=round(max(ratios), 3))
        seq = [p["sequential_ms"] for p in pairs]
        stream = [p["streaming_ms"] for p in pairs]
        out["ratio_of_medians"] = round(percentile(stream, 50) / percentile(seq, 50), 3)
    else:
        out.update(median=None, min=None, max=None, ratio_of_medians=None)
    return out


# ---------------------------------------------------------------- formatting


def fmt_ms(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}"


def _cell(st: dict, key: str) -> str:
    if st["n"] == 0:
        return "missing" if st["missing"] else "—"
    s = fmt_ms(st[key])
    return s + (f" ({st['missing']} missing)" if key == "median" and st["missing"] else "")


def rich_tables(summary: dict) -> list:
    from rich.table import Table

    tables = []
    for group, title in GROUPS:
        g = summary["groups"][group]
        r = summary["ratios"][group]["first_audio"]
        caption = (f"streaming/sequential voice→first audio, pair by pair: median {r['median']:.2f}× "
                   f"(min {r['min']:.2f}, max {r['max']:.2f}, {r['n']} pairs)" if r["n"] else
                   "no request was answered this way in both modes: no ratio")
        rules = "; ".join(f"{m}: " + ", ".join(f"{n} {k}" for k, n in sorted(g[m].get("end_rules", {}).items()))
                          for m in MODES if g[m].get("end_rules"))
        if rules:
            caption += f"\nwhat ended the turns: {rules}"
        t = Table(title=f"{title}: ms after end of speech (turns: streaming {g['streaming']['turns']}, "
                        f"sequential {g['sequential']['turns']})", caption=caption, title_justify="left")
        t.add_column("stage", no_wrap=True)
        for mode in MODES:
            for k in ("median", "p90", "max"):
                t.add_column(f"{mode[:3]}. {k}" if k == "median" else k, justify="right", no_wrap=True)
        for stage, label in STAGES + EXTRA:
            style = "bold" if stage == "first_audio" else ("dim" if (stage, label) in EXTRA else None)
            t.add_row(label, *[_cell(g[m][stage], k) for m in MODES for k in ("median", "p90", "max")], style=style)
        tables.append(t)
    return tables


def fmt_stats(st: dict, unit: str = "ms") -> str:
    if not st or st.get("n", 0) == 0:
        return "missing"
    f = (lambda v: f"{v:.3g}") if unit == "" else (lambda v: f"{v:.0f}")
    return f"{f(st['median'])} / {f(st['p90'])} / {f(st['max'])} {unit}".rstrip() + f"  (n={st['n']})"


def component_rows(components: dict) -> list[tuple[str, str]]:
    """(figure, value) rows: the figures measured in the run, then each component benchmark's own."""
    rows: list[tuple[str, str]] = []
    if "startup_s" in components:
        rows.append(("start-up time (all engines, warm)", f"{components['startup_s']:.1f} s"))
    for key, label in (("resident_memory_after_startup", "resident memory after start-up"),
                       ("resident_memory_after_first_turn", "resident memory after the first turn"),
                       ("resident_memory_after_run", "resident memory after the run")):
        m = components.get(key)
        if m:
            kids = " + ".join(f"{k['name']} {k['rss_mb']:.0f}" for k in m.get("children", []))
            rows.append((label, f"{m['total_mb']:.0f} MB (penny {m['self_mb']:.0f}" +
                         (f" + {kids}" if kids else "") + ")"))
    cold = components.get("llm_first_request_after_startup")
    if cold:
        rows.append(("LLM first request after start-up (cold), first token",
                     f"{cold['ttft_ms']:.0f} ms" if cold.get("ttft_ms") is not None else f"failed: {cold.get('error')}"))
    idle = components.get("idle_wake_listening_cpu")
    if idle:
        rows.append((f"idle CPU, listening for the wake word ({idle.get('wake_engine', '?')})",
                     f"{idle['share_of_one_core'] * 100:.1f}% of one core" if "share_of_one_core" in idle
                     else f"failed: {idle.get('error')}"))
    p = components.get("pipeline") or {}
    for key, label, unit in (("stt_processing_ms", "STT time in the pipeline (med/p90/max)", "ms"),
                             ("stt_rtf", "STT real-time factor in the pipeline", ""),
                             ("llm_ttft_ms", "LLM first token after transcript (LLM turns)", "ms"),
                             ("tts_first_audio_ms", "TTS first chunk → first audio (streaming)", "ms")):
        if key in p:
            rows.append((label, fmt_stats(p[key], unit)))
    hits = p.get("tts_cache_in_run")
    if hits:
        rows.append(("TTS cache in the run (reset each turn; hits = filler)",
                     f"{hits['memory_hits']} memory hits, {hits['disk_hits']} disk hits, {hits['misses']} misses"))
    for name, comp in components.items():
        if not isinstance(comp, dict) or "status" not in comp:
            continue
        if comp["status"] != "ok":
            rows.append((f"benchmarks/{name}.py", f"{comp['status']}: {comp.get('error', '')}"))
            continue
        for key, value in flatten(comp["result"]):
            if key.startswith("machine."):
                continue  # the same machine, already described once
            rows.append((f"{name}: {key}", _fmt_value(value)))
    return rows


# (label, component, path into its result) of the component benchmarks' headline figures, for the README.
HEADLINES = (
    ("STT (faster-whisper) latency for a 2 s utterance, ms", "hearing", "stt.utterances.1.latency_ms"),
    ("STT real-time factor for a 2 s utterance", "hearing", "stt.utterances.1.rtf"),
    ("VAD (Silero) cost per 32 ms frame, µs", "hearing", "vad.silero.us_per_frame"),
    ("openWakeWord idle CPU share of one core", "hearing", "wake_idle.openwakeword.cpu_share"),
    ("Piper TTS time to first chunk, ms (median)", "speaking", "engines.0.first_chunk_ms_median"),
    ("Piper TTS real-time factor (median)", "speaking", "engines.0.rtf_median"),
    ("TTS cache hit, memory, ms (median)", "speaking", "cache.memory_hit_ms.median"),
    ("TTS cache hit, disk, ms (median)", "speaking", "cache.disk_hit_ms.median"),
    ("LLM time to first token, s (median)", "llm", "ttft_s_median"),
    ("LLM tokens/s (median)", "llm", "tokens_per_s_median"),
)


def dig(obj, path: str):
    """obj["a"]["b"][0]["c"] for "a.b.0.c"; None when any step is missing."""
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, (list, tuple)) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def headline_rows(components: dict) -> list[tuple[str, str]]:
    """The run's own figures plus the component benchmarks' headline numbers ("missing" when absent)."""
    rows = [r for r in component_rows(components) if ":" not in r[0] and not r[0].startswith("benchmarks/")]
    for label, comp, path in HEADLINES:
        c = components.get(comp) or {}
        value = dig(c.get("result"), path) if c.get("status") == "ok" else None
        status = c.get("status", "not run")
        rows.append((label, _fmt_value(value) if value is not None else
                     "missing" if status == "ok" else f"missing ({status})"))
    return rows


def components_table(components: dict):
    from rich.table import Table

    t = Table(title="Component figures", title_justify="left")
    t.add_column("figure")
    t.add_column("value")
    for figure, value in component_rows(components):
        t.add_row(figure, value)
    return t


def flatten(d, prefix: str = "") -> list[tuple[str, object]]:
    """Scalars of a nested dict as (dotted key, value); lists of scalars are joined."""
    out: list[tuple[str, object]] = []
    if not isinstance(d, dict):
        return [(prefix or "value", d)]
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out += flatten(v, key)
        elif isinstance(v, (list, tuple)):
            if all(not isinstance(x, (dict, list, tuple)) for x in v):
                out.append((key, ", ".join(_fmt_value(x) for x in v)))
            elif all(isinstance(x, dict) for x in v):  # e.g. one row per utterance or prompt
                for i, x in enumerate(v):
                    short = [f"{k2}={_fmt_value(v2)}" for k2, v2 in x.items()
                             if (isinstance(v2, (int, float)) and not isinstance(v2, bool))
                             or (isinstance(v2, str) and len(v2) <= 24)]
                    out.append((f"{key}[{i}]", ", ".join(short) or f"{len(x)} fields"))
            else:
                out.append((key, f"[{len(v)} items]"))
        else:
            out.append((key, v))
    return out


def _fmt_value(v) -> str:
    if v is None:
        return "missing"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown_table(summary: dict) -> str:
    """The README's table: medians (p90) per stage, streaming vs sequential, for both answer paths."""
    lines = []
    head = "| stage (ms after end of speech) | " + " | ".join(
        f"{title.split(' (')[0]} · {mode}" for _, title in GROUPS for mode in MODES) + " |"
    lines.append(head)
    lines.append("|---|" + "---:|" * (len(GROUPS) * len(MODES)))
    for stage, label in STAGES + EXTRA:
        cells = []
        for group, _ in GROUPS:
            for mode in MODES:
                st = summary["groups"][group][mode][stage]
                cells.append("missing" if st["n"] == 0 and st["missing"] else "—" if st["n"] == 0 else
                             f"{fmt_ms(st['median'])} ({fmt_ms(st['p90'])})")
        bold = stage == "first_audio"
        name = f"**{label}**" if bold else label
        lines.append(f"| {name} | " + " | ".join(f"**{c}**" if bold else c for c in cells) + " |")
    turns = [str(summary["groups"][g][m]["turns"]) for g, _ in GROUPS for m in MODES]
    lines.append("| turns measured | " + " | ".join(turns) + " |")
    lines.append("")
    for group, title in GROUPS + (("all", "All requests"),):
        r = summary["ratios"][group]["first_audio"]
        if r["n"]:
            lines.append(f"- {title.split(' (')[0]}: streaming/sequential voice→first audio, pair by pair: "
                         f"median **{r['median']:.2f}×** (min {r['min']:.2f}, max {r['max']:.2f}, {r['n']} pairs).")
    return "\n".join(lines)


# ---------------------------------------------------------------- files


def websocket_lines(ws: dict | None) -> list[str]:
    """The browser path beside the in-process one (markdown; also printed on the terminal): voice→first
    audio from the true end of speech, median (p90), and the gap, from the same run."""
    if not ws:
        return []
    sm, server = ws.get("summary") or {}, ws.get("server") or {}
    if server.get("error"):
        return [f"- Through the WebSocket (`penny serve`): failed: {server['error'].splitlines()[0]}"]
    a, b = sm.get("in_process") or {}, sm.get("websocket") or {}
    if not a.get("n") or not b.get("n"):
        return ["- Through the WebSocket (`penny serve`): no request answered both ways"]
    cell = lambda st: f"{fmt_ms(st['median'])} ({fmt_ms(st['p90'])})" if st.get("n") else "—"  # noqa: E731
    gap = sm.get("gap_pairwise") or {}
    lines = [
        "| voice→first audio, ms from the true end of speech, median (p90) | in-process | through the WebSocket "
        "(`penny serve`) | gap |",
        "|---|---:|---:|---:|",
        f"| all requests answered both ways ({b['n']}) | {cell(a)} | {cell(b)} | "
        f"{sm['gap_of_medians_ms']:+.0f} ({sm['gap_of_p90_ms']:+.0f}) |",
    ]
    for path, label in (("local", "local intents (skills)"), ("llm", "LLM answers")):
        g = (sm.get("by_path") or {}).get(path)
        if g and g["in_process"]["n"] and g["websocket"]["n"]:
            lines.append(f"| {label} ({g['n']}) | {cell(g['in_process'])} | {cell(g['websocket'])} | "
                         f"{g['websocket']['median'] - g['in_process']['median']:+.0f} |")
    lines += ["", f"- WebSocket path, request by request minus in-process: median {fmt_ms(gap.get('median'))} ms, "
                  f"p90 {fmt_ms(gap.get('p90'))} ms. Of the WebSocket figure, the server's own pipeline (its "
                  f"first_audio mark) is {cell(sm.get('websocket_server_side') or {})} ms, the microphone frame's trip "
                  f"in {cell(sm.get('inbound') or {})} ms and the reply frame's trip out "
                  f"{cell(sm.get('outbound') or {})} ms (one clock on this machine). The WebSocket pass runs after "
                  f"the in-process one (never at once); load average {server.get('load_before', '?')} before it, "
                  f"{server.get('load_after', '?')} after."]
    left = [*(sm.get("failed") or []), *(sm.get("repeat_reply") or [])]
    if left:
        lines.append(f"- Not compared: {', '.join(sorted(set(left)))} (failed, or a reply already spoken in the "
                     "WebSocket pass: a possible TTS cache hit).")
    return lines


def result_stem(machine: dict, quick: bool) -> str:
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", machine.get("host", "host"))[:40]
    return f"{machine['date']}-{host}" + ("-quick" if quick else "")


def write_json(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def write_chart(path: Path, summary: dict, title: str = "") -> Path:
    """Stacked bars of median cumulative time per stage (differences of medians, so they sum to the
    median voice→first audio), with the p90 of voice→first audio as a whisker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = ["#9aa5b1", "#4c78a8", "#f58518", "#54a24b", "#e45756"]
    labels = dict(STAGES)
    rows = []
    for group, gtitle in GROUPS:
        for mode in MODES:
            st = summary["groups"][group][mode]
            if st["first_audio"]["n"]:
                rows.append((f"{gtitle.split(' (')[0]}\n{mode}", st))
    fig, ax = plt.subplots(figsize=(9, 2.2 + 0.8 * max(1, len(rows))))
    used: set[str] = set()
    for y, (name, st) in enumerate(rows):
        prev = 0.0
        # In time order: with speculation a transcript can be ready before the end-of-turn decision.
        present = sorted((st[stage]["median"], i, stage) for i, stage in enumerate(CHART_STAGES)
                         if st[stage]["median"] is not None)
        for med, i, stage in present:
            width = max(0.0, med - prev)
            label = None if stage in used else labels[stage]
            used.add(stage)
            ax.barh(y, width, left=prev, color=colors[i], edgecolor="white", label=label)
            prev = max(prev, med)
        fa = st["first_audio"]
        ax.errorbar(fa["median"], y, xerr=[[0], [max(0.0, fa["p90"] - fa["median"])]], fmt="none",
                    ecolor="black", capsize=4, lw=1)
        ax.text(fa["median"], y + 0.32, f" {fa['median']:.0f} ms", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("ms after end of speech (median; whisker: p90 of voice→first audio)")
    ax.set_title(title or "Penny voice→first audio, by stage", fontsize=10)
    if used:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22 - 0.05 / max(1, len(rows))),
                  ncol=3, frameon=False, title="each segment ends at this stage (segments in time order)",
                  title_fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(0, max([r[1]["first_audio"]["p90"] for r in rows] + [1.0]) * 1.12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def describe_corpus(corpus: list[dict]) -> str:
    local = sum(1 for c in corpus if c["kind"] == "local")
    noisy = sorted({c["snr_db"] for c in corpus if c.get("snr_db") is not None})
    n_noisy = sum(1 for c in corpus if c.get("snr_db") is not None)
    speech = [c["speech_s"] for c in corpus if "speech_s" in c]
    span = f", {min(speech):.1f}–{max(speech):.1f} s of speech each" if speech else ""
    snr = f"; {n_noisy} with white noise at {'/'.join(f'{x:g}' for x in noisy)} dB SNR" if n_noisy else ""
    return (f"{len(corpus)} spoken requests ({local} for local skills, {len(corpus) - local} open questions for "
            f"the LLM; Piper and espeak-ng voices{snr}{span})")


def readme_section(summary: dict, machine: dict, chart_rel: str, json_rel: str, quick: bool,
                   corpus: list[dict] | None = None, components: dict | None = None,
                   duration_s: float | None = None, websocket: dict | None = None) -> str:
    cpu = machine.get("cpu", "unknown CPU")
    when = machine.get("date", "")
    kind = "quick run" if quick else "full run"
    what = describe_corpus(corpus) if corpus else "Each spoken request (Piper and espeak-ng voices, some with noise)"
    return "\n".join([
        "## Latency",
        "",
        f"Measured with `penny bench{' --quick' if quick else ''}` ({kind}, {when}) on {machine.get('host', '?')}: "
        f"{cpu}, {machine.get('cores_logical', '?')} logical cores, {machine.get('ram_gb', '?')} GB RAM, "
        f"{machine.get('os', '')}; load average {machine.get('load_before', '?')} at the start. Built-in defaults: "
        f"{machine.get('models', '')}. {what}, each fed at real-time pace (with trailing silence) once through "
        "*streaming* (Penny's pipeline) and once through *sequential* (like the seed: the full end-of-turn silence, "
        "then the whole transcript, the whole answer, the whole synthesis, then play). Milliseconds after the end "
        "of speech: median (p90); \"missing\" means the stage did not happen. Rows are grouped by what actually "
        "answered (a skill or the LLM).",
        "",
        markdown_table(summary),
        "",
        *([*websocket_lines(websocket), ""] if websocket else []),
        f"![Per-stage latency]({chart_rel})",
        "",
        "| component figure | value |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in headline_rows(components or {})],
        "",
        f"Raw per-turn numbers and machine details: [`{json_rel}`]({json_rel}). Re-run with `penny bench`"
        + (f" (this run took {duration_s / 60:.1f} minutes)" if duration_s else "")
        + " or `penny bench --quick` (about a minute); add `--update-readme` to refresh this section.",
        "",
    ])


def update_readme(readme: Path, section: str) -> None:
    """Replace the README's section named by `section`'s heading (up to the next "## "), or append it."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    heading = section.lstrip().splitlines()[0].strip()
    pattern = re.compile(rf"^{re.escape(heading)}\s*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip() + "\n\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    readme.write_text(text, encoding="utf-8")
