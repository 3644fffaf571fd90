"""Config: lookup order, env overrides, and a clear message for every class of bad config."""
import json

import pytest

from penny.config import PennyConfig, find_config_file, load_config, masked_dict
from penny.errors import ConfigError


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_defaults_run_offline_on_embedded_models(isolated):
    cfg = load_config(environ={})
    assert cfg.source == "defaults"
    assert cfg.llm.provider == "embedded"
    assert cfg.llm.timeout_s == 15
    assert cfg.stt.model == "tiny.en" and cfg.tts.provider == "piper"
    assert cfg.server.host == "127.0.0.1"


def test_repo_config_keeps_the_seed_llm_block(request):
    root = request.config.rootpath
    data = json.loads((root / "penny_config.json").read_text())
    assert data["llm"] == {
        "provider": "openai_compatible", "base_url": "http://localhost:1234/v1", "api_key": "lm-studio",
        "model": "openai/gpt-oss-20b", "mode": "local_first", "temperature": 0.6, "max_tokens": 512,
        "timeout_s": 15,
    }
    cfg = load_config(root / "penny_config.json", environ={})
    assert cfg.llm.mode == "local_first" and cfg.llm.model == "openai/gpt-oss-20b"


def test_lookup_order(isolated, monkeypatch):
    home = isolated / "home"
    home.mkdir()
    user = write(home / "penny_config.json", {"assistant": {"name": "User"}})
    assert find_config_file(environ={}) == user
    cwd = write(isolated / "penny_config.json", {"assistant": {"name": "Cwd"}})
    assert find_config_file(environ={}) == cwd
    env = write(isolated / "env.json", {"assistant": {"name": "Env"}})
    assert load_config(environ={"PENNY_CONFIG": str(env)}).assistant.name == "Env"
    explicit = write(isolated / "explicit.json", {"assistant": {"name": "Explicit"}})
    assert load_config(explicit, environ={"PENNY_CONFIG": str(env)}).assistant.name == "Explicit"


def test_env_overrides_single_keys(isolated):
    environ = {"PENNY_LLM__MODEL": "llama3.2:3b", "PENNY_SERVER__PORT": "9000",
               "PENNY_VAD__END_SILENCE_MS": "400", "PENNY_TTS__CACHE__ENABLED": "false"}
    cfg = load_config(environ=environ)
    assert cfg.llm.model == "llama3.2:3b"
    assert cfg.server.port == 9000 and cfg.vad.end_silence_ms == 400
    assert cfg.tts.cache.enabled is False
    assert "PENNY_LLM__MODEL" in cfg.source


@pytest.mark.parametrize("content, needles", [
    ('{"llm": {"model": "x",}}', ["not valid JSON", "line 1"]),
    ({"llm": {"max_tokens": "lots"}}, ["llm.max_tokens", '"lots"', "integer"]),
    ({"server": {"port": 70000}}, ["server.port", "70000", "less than or equal to 65535"]),
    ({"vad": {"threshold": 1.5}}, ["vad.threshold", "1.5"]),
    ({"llm": {"mode": "sometimes"}}, ["llm.mode", "sometimes", "local_first"]),
    ({"tts": {"voise": "x"}}, ["unknown key 'tts.voise'"]),
    ({"colour": "blue"}, ["unknown key 'colour'"]),
    ('[1, 2]', ["top level must be a JSON object"]),
    ({"llm": {"fallbacks": [{"provider": "ollama", "temperature": 9}]}}, ["llm.fallbacks.0.temperature", "9"]),
])
def test_bad_config_names_file_key_value_and_expectation(isolated, content, needles):
    path = write(isolated / "bad.json", content)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, message
    assert "Traceback" not in message


def test_bad_env_override_names_the_key(isolated):
    with pytest.raises(ConfigError) as info:
        load_config(environ={"PENNY_SERVER__PORT": "http"})
    assert "server.port" in str(info.value) and "PENNY_SERVER__PORT" in str(info.value)


def test_missing_explicit_file(isolated):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(isolated / "nope.json", environ={})


def test_secrets_are_masked():
    cfg = PennyConfig.model_validate({"llm": {"api_key": "sk-secret-1234"},
                                      "plugins": {"calendar": {"password": "hunter22"}}})
    shown = json.dumps(masked_dict(cfg))
    assert "sk-secret" not in shown and "hunter2" not in shown
    assert "***34" in shown
