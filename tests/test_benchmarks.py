"""The benchmark's pure parts: statistics, the corpus definition, and report writing from made-up numbers.

No engines are loaded and nothing is timed here: the benchmark is where times live.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import corpus, report  # noqa: E402
from benchmarks.e2e import TurnRecord, _classify, schedule  # noqa: E402


# ---------------------------------------------------------------- statistics

def test_percentile_interpolates_like_numpy():
    xs = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 10, 50, 90, 100):
        assert report.percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))


def test_stats_counts_missing_and_never_treats_it_as_zero():
    st = report.stats([100.0, None, 300.0, 200.0])
    assert st == {"n": 3, "missing": 1, "median": 200.0, "p90": 280.0, "max": 300.0}
    empty = report.stats([None, None])
    assert empty["n"] == 0 and empty["missing"] == 2 and empty["median"] is None


def _rec(rid, kind, mode, path, first_audio, **ms):
    marks = {"speech_end": 0.0, "end_of_turn": 510.0, "transcript": 600.0, **ms}
    if first_audio is not None:
        marks["first_audio"] = first_audio
    r = TurnRecord(rid, kind, mode, "piper", None, 1.5, path=path, ms=marks, vad_end_offset_ms=40.0,
                   played_end_ms=(first_audio or 0) + 2000.0)
    return r.to_dict()


def fake_records() -> list[dict]:
    recs = []
    for i, (s, q) in enumerate([(700, 1000), (800, 1600), (900, 900)]):
        recs.append(_rec(f"t{i}", "local", "streaming", "local", s))
        recs.append(_rec(f"t{i}", "local", "sequential", "local", q))
    recs.append(_rec("l0", "llm", "streaming", "llm", 1500, first_token=1000.0))
    recs.append(_rec("l0", "llm", "sequential", "llm", 6000, first_token=1100.0))
    recs.append(_rec("l1", "llm", "streaming", "llm", None))  # the answer never got voiced
    recs.append(_rec("l1", "llm", "sequential", "failed", None))
    recs.append(_rec("l2", "local", "streaming", "llm", 2000))  # a skill request the LLM answered
    warm = _rec("t0", "local", "streaming", "local", 99999)
    warm["warmup"] = True
    recs.append(warm)
    return recs


def test_summary_groups_by_answer_path_and_pairs_ratios():
    s = report.summarize(fake_records())
    local = s["groups"]["local"]
    assert local["streaming"]["turns"] == 3  # the warm-up turn is not counted
    assert local["streaming"]["first_audio"]["median"] == 800.0
    assert local["sequential"]["first_audio"]["max"] == 1600.0
    llm = s["groups"]["llm"]["streaming"]
    assert llm["first_audio"]["n"] == 2 and llm["first_audio"]["missing"] == 1
    assert llm["first_token"]["missing"] == 2  # not in the marks: missing, not 0
    assert llm["first_audio_true_end"]["median"] == pytest.approx(1790.0)  # (1500+40, 2000+40)
    r = s["ratios"]["local"]["first_audio"]
    assert r["n"] == 3 and r["median"] == pytest.approx(0.7)
    assert s["ratios"]["llm"]["first_audio"]["n"] == 1  # l1 has no pair, l2 was not an LLM pair
    assert s["ratios"]["llm"]["first_audio"]["median"] == pytest.approx(0.25)
    assert s["ratios"]["all"]["first_audio"]["n"] == 4
    assert s["failed"]["sequential"] == ["l1"]
    assert [m["request_id"] for m in s["misrouted"]] == ["l2"]


def test_classify_turns():
    ok = TurnRecord("x", "llm", "streaming", "piper", None, 1.0, ms={"speech_end": 0.0})
    assert _classify(ok) == "llm"
    ok.intent = "clock"
    assert _classify(ok) == "local"
    ok.backends = {"llm": "unavailable"}
    assert _classify(ok) == "failed"
    assert _classify(TurnRecord("y", "llm", "streaming", "piper", None, 1.0)) == "failed"


def test_schedule_runs_each_request_once_per_mode_a_pass_apart():
    order = schedule(5)
    assert sorted(order) == sorted((i, m) for i in range(5) for m in ("streaming", "sequential"))
    assert all(order.index((i, "streaming")) - order.index((i, "sequential")) in (5, -5) for i in range(5))
    firsts = [m for _, m in order[:5]]
    assert firsts.count("streaming") == 3 and firsts.count("sequential") == 2


# ---------------------------------------------------------------- corpus


def test_corpus_definition():
    reqs = corpus.CORPUS
    assert len(reqs) >= 20
    assert len({r.id for r in reqs}) == len(reqs)
    assert {r.kind for r in reqs} == {"local", "llm"}
    assert {r.expect for r in reqs if r.kind == "local"} >= {"clock", "timers", "calendar"}
    assert any(r.voice == "piper" for r in reqs) and any(r.voice.startswith("espeak:") for r in reqs)
    assert any(r.snr_db is not None for r in reqs)
    quick = corpus.select(quick=True)
    assert 2 <= len(quick) <= 8 and {r.kind for r in quick} == {"local", "llm"}
    assert corpus.select() == list(reqs)


def test_noise_is_at_the_stated_snr_and_repeatable():
    t = np.arange(16000) / 16000.0
    speech = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    clip = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(8000, np.float32)])
    noisy = corpus.add_noise(clip, slice(8000, 24000), 10.0, seed=1)
    noise = noisy - clip
    snr = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.3)
    assert np.array_equal(noisy, corpus.add_noise(clip, slice(8000, 24000), 10.0, seed=1))


def test_trim_cuts_synthesizer_padding():
    a = np.concatenate([np.zeros(100), np.full(50, 0.3), np.zeros(70)]).astype(np.float32)
    assert len(corpus.trim(a)) == 50


# ---------------------------------------------------------------- report files


def test_report_files_from_fake_numbers(tmp_path):
    records = fake_records()
    summary = report.summarize(records)
    machine = {"host": "test box", "date": "2026-01-02", "cpu": "Fake CPU", "cores_logical": 2, "ram_gb": 4.0}
    stem = report.result_stem(machine, quick=True)
    assert stem == "2026-01-02-test-box-quick"
    j = report.write_json(tmp_path / "results" / f"{stem}.json", {"summary": summary, "turns": records})
    assert json.loads(j.read_text())["turns"][0]["request_id"] == "t0"
    png = report.write_chart(tmp_path / "results" / f"{stem}.png", summary)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = report.markdown_table(summary)
    assert "**800 (880)**" in md  # local streaming voice→first audio: median (p90)
    assert md.count("\n|") >= len(report.STAGES) + 2

    readme = tmp_path / "README.md"
    readme.write_text("# Penny\n\nIntro.\n\n## Latency\n\nold table\n\n## License\n\nMIT\n")
    section = report.readme_section(summary, machine, "benchmarks/results/x.png", "benchmarks/results/x.json", True)
    report.update_readme(readme, section)
    text = readme.read_text()
    assert "old table" not in text and text.count("## Latency") == 1
    assert text.index("## Latency") < text.index("## License") and "Fake CPU" in text
    report.update_readme(readme, section)  # idempotent
    assert readme.read_text() == text


def test_headline_rows_dig_into_component_results():
    rows = dict(report.headline_rows({"llm": {"status": "ok", "result": {"ttft_s_median": 0.12}},
                                      "speaking": {"status": "failed", "error": "boom"},
                                      "hearing": {"status": "ok", "result": {"stt": {"utterances": [
                                          {"latency_ms": 50.0}, {"latency_ms": 60.0, "rtf": 0.03}]}}}}))
    assert rows["LLM time to first token, s (median)"] == "0.12"
    assert rows["STT (faster-whisper) latency for a 2 s utterance, ms"] == "60"
    assert rows["Piper TTS time to first chunk, ms (median)"] == "missing (failed)"
    assert rows["VAD (Silero) cost per 32 ms frame, µs"] == "missing"


def test_rich_tables_render(tmp_path):
    from rich.console import Console

    summary = report.summarize(fake_records())
    console = Console(record=True, width=120)
    for t in report.rich_tables(summary):
        console.print(t)
    console.print(report.components_table({
        "startup_s": 3.2,
        "resident_memory_after_startup": {"self_mb": 400.0, "children": [{"name": "llama.cpp server", "rss_mb": 200.0}],
                                          "total_mb": 600.0},
        "pipeline": {"stt_rtf": report.stats([0.1, 0.2], digits=3)},
        "llm": {"status": "ok", "result": {"ttft_ms": 120.0, "tokens_per_s": 40.0}},
        "hearing": {"status": "missing", "error": "not there"},
    }))
    out = console.export_text()
    assert "Local intents" in out and "LLM answers" in out and "missing" in out
    assert "llm: tokens_per_s" in out and "600 MB" in out
