"""Provider names -> LLM backends, the fallback chain per llm.mode, and `penny doctor` rows."""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from penny.adapters.llm.embedded import EmbeddedLLM, default_model_path, server_missing
from penny.adapters.llm.fallback import DEFAULT_SPOKEN, LIST_TIMEOUT_S, FallbackLLM
from penny.adapters.llm.openai_compat import OpenAICompatLLM
from penny.adapters.llm.urls import is_local_url, normalize_base_url
from penny.adapters.names import Names
from penny.config import LLMBackend, PennyConfig
from penny.errors import ConfigError, PennyError


@dataclass(frozen=True)
class Provider:
    name: str
    label: str  # how a person calls it
    base_url: str | None
    default_model: str | None = None  # None: the first model the server lists
    supports_tools: bool = True
    cloud: bool = False


PROVIDERS = {p.name: p for p in (
    Provider("lmstudio", "LM Studio", "http://localhost:1234/v1"),
    Provider("ollama", "Ollama", "http://localhost:11434/v1"),
    Provider("llamacpp", "the llama.cpp server", "http://localhost:8080/v1"),
    Provider("vllm", "vLLM", "http://localhost:8000/v1"),
    Provider("openai", "OpenAI", "https://api.openai.com/v1", "gpt-4o-mini", cloud=True),
    Provider("embedded", "my built-in model", None, supports_tools=False),
)}
NAMES = Names("LLM provider", {
    "openai_compatible": "lmstudio", "openaicompatible": "lmstudio", "lmstudio": "lmstudio",
    "lm_studio": "lmstudio", "ollama": "ollama", "llamacpp": "llamacpp", "llama_cpp": "llamacpp",
    "vllm": "vllm", "openai": "openai", "embedded": "embedded",
}, known="openai_compatible (also openai-compatible, lmstudio), ollama, llamacpp, vllm, openai, embedded",
    hint="Fix llm.provider (or the provider of an llm.fallbacks entry).")
canonical_provider = NAMES.canonical


def display_name(provider: str) -> str:
    """A backend's name: the canonical provider, but 'openai_compatible' stays itself (it is not LM Studio)."""
    canon = canonical_provider(provider)
    key = provider.strip().lower().replace("-", "_")
    return "openai_compatible" if key in ("openai_compatible", "openaicompatible") else canon


def backend_blocks(cfg: PennyConfig) -> list[LLMBackend]:
    """The primary llm block and every llm.fallbacks entry, as plain backend blocks."""
    primary = LLMBackend(**{k: getattr(cfg.llm, k) for k in LLMBackend.model_fields})
    return [primary, *cfg.llm.fallbacks]


def kind_of(block: LLMBackend) -> str:
    """'embedded', 'local' (this machine or the LAN) or 'cloud'."""
    provider = PROVIDERS[canonical_provider(block.provider)]
    if provider.name == "embedded":
        return "embedded"
    if provider.cloud and not block.base_url:
        return "cloud"
    return "local" if is_local_url(block.base_url or provider.base_url) else "cloud"


def plan(cfg: PennyConfig) -> list[LLMBackend]:
    """Backend blocks in the order the chain tries them, per llm.mode. The embedded model is always there
    (local_only and local_first: after the local servers; cloud_first: after cloud and local)."""
    blocks = backend_blocks(cfg)
    by_kind: dict[str, list[LLMBackend]] = {"local": [], "embedded": [], "cloud": []}
    for b in blocks:
        by_kind[kind_of(b)].append(b)
    embedded = by_kind["embedded"][:1] or [LLMBackend(provider="embedded")]
    mode = cfg.llm.mode
    if mode == "local_only":
        return [*by_kind["local"], *embedded]
    if mode == "cloud_first":
        return [*by_kind["cloud"], *by_kind["local"], *embedded]
    return [*by_kind["local"], *embedded, *by_kind["cloud"]]


def build_backend(block: LLMBackend, cfg: PennyConfig, name: str | None = None):
    provider = PROVIDERS[canonical_provider(block.provider)]
    timing = dict(temperature=block.temperature, max_tokens=block.max_tokens, timeout_s=block.timeout_s,
                  connect_timeout_s=block.connect_timeout_s, first_token_timeout_s=block.first_token_timeout_s)
    if provider.name == "embedded":
        e = cfg.llm.embedded
        timing.update(temperature=e.temperature, max_tokens=e.max_tokens)  # llm.embedded holds its settings
        return EmbeddedLLM(block.model if block.model and block.model.endswith(".gguf") else e.model_path,
                           n_ctx=e.n_ctx, n_threads=e.n_threads, startup_timeout_s=e.startup_timeout_s,
                           name=name or "embedded", primer=e.primer, max_rss_mb=e.max_rss_mb,
                           history_tokens=e.history_tokens, cache_mb=e.cache_mb, **timing)
    api_key = block.api_key
    if provider.name == "openai" and not api_key:
        api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise ConfigError("The openai provider needs an API key.",
                              hint="Set llm.api_key (or the OPENAI_API_KEY environment variable).")
    tools = provider.supports_tools if block.supports_tools is None else block.supports_tools
    return OpenAICompatLLM(name or display_name(block.provider), normalize_base_url(block.base_url or provider.base_url),
                           block.model or provider.default_model, api_key=api_key, supports_tools=tools, **timing)


def spoken_unavailable(blocks: list[LLMBackend]) -> str:
    for b in blocks:
        p = PROVIDERS[canonical_provider(b.provider)]
        default_port = p.base_url and (not b.base_url or f":{urlsplit(p.base_url).port}" in b.base_url)
        if p.name in ("lmstudio", "ollama") and default_port:
            return f"I can't reach my language model right now — is {p.label} running?"
    return DEFAULT_SPOKEN


def build_llm(cfg: PennyConfig) -> FallbackLLM:
    """The chain for this config. Nothing starts here: the embedded server starts on first use
    or on `await chain.start()`; `await chain.aclose()` stops it."""
    import logging

    backends, names = [], set()
    blocks = plan(cfg)
    for block in blocks:
        base = display_name(block.provider)
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        try:
            backends.append(build_backend(block, cfg, name))
        except ConfigError as exc:
            if len(blocks) == 1:
                raise
            logging.getLogger(__name__).warning("LLM backend %s left out: %s", name, exc)
            continue
        names.add(name)
    return FallbackLLM(backends, cooldown_s=cfg.llm.cooldown_s, spoken=spoken_unavailable(blocks))


# ---- penny doctor ----

async def _check_server(b: OpenAICompatLLM, required: bool):
    from penny.health import FAIL, OK, Check

    label = f"llm:{b.name}"
    start_hint = {"lmstudio": "Start LM Studio's server (Developer tab) and load a model",
                  "ollama": "Start Ollama (`ollama serve`) and pull the model"}.get(b.name.split("-")[0],
                                                                                 f"Start the server at {b.base_url}")
    try:
        # short: /api/health runs this, and a server may accept connections yet never answer
        models = await b.list_models(timeout_s=min(b.timeout_s, LIST_TIMEOUT_S))
    except PennyError as exc:
        return [Check(label, FAIL, f"GET {b.base_url}/models: {exc.message}",
                      f"{start_hint}, or remove it from penny_config.json.", required)]
    if b.model and b.model not in models:
        return [Check(label, FAIL, f"model '{b.model}' is not listed at {b.base_url}; it has: "
                      + (", ".join(models[:12]) or "none"),
                      f"Load '{b.model}' on the server, or set its model to one of the listed names.", required)]
    rows = [Check(label, OK, f"{b.base_url} lists {len(models)} model(s); using '{b.model or models[0]}'",
                  required=required)]
    try:
        async def one_token():
            async for _ in b.stream([{"role": "user", "content": "Say OK."}], max_tokens=1):
                pass

        await asyncio.wait_for(one_token(), min(b.timeout_s, 10.0) + 1)
        rows.append(Check(f"{label} completion", OK, "a one-token completion answered", required=required))
    except (PennyError, asyncio.TimeoutError) as exc:
        rows.append(Check(f"{label} completion", FAIL, f"a one-token completion failed: {exc}",
                          "Check the server's log; the model may be loading or too large.", required))
    finally:
        await b.aclose()
    return rows


def _check_embedded(b: EmbeddedLLM, required: bool):
    from penny.health import FAIL, OK, Check

    try:
        path = default_model_path(b._model_path_cfg)
    except PennyError as exc:
        return [Check("llm:embedded", FAIL, exc.message, exc.hint or "", required)]
    missing = server_missing()
    if missing:
        return [Check("llm:embedded", FAIL, missing, "Run `make setup` to install the runtime.", required)]
    size = path.stat().st_size / 1e6
    return [Check("llm:embedded", OK, f"{path.name} ({size:.0f} MB); llama_cpp.server starts on first use",
                  required=required)]


async def doctor_checks(cfg: PennyConfig) -> list:
    from penny.health import FAIL, OK, Check

    try:
        chain = build_llm(cfg)
    except PennyError as exc:
        return [Check("llm", FAIL, exc.message, exc.hint or "Fix the llm section of penny_config.json.")]
    alone = len(chain.backends) == 1
    groups = await asyncio.gather(*(
        asyncio.to_thread(_check_embedded, b, alone) if isinstance(b, EmbeddedLLM) else _check_server(b, alone)
        for b in chain.backends))
    rows = [r for g in groups for r in g]
    usable = [b for b, g in zip(chain.backends, groups) if all(r.status == OK for r in g)]
    order = " → ".join(f"{b.name}({b.model or 'first listed'})" for b in chain.backends)
    if usable:
        summary = Check("llm", OK, f"answers with {usable[0].name} ({usable[0].model}); "
                                   f"mode {cfg.llm.mode}: {order}")
    else:
        summary = Check("llm", FAIL, f"no backend can answer; mode {cfg.llm.mode}: {order}",
                        "Fix one of the llm rows below (the embedded model needs no server).")
    return [summary, *rows]
