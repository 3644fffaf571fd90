"""The task-success benchmark: its judge on made-up records, and a real run on a few clips (real Whisper,
Piper, SmolLM2 and skills), so `penny bench --accuracy` is known to work from a clean checkout."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import accuracy, accuracy_report  # noqa: E402
from benchmarks import accuracy_corpus as corpus  # noqa: E402


def _rec(i: int, task: str, outcome: str, correct: bool, confidence: float = 0.8, right: bool = True, **kw) -> dict:
    rec = accuracy.AskRecord(f"{task}-{i:02d}", task, "piper-joe", kw.pop("condition", "clean"), "set a timer",
                             outcome=outcome, correct=correct, transcript=kw.pop("transcript", "Set a timer."),
                             heard={"action": "act", "confidence": confidence}, heard_right=right, **kw)
    return rec.__dict__


def test_summary_counts_skills_and_the_wake_gate_and_keeps_open_questions_apart():
    recs = [_rec(1, "timer_set", "fulfilled", True, voice_to_audio_ms=400.0),
            _rec(2, "timer_set", "confirmed", True, confidence=0.5),
            _rec(3, "timer_set", "wrong", False, right=False),
            _rec(4, "ignore", "ignored", True), _rec(5, "ignore", "false_accept", False),
            _rec(6, "open", "fulfilled", False, transcript="What is the capital of France?")]
    s = accuracy_report.summarize(recs)
    assert s["task_success"] == {"n": 5, "ok": 3, "rate": 0.6}  # the open question is not in the headline
    assert s["skills"]["ok"] == 2 and s["wake_gate"]["ok"] == 1 and s["false_accepts"] == 1
    assert s["open_correct"]["ok"] == 0 and s["open_heard"]["ok"] == 1
    assert s["task_success_by_split"]["dev"]["n"] == 3  # odd ask numbers
    assert s["voice_to_audio_ms"]["skills"]["median"] == 400.0
    curve = {row["sure"]: row for row in s["tradeoff"]}
    assert curve[0.0]["asked"] == 0 and curve[0.6]["asked"] == 1 and curve[0.9]["asked"] == 4
    assert curve[0.0]["acted_wrong"] == 1


def test_wer_ignores_the_wake_phrase_and_number_spelling():
    assert accuracy.corpus_wer("set a timer for ten minutes", "Hey Penny. Set a timer for 10 minutes.") == 0.0
    assert accuracy.corpus_wer("set a timer for ten minutes", "Set a time for 10 minutes.") > 0


def test_report_files(tmp_path):
    recs = [_rec(1, "time", "fulfilled", True), _rec(2, "ignore", "ignored", True, condition="snr5")]
    s = accuracy_report.summarize(recs)
    accuracy_report.write_chart(tmp_path / "a.png", s, "test")
    assert (tmp_path / "a.png").stat().st_size > 1000
    section = accuracy_report.readme_section(s, {"date": "2026-11-29", "cpu": "cpu", "cores_logical": 2},
                                             "a.png", "a.json", 2, 60.0)
    assert section.startswith("## Understanding") and "100.0% (2/2)" in section


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("sox") is None, reason="sox renders the corpus")
async def test_a_real_run_does_what_was_asked_and_scores_it(tmp_path, monkeypatch):
    """Two clean clips through the real default pipeline: the time is told, the timer really exists."""
    monkeypatch.setattr(corpus, "CACHE_DIR", tmp_path / "cache")
    keep = {"time-01", "timer_set-01"}
    build = corpus.build_clips
    monkeypatch.setattr(corpus, "build_clips", lambda **kw: [c for c in build(**{**kw, "cache_dir": tmp_path / "c"})
                                                             if c.ask.id in keep])
    result = await accuracy.run(quick=True, conditions=("clean",))
    by_id = {r["id"]: r for r in result["records"]}
    assert set(by_id) == keep
    for rec in by_id.values():
        assert rec["error"] is None, rec
        assert rec["outcome"] in ("fulfilled", "confirmed", "asked_repeat", "wrong", "no_reply"), rec
        assert rec["voice_to_audio_ms"] is None or rec["voice_to_audio_ms"] > 0
    timer = by_id["timer_set-01"]
    if timer["correct"]:  # the judge read the plugin's state, not the reply's words
        assert "timer exists" in timer["why"]
    assert result["summary"]["task_success"]["n"] == 2
