"""Every base-URL spelling reaches /v1/chat/completions and /v1/models — never /v1/v1."""
import pytest

from penny.adapters.llm.openai_compat import OpenAICompatLLM
from penny.adapters.llm.urls import is_local_url, normalize_base_url
from penny.core.events import TextDelta

SPELLINGS = ["http://{h}", "http://{h}/", "http://{h}/v1", "http://{h}/v1/", "http://{h}/v1/chat/completions",
             "http://{h}/v1/chat/completions/", "{h}", "http://{h}/v1/v1", "  http://{h}/v1/models  "]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_normalize(spelling):
    assert normalize_base_url(spelling.format(h="localhost:1234")) == "http://localhost:1234/v1"


def test_normalize_keeps_other_api_roots():
    assert normalize_base_url("https://api.openai.com/v1/") == "https://api.openai.com/v1"
    assert normalize_base_url("https://gw.example.com/openai/v1") == "https://gw.example.com/openai/v1"
    assert normalize_base_url("https://g.example.com/v1beta/openai/") == "https://g.example.com/v1beta/openai"
    assert normalize_base_url("http://gpu-box:8000/api") == "http://gpu-box:8000/api/v1"


@pytest.mark.parametrize("url,local", [
    ("http://localhost:1234", True), ("http://127.0.0.1:8080/v1", True), ("http://192.168.1.20:8000", True),
    ("http://gpu-box:8000", True), ("http://nas.local:11434", True), ("https://api.openai.com/v1", False),
    ("https://llm.example.com", False), ("http://[::1]:8080", True)])
def test_local_or_cloud(url, local):
    assert is_local_url(url) is local


@pytest.mark.parametrize("spelling", SPELLINGS[:6])
async def test_each_spelling_reaches_the_server(fake_llm_server, spelling):
    server = fake_llm_server("ok", "Hi there.")
    llm = OpenAICompatLLM("t", spelling.format(h=f"127.0.0.1:{server.port}"), "fake-model")
    try:
        assert await llm.list_models() == ["fake-model"]
        text = "".join([e.text async for e in llm.stream([{"role": "user", "content": "hi"}])
                        if isinstance(e, TextDelta)])
    finally:
        await llm.aclose()
    assert text == "Hi there."
    assert [(m, p) for m, p, _ in server.requests] == [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]
