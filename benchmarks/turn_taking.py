"""Turn-taking you can measure (`penny bench --turns [--quick]`): how often Penny cuts people off, how fast
it answers once they are done, and how it handles being talked over, under each end-of-turn rule
(`vad.end_of_turn`: "silence", "text", "model") on the same clips in one run.

Every clip (benchmarks/turn_corpus.py) goes to a fresh VoiceSession of the default wake-word pipeline, loaded
once in accuracy.py's isolated world (ICS calendar, stand-in weather, fixed clock), at real-time pace, with a
-60 dBFS pink noise floor under the whole stream and noise fed after the speech until the turn is over.
The sink plays in real time; for echo clips what it plays goes back into the microphone through a simulated
room (penny.testing_room's impulse response, streamed frame by frame), as loud as the user's voice: each
echo clip runs twice, a plain speaker (Penny's barge-in guard on) and "echo+aec", WebRTC AEC3 on the mic
(adapters/audio/echo.py; the sink then reports echo_cancelled, so the guard is off, as on Penny's speaker).
When Penny asks "Did you say: X?", the simulated user answers honestly (accuracy.py's rule).
Times are taken from the clip's true segments, not from Penny's VAD. Scoring: benchmarks/turn_scoring.py.
"""
from __future__ import annotations

import asyncio
import logging
import re
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from benchmarks import turn_corpus as corpus
from benchmarks import turn_scoring as scoring
from benchmarks.turn_mic import ECHO_DELAY_MS, ECHO_RT60_S, NOISE_DB, SR, Mic

log = logging.getLogger("benchmarks.turn_taking")
RULES = ("silence", "text", "model")
TURN_TIMEOUT_S = 20.0  # after the end of speech: a reply later than this counts as none
QUIET_S = 4.0  # no turn at all this long after the speech: Penny did not take it
THEN_AFTER_S = 1.2  # "stop" / barge-in: the user speaks this far into Penny's reply
FOLLOW_GAP_S = 1.0  # a follow-up comes this long after Penny's reply has finished playing
ECHO_LISTEN_S = 14.0  # echo clips: how long Penny's own reply is fed back at most (a 3-event calendar reply takes ~8 s)
_ASKED = re.compile(r"^Did you say: (?P<words>.+)\?$")


async def run_clip(bench, clip: corpus.TurnClip, rule: str, penny_db: float, aec: bool = False) -> dict:
    ask, cat = clip.ask, clip.ask.category
    rec = {"id": ask.id, "category": cat + ("+aec" if aec else ""), "kind": ask.kind, "voice": clip.voice, "rule": rule,
           "pauses_ms": [p for p in ask.pieces if isinstance(p, int)], "fulfilled": False, "error": None}
    await bench.reset(ask.as_ask())
    bench.engines.cfg.vad.end_of_turn = rule  # read by each new session
    echo_db = None
    if cat == "echo":
        from penny.testing_room import active_rms_db

        echo_db = active_rms_db(clip.audio) - penny_db  # Penny's voice back as loud as the user's
    seed = corpus.acc._seed(ask.id, clip.voice)
    mic = Mic(bench.engines, f"turns-{rule}-{ask.id}-{uuid.uuid4().hex[:4]}", seed=seed,
              realtime=cat in ("stop", "barge_in", "echo"), echo_gain_db=echo_db, aec=aec)
    try:
        t0 = await mic.feed(clip.audio)
        true_end = mic.wall_at(t0 + clip.true_end_s)
        started = lambda: (a := mic.answer(true_end)) is not None and (a.first_audio is not None or a.interrupted)
        finished = lambda: (a := mic.answer(true_end)) is not None and a.done
        ready = started if cat in ("stop", "barge_in") else finished if cat != "echo" else lambda: True
        gave_up = lambda: mic.answer(true_end) is None and mic.n / SR - t0 - clip.true_end_s > QUIET_S
        await mic.feed(seconds=TURN_TIMEOUT_S, until=lambda: ready() or gave_up())
        rec.update(scoring.judge_request(mic.turns(), true_end))
        if cat in ("stop", "barge_in"):
            await mic.feed(seconds=THEN_AFTER_S)
            rec.update(await _talk_over(bench, mic, clip))
        elif cat == "echo":  # the user is done: any cut from here on is Penny interrupting itself
            await mic.feed(seconds=ECHO_LISTEN_S, until=lambda: finished() and not mic.sink.playing)
            cut = [w for w, ev in mic.events if type(ev).__name__ == "Interrupted"]
            rec["false_barge_ins"] = scoring.false_barge_ins(mic.sink.cuts, cut, true_end, time.perf_counter())
            rec["false_pauses"] = sum(p >= true_end for p, _ in mic.sink.resumes)  # a stutter, not a cut
            rec.update(scoring.judge_request(mic.turns(), true_end))
            rec["replies"] = scoring.replies(mic.turns(), partial=True)
            rec["fulfilled"] = not rec["false_barge_ins"] and _check(bench, ask, rec["replies"])
        else:
            await _answer_questions(bench, mic, clip)
            rec["replies"] = scoring.replies(mic.turns())
            rec["fulfilled"] = _check(bench, ask, rec["replies"])
            if cat == "follow_up":
                await _follow_up(bench, mic, clip, rec)
        rec["transcripts"] = [[round((w - true_end) * 1000), ev.text] for w, ev in mic.events
                              if type(ev).__name__ == "Transcript" and ev.text]  # ms from the true end
    except Exception as exc:  # a crash is a result too: recorded, not hidden
        log.exception("%s (%s, %s) failed", ask.id, clip.voice, rule)
        rec["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await mic.close()
    return rec


def _check(bench, ask: corpus.TurnAsk, replies: list[str], then: bool = False) -> bool:
    from benchmarks.accuracy_scoring import check
    from penny.plugins import lists

    if (ask.then_task if then else ask.task) == "list_add":
        items = {i["text"].lower() for i in lists.items(bench.plugins["notes"].store.load(), "shopping")}
        return all(any(w in i for i in items) for w in ask.expect["items"])
    return check(bench, ask.as_ask(then), replies)[0]


async def _answer_questions(bench, mic: Mic, clip: corpus.TurnClip, then: bool = False, since: float = 0.0) -> None:
    """"Did you say: X?": the user says yes only if X means the request (accuracy.py's honest user)."""
    from benchmarks.accuracy_scoring import judge_yes

    for _ in range(2):
        replies = scoring.replies(mic.turns(since))
        asked = _ASKED.match(replies[-1].strip()) if replies else None
        if not asked:
            return
        yes = judge_yes(bench, clip.ask.as_ask(then), asked.group("words"))
        audio = corpus.piece_audio(corpus.VOICES[clip.voice], "Yes." if yes else "No.")
        start = await mic.feed(np.concatenate([audio, np.zeros(SR // 4, np.float32)]))
        end = mic.wall_at(start + len(audio) / SR)
        await mic.feed(seconds=TURN_TIMEOUT_S, until=lambda e=end: (a := mic.answer(e, e - 1)) is not None and a.done)
        if not yes:
            return


async def _follow_up(bench, mic: Mic, clip: corpus.TurnClip, rec: dict) -> None:
    """The follow-up, without the wake word, FOLLOW_GAP_S after Penny's reply has played."""
    await mic.feed(seconds=TURN_TIMEOUT_S, until=lambda: not mic.sink.playing)
    await mic.feed(seconds=FOLLOW_GAP_S)
    t1 = await mic.feed(clip.then_audio)
    onset, end = mic.wall_at(t1), mic.wall_at(t1 + clip.then_segments[-1][1])
    await mic.feed(seconds=TURN_TIMEOUT_S, until=lambda: (a := mic.answer(end, onset)) is not None and a.done or
                   not mic.turns(onset) and time.perf_counter() - end > QUIET_S)
    then = scoring.judge_request(mic.turns(onset), end)
    await _answer_questions(bench, mic, clip, then=True, since=onset)
    then["replies"] = scoring.replies(mic.turns(onset))
    ok = _check(bench, clip.ask, then["replies"], then=True)
    cut = [part for part in (rec, then) if part["cut_off"]]
    rec.update(then=then, then_fulfilled=ok, fulfilled=rec["fulfilled"] and ok, cut_off=bool(cut),
               recovered=bool(cut) and all(part["recovered"] for part in cut),
               merged_turns=rec.get("merged_turns", 0) + then["merged_turns"])


async def _talk_over(bench, mic: Mic, clip: corpus.TurnClip) -> dict:
    """The user speaks over Penny's reply: "stop" / "never mind", or a new request with the wake word."""
    playing = mic.sink.playing
    t1 = await mic.feed(clip.then_audio)
    onset, end = mic.wall_at(t1 + clip.then_segments[0][0]), mic.wall_at(t1 + clip.then_segments[-1][1])
    if clip.ask.then_task == "stop":
        await mic.feed(seconds=3.0)
    else:
        await mic.feed(seconds=TURN_TIMEOUT_S, until=lambda: (a := mic.answer(end, onset)) is not None and a.done)
    react = scoring.reaction(mic.sink.cuts, onset)
    # a reply already over when the user spoke is no test of barge-in: left out of the rates
    out = {"playing_at_onset": playing, "reaction_ms": react, "stopped": (react is not None) if playing else None}
    if clip.ask.then_task == "stop":
        out["fulfilled"] = react is not None if playing else None
    else:
        replies = scoring.replies(mic.turns(onset))
        out["then_replies"] = replies
        out["fulfilled"] = _check(bench, clip.ask, replies, then=True)
    return out


async def _penny_level(engines) -> float:
    """Penny's speaking level (dBFS, speech only), so the echo can be set as loud as the user."""
    from penny.core.pcm import to_16k_mono
    from penny.testing_room import active_rms_db

    chunks = [to_16k_mono(c.as_float32(), c.sample_rate)
              async for c in engines.tts.synthesize("Tomorrow you have a team standup at nine in the morning.")]
    return active_rms_db(np.concatenate(chunks))


async def run(quick: bool = False, cfg=None, rules: tuple[str, ...] = RULES, limit: int | None = None,
              only: str | None = None, progress=None) -> dict:
    """Build the corpus; every clip under every rule (interleaved, so load drift hits all rules alike)."""
    from benchmarks.accuracy_scoring import Bench
    from penny.config import PennyConfig

    clips = [c for c in corpus.build_clips(quick=quick) if only is None or re.search(only, c.ask.id)][:limit]
    cfg = (cfg or PennyConfig()).model_copy(deep=True)
    cfg.vad.end_of_turn = "model"  # so the turn model loads; each session then takes its pass's rule
    records = []
    with tempfile.TemporaryDirectory(prefix="penny-turns-") as tmp:
        bench = await Bench.start(cfg, Path(tmp))
        try:
            penny_db = await _penny_level(bench.engines)
            model = bench.engines.turn_end_model
            for n, clip in enumerate(clips, 1):
                for rule in rules:
                    for aec in (False, True) if clip.ask.category == "echo" else (False,):
                        t = time.perf_counter()
                        rec = await run_clip(bench, clip, rule, penny_db, aec)
                        rec["wall_s"] = round(time.perf_counter() - t, 1)
                        records.append(rec)
                        if progress:
                            progress(n, len(clips), rec)
        finally:
            await bench.close()
    return {"records": records, "summary": scoring.summarize(records, rules), "clips": len(clips),
            "rules": list(rules), "quick": quick, "turn_model": getattr(model, "name", None),
            "noise_db": NOISE_DB, "echo": {"delay_ms": ECHO_DELAY_MS, "rt60_s": ECHO_RT60_S, "level": "user's"}}


def echo_soak_line(e: dict) -> str:
    r = e["reaction_ms"]
    return (f"Open speaker, {e['replies']} replies in a row, echo as loud as the user, AEC3: "
            f"{e['false_barge_ins']} false barge-ins, {e['extra_wakes']} wakes and {e['extra_transcripts']} turns "
            f"from Penny's own voice; talking over it stopped {e['stopped']} replies, "
            f"{r['median']} / {r['p90']} ms (median / p90) from the user's first sound.")


def estimate_s(clips: list[corpus.TurnClip], rules: int = len(RULES)) -> float:
    """Rough wall time of a run: each clip's speech, plus what its category waits for (measured on the VM)."""
    wait = {"fluent": 1.5, "hesitation": 1.5, "list": 2.0, "slow_number": 1.5, "follow_up": 6.0, "stop": 7.0,
            "barge_in": 5.5, "echo": 9.0}  # echo: up to ECHO_LISTEN_S when Penny does not cut itself off
    per_clip = sum((len(c.audio) / SR + wait[c.ask.category] + (0 if c.then_audio is None else len(c.then_audio) / SR))
                   * (2 if c.ask.category == "echo" else 1) for c in clips)  # echo: without and with AEC3
    return 20 + rules * per_clip  # + loading the engines


def main(*, quick: bool = False, out: Path | None = None, config: str | None = None, limit: int | None = None,
         only: str | None = None) -> Path:
    """`penny bench --turns`: run, print the table, write JSON + PNG."""
    from rich.console import Console

    from benchmarks import report
    from benchmarks.__main__ import RESULTS, _load, machine_info
    from penny.config import PennyConfig, load_config

    console = Console(width=140)
    cfg = load_config(config) if config else PennyConfig()
    machine, t0 = machine_info(), time.perf_counter()
    planned = [c for c in corpus.build_clips(quick=quick) if only is None or re.search(only, c.ask.id)][:limit]
    console.print(f"{len(planned)} clips x {len(RULES)} rules, about {estimate_s(planned) / 60:.0f} min")

    def show(n: int, total: int, rec: dict) -> None:
        cut = "ok " if not rec.get("cut_off") else "[yellow]CUT, then whole[/yellow]" if rec.get("recovered") \
            else "[red]CUT[/red]"
        done = "[green]done[/green]" if rec["fulfilled"] else "[yellow]not done[/yellow]"
        extra = (f" react {rec['reaction_ms']} ms" if "reaction_ms" in rec else "") + \
            (f" false barge-ins {rec['false_barge_ins']}" if "false_barge_ins" in rec else "")
        console.print(f"{n:3d}/{total} {rec['rule']:7s} {rec['id']:18s} {rec['category']:11s} {rec['voice']:15s} {cut} {done} "
                      f"v2a {rec.get('voice_to_audio_ms')} ms{extra} {(rec.get('replies') or [''])[0][:50]!r}"
                      f"{' ERROR ' + rec['error'] if rec['error'] else ''}", highlight=False)

    data = asyncio.run(run(quick=quick, cfg=cfg, limit=limit, only=only, progress=show))
    if only is None:  # many replies in a row on an open speaker, one canceller (benchmarks/echo_soak.py)
        from benchmarks import echo_soak

        data["echo_soak"] = echo_soak.main(10 if quick else 50)
    duration = time.perf_counter() - t0
    machine["load_after"] = _load()
    stem = f"{machine['date']}-{machine['host']}-turns{'-quick' if quick else ''}"
    json_path = (Path(out) if out else RESULTS) / f"{stem}.json"
    report.write_json(json_path, {"schema": 1, "machine": machine, "duration_s": round(duration),
                                  "estimated_s": round(estimate_s(planned)), **data})
    png = json_path.with_suffix(".png")
    scoring.write_chart(png, data["summary"], f"Penny turn-taking — {data['clips']} clips x {len(RULES)} rules")
    print(scoring.markdown(data["summary"]))
    if "echo_soak" in data:
        print(echo_soak_line(data["echo_soak"]))
    console.print(f"took {duration / 60:.1f} min; wrote {json_path} and {png}")
    return json_path
