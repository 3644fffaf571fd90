"""Config checks beyond types: provider names the factories know (aliases included) and URL shapes.
`penny config check` (and every command that loads the config) names the key, the value and the fix."""
import json
import subprocess
import sys

import pytest

from penny.config import load_config, parse_config
from penny.config_checks import url_problem
from penny.errors import ConfigError


@pytest.mark.parametrize("data, needles", [
    ({"llm": {"provider": "gpt4all"}}, ["llm.provider", '"gpt4all"', "ollama", "embedded"]),
    ({"llm": {"fallbacks": [{"provider": "ollama"}, {"provider": "olama"}]}},
     ["llm.fallbacks.1.provider", '"olama"', "ollama"]),
    ({"tts": {"provider": "festival"}}, ["tts.provider", '"festival"', "piper, espeak, gtts"]),
    ({"tts": {"fallbacks": ["espeak", "sam"]}}, ["tts.fallbacks.1", '"sam"']),
    ({"stt": {"provider": "vosk"}}, ["stt.provider", '"vosk"', "faster_whisper"]),
    ({"vad": {"provider": "cobra"}}, ["vad.provider", '"cobra"', "silero, webrtc"]),
    ({"llm": {"provider": "ollama", "base_url": "not a url"}}, ["llm.base_url", "not a URL", "spaces",
                                                                "http(s)://host[:port][/path]"]),
    ({"llm": {"fallbacks": [{"provider": "vllm", "base_url": "ftp://box:8000"}]}},
     ["llm.fallbacks.0.base_url", "'ftp'"]),
    ({"llm": {"base_url": "http//localhost:1234"}}, ["llm.base_url", "misspelt"]),
    ({"llm": {"base_url": "http://localhost:99999"}}, ["llm.base_url", "65535"]),
    ({"plugins": {"weather": {"base_url": "api.open-meteo.com/v1/forecast"}}},
     ["plugins.weather.base_url", "http:// or https://"]),
])
def test_unknown_providers_and_bad_urls_name_key_value_and_fix(data, needles):
    with pytest.raises(ConfigError) as info:
        parse_config(data, "test.json")
    message = str(info.value)
    assert message.startswith("test.json: ")
    for needle in needles:
        assert needle in message, message


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as info:
        parse_config({"llm": {"provider": "x"}, "tts": {"provider": "y"}, "vad": {"provider": "z"}})
    assert all(k in str(info.value) for k in ("llm.provider", "tts.provider", "vad.provider"))


@pytest.mark.parametrize("data", [
    {"llm": {"provider": "openai-compatible", "base_url": "http://localhost:1234/v1"}},
    {"llm": {"provider": "LM Studio", "base_url": "localhost:1234"}},  # a bare host:port reads as http://
    {"llm": {"provider": "llama.cpp", "base_url": "  http://[::1]:8080/v1/chat/completions  "}},
    {"llm": {"provider": "ollama", "fallbacks": [{"provider": "openai", "base_url": "https://api.openai.com/v1"}]}},
    {"tts": {"provider": "Piper", "fallbacks": ["espeak-ng", "google"]}},
    {"stt": {"provider": "faster-whisper"}}, {"stt": {"provider": "whisper"}},
    {"vad": {"provider": "webrtcvad"}}, {"vad": {"provider": "Silero"}},
    {"wake": {"engine": "openwakeword"}},
])
def test_aliases_and_good_urls_pass(data):
    parse_config(data)


@pytest.mark.parametrize("url", ["http://gpu-box:8000/api", "https://g.example.com/v1beta/openai/",
                                 "http://192.168.1.20:11434", "nas.local:11434"])
def test_url_shapes_the_llm_client_accepts(url):
    assert url_problem(url) is None


def test_config_check_command_fails_on_a_bad_provider(isolated):
    path = isolated / "penny_config.json"
    path.write_text(json.dumps({"llm": {"provider": "gpt4all", "base_url": "not a url"}}))
    run = subprocess.run([sys.executable, "-m", "penny", "config", "check"], capture_output=True, text=True,
                         cwd=isolated, timeout=60)
    assert run.returncode != 0
    assert "Config OK" not in run.stdout
    assert "llm.provider" in run.stderr and "llm.base_url" in run.stderr and "Traceback" not in run.stderr
    path.write_text(json.dumps({"llm": {"provider": "ollama", "base_url": "http://localhost:11434"}}))
    run = subprocess.run([sys.executable, "-m", "penny", "config", "check"], capture_output=True, text=True,
                         cwd=isolated, timeout=60)
    assert run.returncode == 0 and "Config OK" in run.stdout


def test_environment_overrides_are_checked_too(isolated):
    with pytest.raises(ConfigError, match="tts.provider"):
        load_config(environ={"PENNY_TTS__PROVIDER": "festival"})
