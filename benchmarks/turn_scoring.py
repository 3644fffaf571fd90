"""The turn-taking benchmark's judge: what each turn did, read from a session's events, each with the
perf_counter time it arrived. Pure functions, so the tests can score hand-made event sequences.

A turn ended early when Penny committed it (its end of turn) before the user's true end of speech, or when
its audio ended well before it (built from half a sentence). It cut the user off when it also answered
(ReplyStarted, audio or text); one that said nothing (the gate heard only "Hey Penny") is counted apart.
A cut-off request was recovered when the turn that then answered it was built from audio that began before
the cut: the user went on, and Penny heard the whole request after all (core/continuation.py). The cut-off
still counts: Penny did start talking too soon."""
from __future__ import annotations

from dataclasses import dataclass, field

CUT_TOLERANCE_S = 0.2  # VAD's end of speech may sit this far before the true end (trimmed fades)


@dataclass
class TurnView:
    turn_id: str
    committed: float | None = None  # when the turn was decided (end of turn; else its first stage event)
    speech_end: float | None = None  # the end of the audio the turn was built from (from its trace)
    first_audio: float | None = None  # the answer's first sound (a "one moment" filler before its words is not)
    texting: bool = False  # its words have begun (a ReplyDelta came)
    first_sound: float | None = None  # any audio of it, a filler included
    interrupted: bool = False
    done: bool = False  # its TurnTrace came: the turn is over
    spoke: bool = False  # it answered: ReplyStarted, reply audio or text
    end_rule: str | None = None
    intent: str | None = None
    replies: list[str] = field(default_factory=list)
    said: str = ""  # its words so far (ReplyDelta): a long reply still going when the listening ends
    speech_start: float | None = None  # the start of the audio the turn was built from (from its trace)
    merged_from: str | None = None  # the cut turn it joined (from its trace)

    def relative(self, t0: float) -> dict:
        """For the record: times in ms from t0 (the true end of speech)."""
        ms = lambda t: None if t is None else round((t - t0) * 1000)
        return {"committed_ms": ms(self.committed), "speech_end_ms": ms(self.speech_end),
                "first_audio_ms": ms(self.first_audio), "first_sound_ms": ms(self.first_sound), "end_rule": self.end_rule, "intent": self.intent,
                "interrupted": self.interrupted, "spoke": self.spoke, "replies": self.replies,
                "speech_start_ms": ms(self.speech_start), "merged_from": self.merged_from}

    def early(self, true_end: float) -> bool:
        early = self.committed is not None and self.committed < true_end
        partial = self.speech_end is not None and self.speech_end < true_end - CUT_TOLERANCE_S
        return early or partial


def turns_of(events: list[tuple[float, object]]) -> list[TurnView]:
    """Every turn that was committed (a dropped speculation leaves no event), in order of commitment."""
    from penny.core.events import (
        ReplyAudio,
        ReplyDelta,
        ReplyDone,
        ReplyStarted,
        StageEvent,
        TurnTrace,
    )

    turns: dict[str, TurnView] = {}
    for wall, ev in events:
        tid = getattr(ev, "turn_id", None)
        if tid is None or tid.startswith("alert-"):
            continue
        view = turns.setdefault(tid, TurnView(tid))
        if isinstance(ev, StageEvent) and (ev.stage, ev.phase) == ("turn", "start"):
            view.committed = ev.t
        elif view.committed is None:  # a held turn's events arrive when it is committed: arrival is the time
            view.committed = wall  # (a stage event's own t may be from the speculation, before the commit)
        view.spoke = view.spoke or isinstance(ev, (ReplyStarted, ReplyAudio)) or \
            isinstance(ev, ReplyDone) and bool(ev.text)
        if isinstance(ev, (StageEvent, ReplyStarted)):
            continue
        if isinstance(ev, ReplyAudio) and view.first_sound is None:
            view.first_sound = wall
        if isinstance(ev, ReplyAudio) and view.first_audio is None and view.texting:
            view.first_audio = wall
        elif isinstance(ev, ReplyDelta):
            view.texting, view.said = True, view.said + ev.text
        elif isinstance(ev, ReplyDone) and ev.text:
            view.replies.append(ev.text)
        elif isinstance(ev, TurnTrace):
            marks = ev.marks
            view.committed = marks.get("end_of_turn", view.committed)
            view.speech_end = marks.get("speech_end", view.speech_end)
            view.speech_start = marks.get("speech_start", view.speech_start)
            view.merged_from = ev.merged_from
            view.first_audio = marks.get("first_audio", view.first_audio)
            view.interrupted, view.end_rule, view.intent, view.done = ev.interrupted, ev.end_rule, ev.intent, True
    return sorted(turns.values(), key=lambda v: v.committed if v.committed is not None else float("inf"))


def replies(turns: list[TurnView], partial: bool = False) -> list[str]:
    """What Penny answered; `partial`: a reply still going counts with its words so far (an echo clip stops
    listening after ECHO_LISTEN_S, and a story may go on longer)."""
    return [r for t in turns for r in (t.replies or ([t.said.strip()] if partial and t.said.strip() else []))]


def judge_request(turns: list[TurnView], true_end: float) -> dict:
    """Cut-off and voice-to-first-audio of one request whose speech truly ended at `true_end`."""
    early = [t for t in turns if t.early(true_end)]
    cut = [t for t in early if t.spoke]
    answer = next((t for t in turns if t.spoke and not t.early(true_end)), None)
    out = {"cut_off": bool(cut), "cut_turns": len(cut), "silent_early_ends": len(early) - len(cut),
           "recovered": recovered(cut, answer), "merged_turns": sum(t.merged_from is not None for t in turns),
           "answered": answer is not None,
           "end_rule": answer.end_rule if answer else None, "intent": answer.intent if answer else None,
           "end_of_turn_ms": None, "voice_to_audio_ms": None,
           "replies": replies(turns), "turns": [t.relative(true_end) for t in turns]}
    if answer is not None and answer.committed is not None:
        out["end_of_turn_ms"] = round((answer.committed - true_end) * 1000, 1)
    if answer is not None and answer.first_audio is not None and not cut:
        out["voice_to_audio_ms"] = round((answer.first_audio - true_end) * 1000, 1)
    return out


def recovered(cut: list[TurnView], answer: TurnView | None) -> bool:
    """Penny cut the user off, then answered the whole request: the answer was built from audio that
    began before the first cut."""
    first = min((t.committed for t in cut if t.committed is not None), default=None)
    return first is not None and answer is not None and answer.speech_start is not None and \
        answer.speech_start < first


def reaction(cuts: list[float], onset: float, within_s: float = 3.0) -> float | None:
    """Milliseconds from the user's first word over a reply to the speaker going quiet (the first cut of
    playing audio after it), or None when Penny kept talking."""
    after = [c for c in cuts if onset <= c <= onset + within_s]
    return round((after[0] - onset) * 1000, 1) if after else None


def false_barge_ins(cuts: list[float], interrupted_at: list[float], since: float, until: float) -> int:
    """Penny's reply cut while only Penny was talking (its own voice, back through the room): each cut turn
    (Interrupted) or, if none was announced, each stop of the speaker."""
    inside = lambda ts: sum(since <= t <= until for t in ts)
    return max(inside(interrupted_at), inside(cuts))


# ---------------------------------------------------------------- summary

def _stats(values: list[float]) -> dict:
    from benchmarks.report import percentile

    vals = [v for v in values if v is not None]
    if not vals:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(vals), "median": round(percentile(vals, 50), 1), "p90": round(percentile(vals, 90), 1)}


def _rate(recs: list[dict], key: str) -> float | None:
    vals = [bool(r[key]) for r in recs if r.get(key) is not None]
    return round(sum(vals) / len(vals), 3) if vals else None


def summarize(records: list[dict], rules: tuple[str, ...]) -> dict:
    out = {}
    for rule in rules:
        recs = [r for r in records if r["rule"] == rule]
        echo = [r for r in recs if r["category"] == "echo"]
        aec = [r for r in recs if r["category"] == "echo+aec"]
        barge = [r for r in recs if r["category"] in ("stop", "barge_in")]
        v2a = {k: _stats([r.get("voice_to_audio_ms") for r in recs if r["kind"] == k]) for k in ("skill", "llm")}
        out[rule] = {
            "clips": len(recs), "cut_off": _rate(recs, "cut_off"), "fulfilled": _rate(recs, "fulfilled"),
            "recovered": _rate([r for r in recs if r.get("cut_off")], "recovered"),
            "merged_turns": sum(r.get("merged_turns") or 0 for r in recs),
            "voice_to_audio_skills_ms": v2a["skill"], "voice_to_audio_llm_ms": v2a["llm"],
            "end_of_turn_ms": _stats([r.get("end_of_turn_ms") for r in recs if not r.get("cut_off")]),
            "silent_early_end": _rate([{"x": r["silent_early_ends"] > 0} for r in recs if "silent_early_ends" in r], "x"),
            "false_barge_ins": sum(r.get("false_barge_ins") or 0 for r in echo), "echo_clips": len(echo),
            "false_barge_ins_aec": sum(r.get("false_barge_ins") or 0 for r in aec), "echo_aec_clips": len(aec),
            "false_pauses_aec": sum(r.get("false_pauses") or 0 for r in aec),
            "barge_in_reaction_ms": _stats([r.get("reaction_ms") for r in barge]),
            "barge_in_stopped": _rate(barge, "stopped"),
            "by_category": {c: {"clips": len(rs), "cut_off": _rate(rs, "cut_off"), "fulfilled": _rate(rs, "fulfilled"),
                                "recovered": _rate([r for r in rs if r.get("cut_off")], "recovered")}
                            for c in dict.fromkeys(r["category"] for r in recs)
                            for rs in [[r for r in recs if r["category"] == c]]},
        }
    return out


def _ms(s: dict) -> str:
    return "–" if s["median"] is None else f"{s['median']:.0f} / {s['p90']:.0f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def markdown(summary: dict) -> str:
    """The table the README takes: one column per rule."""
    rules = list(summary)
    rows = [("cut-off rate (user not finished)", lambda s: _pct(s["cut_off"])),
            ("… of those, answered whole after all (recovered)", lambda s: _pct(s.get("recovered"))),
            ("fulfilled", lambda s: _pct(s["fulfilled"])),
            ("ended early but said nothing (e.g. after \"Hey Penny,\")", lambda s: _pct(s["silent_early_end"])),
            ("voice → first audio, skills (median / p90 ms)", lambda s: _ms(s["voice_to_audio_skills_ms"])),
            ("voice → first audio, LLM (median / p90 ms)", lambda s: _ms(s["voice_to_audio_llm_ms"])),
            ("end of speech → end of turn (median / p90 ms)", lambda s: _ms(s["end_of_turn_ms"])),
            ("false barge-ins from Penny's own voice", lambda s: f"{s['false_barge_ins']} / {s['echo_clips']} clips"),
            ("… with WebRTC AEC3 on the mic", lambda s: f"{s['false_barge_ins_aec']} / {s['echo_aec_clips']} clips"),
            ("… pauses it played on from (a stutter)", lambda s: f"{s.get('false_pauses_aec', 0)}"),
            ("barge-in reaction (median / p90 ms)", lambda s: _ms(s["barge_in_reaction_ms"])),
            ("barge-in / \"stop\" stopped Penny", lambda s: _pct(s["barge_in_stopped"]))]
    lines = ["| measure | " + " | ".join(f"`{r}`" for r in rules) + " |", "|---|" + "---:|" * len(rules)]
    lines += [f"| {name} | " + " | ".join(fn(summary[r]) for r in rules) + " |" for name, fn in rows]
    cats = list(dict.fromkeys(c for r in rules for c in summary[r]["by_category"]))
    lines += ["", "| category (cut-off · fulfilled) | " + " | ".join(f"`{r}`" for r in rules) + " |",
              "|---|" + "---:|" * len(rules)]
    for c in cats:
        cells = [summary[r]["by_category"].get(c) for r in rules]
        lines.append(f"| {c} | " + " | ".join("–" if x is None else f"{_pct(x['cut_off'])} · {_pct(x['fulfilled'])}"
                                             for x in cells) + " |")
    return "\n".join(lines)


def write_chart(path, summary: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rules = list(summary)
    every = list(dict.fromkeys(c for r in rules for c in summary[r]["by_category"]))
    fig, (a, f, b) = plt.subplots(1, 3, figsize=(18, 5), gridspec_kw={"width_ratios": [2, 2, 1]})
    width, colors = 0.8 / max(len(rules), 1), ("#4c78a8", "#f58518", "#54a24b")
    for ax, key, cats in ((a, "cut_off", [c for c in every if not c.startswith("echo")]), (f, "fulfilled", every)):
        for i, rule in enumerate(rules):
            ys = [100 * (summary[rule]["by_category"].get(c, {}).get(key) or 0) for c in cats]
            ax.bar([x + i * width for x in range(len(cats))], ys, width, label=rule, color=colors[i % 3])
        ax.set_xticks([x + width * (len(rules) - 1) / 2 for x in range(len(cats))], cats, rotation=25)
        ax.set_ylim(0, 100)
        ax.set_title(f"{key.replace('_', '-')} rate by category (%)")
    a.legend()
    for i, rule in enumerate(rules):
        s = summary[rule]
        meds = [s[k]["median"] or 0 for k in ("voice_to_audio_skills_ms", "voice_to_audio_llm_ms")]
        b.bar([x + i * width for x in range(2)], meds, width, label=rule, color=colors[i % 3])
    b.set_xticks([x + width * (len(rules) - 1) / 2 for x in range(2)], ["skills", "LLM"])
    b.set_title("voice → first audio, median (ms)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
