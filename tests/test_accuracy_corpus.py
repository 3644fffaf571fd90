"""The accuracy benchmark's spoken corpus: coverage of the full list, and the --quick clips' shape and determinism."""
from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import accuracy_corpus as ac  # noqa: E402

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed (make setup-dev installs it)")


def test_the_full_list_covers_every_task_and_enough_voices():
    tasks = Counter(a.task for a in ac.ASKS)
    assert set(tasks) == set(ac.TASKS)
    assert sum(n for t, n in tasks.items() if t != "ignore") >= 120
    assert tasks["ignore"] >= 30
    assert len({ac.voice_of(a) for a in ac.ASKS}) >= 6
    assert {v.kind for v in ac.VOICES} >= {"piper", "piper-pitched", "espeak", "real"}
    assert len({a.id for a in ac.ASKS}) == len(ac.ASKS)
    assert {a.task for a in ac.ASKS if a.quick} == set(ac.TASKS)
    for a in ac.ASKS:
        assert a.text and ac.reference_text(a)
        assert (a.followup is not None) == (a.task == "calendar_add"), a.id
    recalls = [w for a in ac.ASKS if a.task == "note_recall" for w in a.expect["answer_words"]]
    notes = " ".join(ac.SEED_NOTES).lower()
    assert all(w in notes for w in recalls)


def test_every_synthetic_voice_speaks_several_tasks():
    for v in ac.VOICES:
        if v.kind != "real":
            assert len({a.task for a in ac.ASKS if ac.voice_of(a) == v.name}) >= 5, v.name


def test_reference_text_is_normalised_like_a_transcript():
    assert ac.normalise("Set a timer for 10 minutes.") == ac.normalise("Set a timer for ten minutes")
    assert ac.normalise("At 5 p.m., call Mom") == "at five pm call mom"
    assert ac.normalise("Lunch at 12:30") == "lunch at twelve thirty"
    assert ac.normalise("What's the Wi-Fi password?") == "whats the wifi password"


@pytest.mark.slow
@needs_sox
def test_quick_clean_clips_are_well_formed_and_deterministic(tmp_path):
    first = ac.build_clips(quick=True, conditions=("clean",), cache_dir=tmp_path / "a")
    assert {c.ask.task for c in first} >= set(ac.TASKS) - {"ignore"}
    for c in first:
        assert c.condition == "clean" and c.ask.quick
        assert c.audio.dtype == np.float32 and c.audio.ndim == 1
        assert np.max(np.abs(c.audio)) <= 1.0
        n = len(c.audio) / ac.SR
        assert 0 < c.speech_start_s < c.speech_end_s <= n - ac.TRAIL_S + 1e-6
        assert not np.any(c.audio[int(c.speech_end_s * ac.SR) + 1:])  # clean: nothing after the true end
        if c.ask.followup:
            assert c.followup_audio is not None and 0 < c.followup_speech_end_s < len(c.followup_audio) / ac.SR
    cached = ac.build_clips(quick=True, conditions=("clean",), cache_dir=tmp_path / "a")
    fresh = ac.build_clips(quick=True, conditions=("clean",), cache_dir=tmp_path / "b")
    for again in (cached, fresh):
        assert [(c.ask.id, c.voice) for c in again] == [(c.ask.id, c.voice) for c in first]
        for x, y in zip(first, again):
            assert np.array_equal(x.audio, y.audio) and x.speech_end_s == y.speech_end_s, x.ask.id
