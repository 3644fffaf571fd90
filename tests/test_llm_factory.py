"""Provider names, aliases, and the chain order per llm.mode."""
import pytest

from penny.adapters.llm.embedded import EmbeddedLLM
from penny.adapters.llm.factory import build_llm, canonical_provider, plan
from penny.adapters.llm.openai_compat import OpenAICompatLLM
from penny.config import parse_config
from penny.errors import PennyError


@pytest.mark.parametrize("name,canon", [
    ("openai_compatible", "lmstudio"), ("openai-compatible", "lmstudio"), ("LMStudio", "lmstudio"),
    ("LM-Studio", "lmstudio"), ("OLLAMA", "ollama"), ("llamacpp", "llamacpp"), ("llama.cpp", "llamacpp"),
    ("vLLM", "vllm"), ("OpenAI", "openai"), ("Embedded", "embedded")])
def test_aliases(name, canon):
    assert canonical_provider(name) == canon


def test_unknown_provider_lists_known_ones():
    with pytest.raises(PennyError) as err:
        build_llm(parse_config({"llm": {"provider": "gpt4all"}}))
    msg = str(err.value)
    assert "gpt4all" in msg
    for name in ("openai_compatible", "lmstudio", "ollama", "llamacpp", "vllm", "openai", "embedded"):
        assert name in msg


def _names(cfg):
    return [b.name for b in build_llm(cfg).backends]


def test_default_is_embedded_only():
    chain = build_llm(parse_config({}))
    assert [type(b) for b in chain.backends] == [EmbeddedLLM]
    assert chain.name == "embedded" and chain.model.startswith("SmolLM2")


def test_local_first_order_and_defaults():
    cfg = parse_config({"llm": {"provider": "openai", "api_key": "sk-test", "mode": "local_first", "fallbacks": [
        {"provider": "lmstudio", "model": "qwen2.5-7b"},
        {"provider": "ollama", "model": "llama3.2:3b"},
        {"provider": "vllm", "base_url": "http://192.168.1.9:8000"}]}})
    chain = build_llm(cfg)
    assert [b.name for b in chain.backends] == ["lmstudio", "ollama", "vllm", "embedded", "openai"]
    urls = {b.name: b.base_url for b in chain.backends if isinstance(b, OpenAICompatLLM)}
    assert urls == {"lmstudio": "http://localhost:1234/v1", "ollama": "http://localhost:11434/v1",
                    "vllm": "http://192.168.1.9:8000/v1", "openai": "https://api.openai.com/v1"}
    assert chain.backend("ollama").model == "llama3.2:3b"
    assert chain.spoken.endswith("is LM Studio running?")


def test_cloud_first_and_local_only():
    fallbacks = [{"provider": "llamacpp"}, {"provider": "openai_compatible", "base_url": "https://llm.example.com/v1",
                                            "api_key": "k"}]
    cloud = parse_config({"llm": {"mode": "cloud_first", "fallbacks": fallbacks}})
    assert _names(cloud) == ["openai_compatible", "llamacpp", "embedded"]
    assert build_llm(cloud).backends[0].base_url == "https://llm.example.com/v1"
    local = parse_config({"llm": {"mode": "local_only", "fallbacks": fallbacks}})
    assert _names(local) == ["llamacpp", "embedded"]
    assert [b.provider for b in plan(local)] == ["llamacpp", "embedded"]


def test_duplicate_providers_get_unique_names():
    cfg = parse_config({"llm": {"provider": "ollama", "fallbacks": [{"provider": "ollama", "base_url": "http://box:11434"}]}})
    assert _names(cfg) == ["ollama", "ollama-2", "embedded"]


def test_openai_key_from_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    chain = build_llm(parse_config({"llm": {"provider": "openai", "mode": "cloud_first"}}))
    assert chain.backends[0].name == "openai" and chain.backends[0].api_key == "sk-env"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert _names(parse_config({"llm": {"provider": "openai"}})) == ["embedded"]  # left out, with a warning


def test_embedded_gguf_path_and_missing_file(tmp_path):
    from penny.errors import ModelNotFound

    chain = build_llm(parse_config({"llm": {"embedded": {"model_path": str(tmp_path / "nope.gguf")}}}))
    with pytest.raises(ModelNotFound):
        chain.backends[0].model_path


async def test_doctor_rows(fake_llm_server, refused_url):
    from penny.adapters.llm.factory import doctor_checks

    good = fake_llm_server("ok", "OK", models=("qwen",))
    cfg = parse_config({"llm": {"provider": "lmstudio", "base_url": good.base_url, "model": "qwen", "fallbacks": [
        {"provider": "ollama", "base_url": refused_url, "model": "llama3.2:3b"},
        {"provider": "vllm", "base_url": good.base_url, "model": "missing-model"}]}})
    rows = {r.component: r for r in await doctor_checks(cfg)}
    assert rows["llm"].status == "ok" and "answers with lmstudio (qwen)" in rows["llm"].detail
    assert rows["llm:lmstudio"].status == "ok" and rows["llm:lmstudio completion"].status == "ok"
    assert rows["llm:ollama"].status == "fail" and "ollama serve" in rows["llm:ollama"].fix
    assert rows["llm:vllm"].status == "fail" and "qwen" in rows["llm:vllm"].detail  # lists what it has
    assert rows["llm:embedded"].status == "ok"
    assert not rows["llm:ollama"].required  # the chain still answers: a down fallback is not fatal
    assert good.chat_requests[0]["max_tokens"] == 1  # the one-token completion


async def test_doctor_fails_when_nothing_can_answer(refused_url, tmp_path):
    from penny.adapters.llm.factory import doctor_checks

    cfg = parse_config({"llm": {"provider": "lmstudio", "base_url": refused_url, "mode": "local_only",
                                "embedded": {"model_path": str(tmp_path / "gone.gguf")}}})
    rows = {r.component: r for r in await doctor_checks(cfg)}
    assert rows["llm"].status == "fail" and rows["llm"].required
    assert rows["llm:embedded"].status == "fail" and "model_path" in rows["llm:embedded"].fix


def test_embedded_prompt_fits_its_context():
    from penny.adapters.llm.embedded import fit_context

    msgs = [{"role": "system", "content": "S"}] + [{"role": "user", "content": "x" * 1000} for _ in range(10)]
    kept = fit_context(msgs, n_ctx=2048, max_tokens=512)
    assert kept[0]["role"] == "system" and kept[-1] is msgs[-1] and len(kept) == 5
    assert fit_context(msgs[:3], 2048, 512) == msgs[:3]
