"""The real llama_cpp.server with the bundled SmolLM2: streaming, models list, tiny completion,
the embedded backend's life cycle (lazy start, restart once, no orphans), and `penny chat`."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fixtures_llm import kill
from penny.adapters.llm.embedded import EmbeddedLLM
from penny.adapters.llm.fallback import FallbackLLM
from penny.adapters.llm.openai_compat import OpenAICompatLLM
from penny.core.events import BackendSwitched, TextDelta

pytestmark = pytest.mark.slow
Q = [{"role": "system", "content": "You are a helpful assistant. Reply in English."},
     {"role": "user", "content": "What is the capital of France?"}]


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def wait_dead(pid: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


async def test_real_server_streams_lists_models_and_completes(embedded_llm_server):
    llm = OpenAICompatLLM("embedded", embedded_llm_server, max_tokens=48, temperature=0.0)
    try:
        models = await llm.list_models()
        assert models == ["SmolLM2-135M-Instruct.Q4_1"]
        events = [e async for e in llm.stream(Q)]
        deltas = [e for e in events if isinstance(e, TextDelta)]
        assert len(deltas) > 1 and text_of(events).strip()  # streamed in pieces, not one blob
        tiny = [e async for e in llm.stream(Q, max_tokens=1)]
        assert len([e for e in tiny if isinstance(e, TextDelta)]) <= 1
    finally:
        await llm.aclose()


async def test_embedded_backend_starts_lazily_and_stops_cleanly():
    llm = EmbeddedLLM(n_ctx=1024, n_threads=1, max_tokens=16)
    assert llm.server is None and await llm.list_models() == [llm.model]  # listing does not start it
    try:
        assert text_of([e async for e in llm.stream(Q)]).strip()
        pid, log_file = llm.server.proc.pid, llm.server.log_path
        assert alive(pid) and log_file.is_file()
    finally:
        await llm.aclose()
    assert wait_dead(pid, 10)
    assert not log_file.exists()  # one log file per start used to be left in /tmp


async def test_embedded_server_restarts_once_after_it_dies():
    llm = EmbeddedLLM(n_ctx=1024, n_threads=1, max_tokens=16)
    try:
        await llm.start()
        first = llm.server.proc.pid
        os.killpg(first, signal.SIGKILL)
        assert wait_dead(first)
        assert text_of([e async for e in llm.stream(Q)]).strip()  # restarted, answered
        assert llm.server.proc.pid != first
    finally:
        await llm.aclose()


async def test_chain_moves_to_the_embedded_model_when_a_server_is_killed_mid_stream(fake_llm_process):
    proc, url = fake_llm_process("ok", "The capital of France is a lovely city called Paris and more.", delay=0.3)
    chain = FallbackLLM([OpenAICompatLLM("lmstudio", url, "fake-model"),
                         EmbeddedLLM(n_ctx=1024, n_threads=1, max_tokens=24, temperature=0.0)])
    events, said = [], ""
    try:
        await chain.start(standby=True)  # the embedded server is ready before the failover
        async for ev in chain.stream(Q):
            events.append(ev)
            if isinstance(ev, TextDelta):
                said += ev.text
                if said.count(" ") >= 2 and proc.poll() is None:
                    kill(proc)
    finally:
        await chain.aclose()
    assert any(isinstance(e, BackendSwitched) and e.to == "embedded" for e in events)
    assert said.startswith("The capital ") and len(said) > len("The capital of ")
    assert chain.active.name == "embedded"


def test_no_orphan_when_the_parent_is_killed(tmp_path):
    """The child's watchdog exits when Penny dies by SIGKILL (no atexit, no signal handler runs)."""
    script = textwrap.dedent("""
        import sys, time
        from penny.adapters.llm.embedded import EmbeddedServer
        from penny.models import smollm2_gguf
        s = EmbeddedServer(smollm2_gguf(), n_ctx=512, n_threads=1)
        s.start()
        print(s.proc.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_dead(child, 20), "llama_cpp.server outlived its parent"
    finally:
        kill(parent)


def test_sigterm_stops_the_child(tmp_path):
    script = textwrap.dedent("""
        import time
        from penny.adapters.llm.embedded import EmbeddedServer
        from penny.models import smollm2_gguf
        s = EmbeddedServer(smollm2_gguf(), n_ctx=512, n_threads=1)
        s.start()
        print(s.proc.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(20) != 0
    assert wait_dead(child, 5)


def test_penny_chat_one_shot_answers_from_the_embedded_model(tmp_path):
    env = {**os.environ, "PENNY_HOME": str(tmp_path)}
    env.pop("PENNY_CONFIG", None)
    penny = os.path.join(os.path.dirname(sys.executable), "penny")
    run = subprocess.run([penny, "-q", "chat", "What is the capital of France?"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()
    assert "embedded · SmolLM2-135M-Instruct.Q4_1 · first token" in run.stderr


def test_penny_chat_repl_switches_model_and_quits(tmp_path):
    env = {**os.environ, "PENNY_HOME": str(tmp_path)}
    env.pop("PENNY_CONFIG", None)
    penny = os.path.join(os.path.dirname(sys.executable), "penny")
    run = subprocess.run([penny, "-q", "chat"], input="/model SmolLM2-135M-Instruct.Q4_1\nSay hi.\n/models\n/quit\n",
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "[now using embedded · SmolLM2-135M-Instruct.Q4_1]" in run.stderr
    assert "first token" in run.stderr and "embedded: *SmolLM2-135M-Instruct.Q4_1" in run.stderr
