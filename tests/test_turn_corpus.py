"""The turn-taking benchmark: its corpus says where the speech truly is, and its judge reads cut-offs,
latency and barge-in from hand-made event sequences. Fast: no engines, no real-time runs."""
from __future__ import annotations

import itertools
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import accuracy_corpus as acc
from benchmarks import turn_corpus as tc
from benchmarks import turn_scoring as ts
from benchmarks.turn_mic import ECHO_DELAY_MS, ECHO_RT60_S, FRAME, SR
from penny.testing_room import Room
from penny.core.events import (
    AudioChunk,
    Interrupted,
    ReplyAudio,
    ReplyDelta,
    ReplyDone,
    ReplyStarted,
    StageEvent,
    TurnTrace,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def test_the_corpus_covers_every_category_in_quick_and_full():
    assert {a.category for a in tc.ASKS} == set(tc.CATEGORIES)
    assert {a.category for a in tc.ASKS if a.quick} == set(tc.CATEGORIES)
    assert len({a.id for a in tc.ASKS}) == len(tc.ASKS)
    kinds = {v.kind for v in tc.VOICES.values()}
    assert {"piper", "espeak"} <= kinds
    for a in tc.ASKS:
        assert a.pieces[0].startswith("Hey Penny, "), a.id  # wake-word mode: every request is addressed
        assert (a.category in ("follow_up", "stop", "barge_in")) == bool(a.then), a.id
        pauses = [p for p in a.pieces + a.then if isinstance(p, int)]
        assert all(300 <= p <= 1200 for p in pauses), a.id
        if a.category in ("hesitation", "list", "slow_number"):
            assert pauses, a.id
    assert {a.kind for a in tc.ASKS} == {"skill", "llm"}


def _tone(ms: int) -> np.ndarray:
    t = np.arange(int(ms * SR / 1000)) / SR
    return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_assemble_places_every_piece_and_pause_exactly():
    said = []

    def say(text):
        said.append(text)
        return _tone(400 if text.startswith("Hey") else 250)

    audio, segs = tc.assemble(("Hey Penny, set a timer for", 700, "um", 450, "twelve minutes."), say, 0.5)
    assert said == ["Hey Penny, set a timer for,", "um,", "twelve minutes."]  # a piece that goes on keeps going
    assert segs == [(0.5, 0.9), (1.6, 1.85), (2.3, 2.55)]
    assert len(audio) == int(2.55 * SR)
    for (a, b), (c, _) in itertools.pairwise(segs):  # the pauses are digital silence of the asked length
        assert not audio[int(b * SR):int(c * SR)].any()
    assert acc.voiced_bounds(audio)[1] / SR == pytest.approx(segs[-1][1], abs=0.002)


@needs_espeak
def test_a_real_clip_ends_where_its_energy_ends_and_pauses_are_as_asked(tmp_path):
    ask = next(a for a in tc.ASKS if a.id == "hes-timer-um")
    voice = tc.VOICES["espeak-us"]
    audio, segs = tc.assemble(ask.pieces, lambda t: tc.piece_audio(voice, t, tmp_path), tc.LEAD_S)
    start, end = acc.voiced_bounds(audio)
    # each piece has 5 ms fades (accuracy_corpus.prepare_speech): its energy starts and ends within 10 ms
    assert start / SR == pytest.approx(tc.LEAD_S, abs=0.01)
    assert end / SR == pytest.approx(segs[-1][1], abs=0.01)  # the true end is where the energy ends
    gaps = [round((c - b) * 1000) for (_, b), (c, _) in itertools.pairwise(segs)]
    assert gaps == [p for p in ask.pieces if isinstance(p, int)]
    for (_, b), (c, _) in itertools.pairwise(segs):
        assert np.max(np.abs(audio[int(b * SR) + 1:int(c * SR) - 1])) < 1e-4
    again, _ = tc.assemble(ask.pieces, lambda t: tc.piece_audio(voice, t, tmp_path), tc.LEAD_S)  # cached
    assert np.array_equal(audio, again)
    assert len(list(tmp_path.glob("*.wav"))) == 3


# ---------------------------------------------------------------- judging from events

TRUE_END = 100.0
_AUDIO = AudioChunk(np.zeros(160, np.float32), SR)


def _answer(tid: str, commit: float, audio: float, text: str = "Okay.", filler_at: float | None = None):
    evs = [(commit, StageEvent(tid, "turn", "start", commit)), (commit, ReplyStarted(tid, "x"))]
    if filler_at is not None:
        evs.append((filler_at, ReplyAudio(tid, _AUDIO)))
    return evs + [(audio - 0.01, ReplyDelta(tid, text)), (audio, ReplyAudio(tid, _AUDIO)),
                  (audio + 0.5, ReplyDone(tid, text))]


def test_a_reply_committed_before_the_true_end_is_a_cut_off():
    events = _answer("a", TRUE_END - 0.6, TRUE_END - 0.2, "Did you say: set a timer for?") + \
        _answer("b", TRUE_END + 0.45, TRUE_END + 0.6)
    got = ts.judge_request(ts.turns_of(events), TRUE_END)
    assert got["cut_off"] and got["cut_turns"] == 1 and got["answered"]
    assert got["voice_to_audio_ms"] is None  # a cut-off request has no "finished" latency
    assert got["end_of_turn_ms"] == pytest.approx(450, abs=1)
    assert got["replies"] == ["Did you say: set a timer for?", "Okay."]


def test_a_reply_still_going_counts_with_its_words_so_far_only_when_asked():
    """An echo clip stops listening while a long story still plays: it is judged on what was said."""
    events = [(TRUE_END + 0.3, ReplyStarted("s", "x")), (TRUE_END + 0.4, ReplyDelta("s", "The lighthouse ")),
              (TRUE_END + 0.5, ReplyDelta("s", "keeper was"))]
    views = ts.turns_of(events)
    assert ts.replies(views) == [] and ts.replies(views, partial=True) == ["The lighthouse keeper was"]
    done = ts.turns_of(events + [(TRUE_END + 9, ReplyDone("s", "The lighthouse keeper was old."))])
    assert ts.replies(done, partial=True) == ["The lighthouse keeper was old."]


def test_a_finished_request_gives_latency_from_the_true_end_and_a_filler_is_not_the_answer():
    events = _answer("b", TRUE_END + 0.3, TRUE_END + 1.2, filler_at=TRUE_END + 0.9)
    got = ts.judge_request(ts.turns_of(events), TRUE_END)
    assert not got["cut_off"] and got["answered"]
    assert got["voice_to_audio_ms"] == pytest.approx(1200, abs=1)
    assert got["turns"][0]["first_sound_ms"] == pytest.approx(900, abs=1)


def test_a_silent_early_end_is_counted_apart_from_a_cut_off():
    # "Hey Penny," then a pause: a turn is committed, the gate hears only the wake phrase, nothing is said
    early = [(TRUE_END - 2.0, StageEvent("w", "stt", "start", TRUE_END - 2.3)),
             (TRUE_END - 2.0, StageEvent("w", "turn", "start", TRUE_END - 2.0))]
    got = ts.judge_request(ts.turns_of(early + _answer("b", TRUE_END + 0.4, TRUE_END + 0.5)), TRUE_END)
    assert not got["cut_off"] and got["silent_early_ends"] == 1
    assert got["voice_to_audio_ms"] == pytest.approx(500, abs=1)


def test_a_held_turn_is_committed_when_released_not_when_it_began_hearing():
    # a speculative turn's stt events carry the speculation's time but arrive at the commit
    events = [(TRUE_END + 0.3, StageEvent("s", "stt", "start", TRUE_END + 0.01)),
              (TRUE_END + 0.3, ReplyStarted("s", "x"))]
    (view,) = ts.turns_of(events)
    assert view.committed == TRUE_END + 0.3 and not view.early(TRUE_END)


def test_a_turn_built_from_half_the_sentence_is_a_cut_off_even_when_decided_late():
    trace = TurnTrace("p", marks={"speech_end": TRUE_END - 0.8, "end_of_turn": TRUE_END + 0.1,
                                  "first_audio": TRUE_END + 0.3}, end_rule="max_pause")
    events = _answer("p", TRUE_END + 0.1, TRUE_END + 0.3) + [(TRUE_END + 1.0, trace)]
    (view,) = ts.turns_of(events)
    assert view.done and view.end_rule == "max_pause" and view.early(TRUE_END)
    assert ts.judge_request([view], TRUE_END)["cut_off"]
    ok = TurnTrace("q", marks={"speech_end": TRUE_END - ts.CUT_TOLERANCE_S / 2, "end_of_turn": TRUE_END + 0.5})
    assert not ts.turns_of([(TRUE_END + 1, ok)])[0].early(TRUE_END)


def _traced(tid: str, speech_start: float, speech_end: float, commit: float, merged_from: str | None = None):
    return (commit + 1.0, TurnTrace(tid, marks={"speech_start": speech_start, "speech_end": speech_end,
                                                "end_of_turn": commit}, merged_from=merged_from))


def test_a_cut_off_answered_whole_after_all_is_recovered_and_still_a_cut_off():
    # "what's on my calendar" answered early; the user goes on ("tomorrow"); the next turn heard both pieces
    events = _answer("a", TRUE_END - 0.9, TRUE_END - 0.8, "You have one thing today.") + \
        [_traced("a", TRUE_END - 2.5, TRUE_END - 1.2, TRUE_END - 0.9)] + \
        _answer("b", TRUE_END + 0.4, TRUE_END + 0.6, "Tomorrow you have a piano lesson.") + \
        [_traced("b", TRUE_END - 2.5, TRUE_END, TRUE_END + 0.4, merged_from="a")]
    got = ts.judge_request(ts.turns_of(events), TRUE_END)
    assert got["cut_off"] and got["recovered"] and got["merged_turns"] == 1
    assert got["turns"][1]["merged_from"] == "a" and got["turns"][1]["speech_start_ms"] == -2500


def test_a_cut_off_whose_rest_became_its_own_turn_is_not_recovered():
    # the same cut, but "tomorrow" was heard alone: "Did you say: tomorrow?"
    events = _answer("a", TRUE_END - 0.9, TRUE_END - 0.8) + [_traced("a", TRUE_END - 2.5, TRUE_END - 1.2,
                                                                     TRUE_END - 0.9)] + \
        _answer("b", TRUE_END + 0.4, TRUE_END + 0.6, "Did you say: tomorrow?") + \
        [_traced("b", TRUE_END - 0.5, TRUE_END, TRUE_END + 0.4)]
    got = ts.judge_request(ts.turns_of(events), TRUE_END)
    assert got["cut_off"] and not got["recovered"] and got["merged_turns"] == 0
    fine = ts.judge_request(ts.turns_of(_answer("c", TRUE_END + 0.3, TRUE_END + 0.5)), TRUE_END)
    assert not fine["cut_off"] and not fine["recovered"]  # nothing to recover


def test_recovered_is_a_share_of_the_cut_offs_in_the_summary_and_the_table():
    base = {"category": "hesitation", "kind": "skill", "fulfilled": True, "silent_early_ends": 0}
    recs = [{**base, "rule": "model", "cut_off": True, "recovered": True, "merged_turns": 1},
            {**base, "rule": "model", "cut_off": True, "recovered": False, "merged_turns": 0},
            {**base, "rule": "model", "cut_off": False, "recovered": False, "merged_turns": 0},
            {**base, "rule": "silence", "cut_off": False, "recovered": False}]
    s = ts.summarize(recs, ("silence", "model"))
    assert s["model"]["cut_off"] == pytest.approx(0.667, abs=0.001) and s["model"]["recovered"] == 0.5
    assert s["model"]["merged_turns"] == 1 and s["silence"]["recovered"] is None  # no cut-off to recover
    assert s["model"]["by_category"]["hesitation"]["recovered"] == 0.5
    assert "| … of those, answered whole after all (recovered) | – | 50 % |" in ts.markdown(s)


def test_barge_in_reaction_and_false_barge_ins():
    onset = 50.0
    assert ts.reaction([onset - 1.0, onset + 0.25, onset + 0.4], onset) == pytest.approx(250)
    assert ts.reaction([onset + 4.0], onset) is None  # kept talking
    assert ts.false_barge_ins([], [], 0, 10) == 0
    assert ts.false_barge_ins([3.01], [3.0], 0, 10) == 1  # the speaker's stop and its Interrupted are one cut
    assert ts.false_barge_ins([3.0, 7.0], [], 0, 10) == 2
    assert ts.false_barge_ins([12.0], [], 0, 10) == 0


def test_summary_and_markdown_read_per_rule_and_category():
    recs = []
    for rule, cut in (("silence", True), ("text", True), ("model", False)):
        recs += [{"rule": rule, "category": "hesitation", "kind": "skill", "cut_off": cut, "fulfilled": not cut,
                  "voice_to_audio_ms": None if cut else 700.0, "end_of_turn_ms": 600.0, "silent_early_ends": 0},
                 {"rule": rule, "category": "fluent", "kind": "llm", "cut_off": False, "fulfilled": True,
                  "voice_to_audio_ms": 900.0, "end_of_turn_ms": 400.0, "silent_early_ends": 1},
                 {"rule": rule, "category": "stop", "kind": "llm", "cut_off": False, "fulfilled": True,
                  "reaction_ms": 250.0, "stopped": True, "voice_to_audio_ms": 800.0, "silent_early_ends": 0},
                 {"rule": rule, "category": "echo", "kind": "llm", "cut_off": False, "fulfilled": False,
                  "false_barge_ins": 1, "silent_early_ends": 0}]
    s = ts.summarize(recs, ("silence", "text", "model"))
    assert s["silence"]["cut_off"] == 0.25 and s["model"]["cut_off"] == 0.0
    assert s["model"]["voice_to_audio_skills_ms"]["median"] == 700.0
    assert s["text"]["by_category"]["hesitation"] == {"clips": 1, "cut_off": 1.0, "fulfilled": 0.0, "recovered": None}
    assert s["text"]["recovered"] is None  # no record says
    assert s["text"]["false_barge_ins"] == 1 and s["text"]["barge_in_reaction_ms"]["median"] == 250.0
    table = ts.markdown(s)
    assert "| cut-off rate (user not finished) | 25 % | 25 % | 0 % |" in table
    assert "| hesitation | 100 % · 0 % | 100 % · 0 % | 0 % · 100 % |" in table


def test_the_room_echoes_what_was_played_after_its_delay():
    room = Room(delay_ms=ECHO_DELAY_MS, rt60_s=ECHO_RT60_S, gain_db=0.0, seed=1)  # the benchmark's room
    played = np.zeros(FRAME * 4, np.float32)
    played[0] = 1.0

    def frame(block):
        room.play(block)
        return room.hear(len(block))
    out = np.concatenate([frame(played[i:i + FRAME]) for i in range(0, len(played), FRAME)])
    first = int(np.flatnonzero(np.abs(out) > 1e-3)[0])
    assert first == pytest.approx(int(0.020 * SR) + int(0.0015 * SR), abs=2)  # ECHO_DELAY_MS + the direct path
    assert np.sum(out.astype(np.float64) ** 2) == pytest.approx(1.0, rel=0.05)  # unit energy: gain 0 dB


def test_interrupted_events_have_a_turn_id_for_the_judge():
    assert ts.turns_of([(1.0, Interrupted("z"))])[0].turn_id == "z"


def test_echo_soak_counts_only_what_no_user_speech_started():
    """Two requests, one talk-over: one Interrupted is the talk-over's; a second one is Penny cutting itself."""
    from types import SimpleNamespace

    from benchmarks import echo_soak
    from penny.core.events import Transcript, WakeDetected

    def transcript(text):
        return Transcript(text=text, language="en", processing_s=0.1)

    events = [WakeDetected("hey_penny", 0.9, 1.0), transcript("what time is it"), WakeDetected("hey_penny", 0.9, 5.0),
              transcript("tell me about the moon"), Interrupted("t2"), transcript("stop"), Interrupted("t3"),
              WakeDetected("hey_penny", 0.9, 9.0)]
    # and one pause the reply played on from (vad.barge_in_pause): a stutter, counted apart from the cuts
    mic = SimpleNamespace(events=[(float(i), e) for i, e in enumerate(events)], aec=None,
                          sink=SimpleNamespace(resumes=[(3.0, 3.125)]))
    trials = [{"request": 1, "reaction_ms": 300.0, "playing_at_onset": True}]
    got = echo_soak._score(mic, [np.zeros(1)] * 2, trials, replies=2)
    assert (got["false_barge_ins"], got["extra_wakes"], got["extra_transcripts"]) == (1, 1, 0)
    assert (got["false_pauses"], got["false_pause_ms"]) == (1, [125])
    assert got["stopped"] == "1/1" and got["reaction_ms"]["median"] == 300.0


def test_the_mic_finds_a_stream_time_by_sample_after_many_short_feeds():
    """Every feed ends on a short frame; counting frames would put a late time a frame early per feed (the
    echo soak's barge-in times grew by ~30 ms per request that way)."""
    from types import SimpleNamespace

    from benchmarks.turn_mic import Mic

    class Session:
        async def feed(self, chunk):
            pass

        async def events(self):
            return
            yield

        async def close(self):
            pass

    async def run():
        engines = SimpleNamespace(new_session=lambda *a, **k: Session())
        mic = Mic(engines, "t", realtime=False, seed=0)
        for _ in range(20):
            await mic.feed(np.zeros(FRAME + 100, np.float32))  # two frames each, the second short
        t = await mic.feed(np.zeros(FRAME, np.float32))
        await mic.close()
        return mic, t

    import asyncio

    mic, t = asyncio.run(run())
    assert t == 20 * (FRAME + 100) / SR
    # this feed's frame was spoken 32 ms before it arrived; 50 of the short frame's 100 samples, 50 before
    assert mic.wall_at(t) == pytest.approx(mic.wall[-1] - FRAME / SR)
    assert mic.wall_at((FRAME + 50) / SR) == pytest.approx(mic.wall[1] - 50 / SR)
    assert mic.wall_at(0.0) == pytest.approx(mic.wall[0] - FRAME / SR)
