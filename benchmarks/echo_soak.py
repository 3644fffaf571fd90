"""Penny on an open speaker, many replies in a row (`penny bench --turns` runs it after the rules' table):
one session, one WebRTC AEC3 canceller for the whole run (as in `penny listen`), Penny's voice back at the
microphone through a simulated room as loud as the user. The user asks N requests one after another;
every fifth reply the user talks over Penny ("Stop." / "Wait, what time is it?").

Counted: replies cut while only Penny talked (false barge-ins), pauses it played on from (false pauses: a
stutter), wake words and transcripts from Penny's own voice (a turn no request started), and for the
talk-over trials the reaction time from the user's first sound to the speaker going quiet. The canceller
learns the room on the first reply; until it has (adapters/audio/echo.py: the echo down by 15 dB for 2 s),
the speaker path keeps its barge-in guard.
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import turn_corpus as corpus
from benchmarks import turn_scoring as scoring
from benchmarks.turn_mic import SR, Mic

log = logging.getLogger("benchmarks.echo_soak")
REQUESTS = ("Hey Penny, what time is it?", "Hey Penny, what's the date today?",
            "Hey Penny, what's on my calendar tomorrow?", "Hey Penny, what's the weather like today?",
            "Hey Penny, tell me about the moon.", "Hey Penny, set a timer for ten minutes.",
            "Hey Penny, what's on my calendar today?", "Hey Penny, what day is it tomorrow?",
            "Hey Penny, how long is left on my timer?", "Hey Penny, tell me about the history of Rome.")
TALK_OVER = ("Stop.", "Wait, what time is it?")
REPLY_TIMEOUT_S, TALK_AFTER_S, GAP_S = 25.0, 0.8, 0.6


async def run(n: int = 50, cfg=None, progress=None) -> dict:
    from benchmarks.accuracy_scoring import Bench
    from benchmarks.turn_taking import _penny_level
    from penny.config import PennyConfig
    from penny.testing_room import active_rms_db

    cfg = (cfg or PennyConfig()).model_copy(deep=True)
    voices = list(corpus.VOICES.values())
    with tempfile.TemporaryDirectory(prefix="penny-echo-") as tmp:
        bench = await Bench.start(cfg, Path(tmp))
        mic = None
        try:
            penny_db = await _penny_level(bench.engines)
            say = [corpus.piece_audio(voices[i % len(voices)], REQUESTS[i % len(REQUESTS)]) for i in range(n)]
            echo_db = float(np.median([active_rms_db(a) for a in say])) - penny_db  # as loud as the user
            mic = Mic(bench.engines, "echo-soak", realtime=True, seed=7, echo_gain_db=echo_db, aec=True)
            trials: list[dict] = []
            replies = 0
            for i, audio in enumerate(say):
                t0 = await mic.feed(np.concatenate([audio, np.zeros(SR // 5, np.float32)]))
                end = mic.wall_at(t0 + len(audio) / SR)
                talk_over = i % 5 == 4
                if talk_over:  # wait for the reply to sound, then talk over it
                    await mic.feed(seconds=REPLY_TIMEOUT_S, until=lambda e=end: mic.sink.playing)
                    await mic.feed(seconds=TALK_AFTER_S)
                    playing = mic.session.speaking  # the reply is under way (between two sentences, too)
                    words = TALK_OVER[(i // 5) % len(TALK_OVER)]
                    t1 = await mic.feed(corpus.piece_audio(voices[i % len(voices)], words))
                    onset = mic.wall_at(t1)
                    await mic.feed(seconds=1.0)
                    cuts = mic.sink.cuts + [w for w, ev in mic.events if type(ev).__name__ == "Interrupted"]
                    trials.append({"request": i, "words": words, "playing_at_onset": playing,
                                   "reaction_ms": scoring.reaction(sorted(cuts), onset) if playing else None,
                                   "echo_cancelled": mic.sink.echo_cancelled})
                await mic.feed(seconds=REPLY_TIMEOUT_S, until=lambda e=end: (a := mic.answer(e, e - 1)) is not None
                               and a.done and not mic.sink.playing)
                await mic.feed(seconds=GAP_S)
                replies += 1
                if progress:
                    progress(i + 1, n, trials[-1] if talk_over else None)
            return _score(mic, say, trials, replies)
        finally:
            if mic is not None:
                await mic.close()
            await bench.close()


def _score(mic: Mic, say: list[np.ndarray], trials: list[dict], replies: int) -> dict:
    """Anything Penny did that no user speech started: a cut of its own reply, a wake word or a transcript
    beyond one per request (and one per talk-over)."""
    names = [type(ev).__name__ for _, ev in mic.events]
    talk_cuts = {t["request"] for t in trials}
    cut_turns = sum(n == "Interrupted" for n in names)
    transcripts = sum(n == "Transcript" and bool(ev.text) for n, (_, ev) in zip(names, mic.events))
    wakes = sum(n == "WakeDetected" for n in names)
    reacts = [t["reaction_ms"] for t in trials if t["reaction_ms"] is not None]
    return {
        "replies": replies,
        "requests": len(say),
        "false_barge_ins": max(0, cut_turns - len(talk_cuts)),
        # Penny's speaker went quiet at a voiced frame and played on (vad.barge_in_pause): a stutter, not a cut
        "false_pauses": len(mic.sink.resumes),
        "false_pause_ms": [round((b - a) * 1000) for a, b in mic.sink.resumes],
        "extra_transcripts": max(0, transcripts - len(say) - len(trials)),
        "extra_wakes": max(0, wakes - len(say)),
        "talk_over": trials,
        "reaction_ms": scoring._stats(reacts),
        "stopped": f"{len(reacts)}/{sum(bool(t['playing_at_onset']) for t in trials)}",
        "converged": bool(mic.aec is not None and mic.aec.converged),
    }


def main(n: int = 50) -> dict:
    t0 = time.perf_counter()

    def show(i: int, total: int, trial: dict | None) -> None:
        extra = f" talk-over {trial['words']!r}: {trial['reaction_ms']} ms, AEC trusted: {trial['echo_cancelled']}" if trial else ""
        print(f"echo {i:3d}/{total}{extra}", flush=True)

    data = asyncio.run(run(n, progress=show))
    data["duration_s"] = round(time.perf_counter() - t0)
    return data
