"""The CLI as a user runs it: a real subprocess of `penny`."""
import json
import subprocess
import sys

import pytest


def penny(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "penny", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PENNY_")}
    env["PENNY_HOME"] = str(tmp_path / "home")
    return env


def test_help_lists_commands(clean_env):
    out = penny("--help", env=clean_env)
    assert out.returncode == 0
    for command in ("config", "doctor"):
        assert command in out.stdout


def test_config_show_masks_and_check(tmp_path, clean_env):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"llm": {"provider": "openai", "api_key": "sk-abcdefgh"}}))
    out = penny("--config", str(cfg), "config", "show", env=clean_env)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["llm"]["provider"] == "openai" and "abcdef" not in out.stdout
    assert penny("--config", str(cfg), "config", "check", env=clean_env).returncode == 0


def test_bad_config_is_one_clear_line(tmp_path, clean_env):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"server": {"port": "eighty"}}))
    out = penny("--config", str(cfg), "config", "check", env=clean_env)
    assert out.returncode == 2
    assert "server.port" in out.stderr and "eighty" in out.stderr
    assert "Traceback" not in out.stderr


def test_platform_check_names_the_fix():
    from penny.platform_check import platform_problems

    assert any("Python 3.11" in p for p in platform_problems((3, 13), "linux"))
    assert any("too old" in p for p in platform_problems((3, 8), "linux"))


def _doctor(tmp_path, clean_env, llm: dict):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"llm": llm, "tts": {"cache": {"dir": str(tmp_path / "tts")}}}))
    out = penny("--config", str(cfg), "doctor", "--json", env=clean_env)
    return out.returncode, {row["component"]: row for row in json.loads(out.stdout)}, out


@pytest.mark.slow
def test_doctor_healthy_llm_endpoint(tmp_path, clean_env, fake_llm_server):
    server = fake_llm_server("ok", models=("fake-model",))
    code, rows, out = _doctor(tmp_path, clean_env, {"provider": "llamacpp", "base_url": server.base_url,
                                                     "model": "fake-model"})
    llm_rows = [r for name, r in rows.items() if name.startswith("llm")]
    assert llm_rows and all(r["status"] in ("ok", "warn") for r in llm_rows), llm_rows
    assert rows["stt"]["status"] == "ok" and code == 0, out.stdout


@pytest.mark.slow
def test_doctor_unreachable_llm_endpoint_says_how_to_fix(tmp_path, clean_env, refused_url):
    code, rows, out = _doctor(tmp_path, clean_env, {"provider": "lmstudio", "base_url": refused_url,
                                                     "model": "some-model", "mode": "local_only",
                                                     "embedded": {"model_path": str(tmp_path / "missing.gguf")}})
    failed = [r for name, r in rows.items() if name.startswith("llm") and r["status"] == "fail"]
    assert failed, out.stdout
    assert any("LM Studio" in r["fix"] or "start" in r["fix"].lower() for r in failed), failed
    assert code == 1  # nothing can answer: the only local server is down and the embedded model is missing
