"""Start-up never waits on an LLM server that accepts connections but never answers, nor on a loopback
interface that is down; the health check (the doctor's LLM rows) answers promptly in both cases."""
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

from fixtures_llm import StubChild
from penny.adapters.llm.factory import doctor_checks
from penny.adapters.llm.fallback import FallbackLLM
from penny.adapters.llm.openai_compat import OpenAICompatLLM
from penny.config import PennyConfig
from penny.core.events import TextDelta


@pytest.fixture
def silent_url():
    """A socket that accepts connections (the kernel completes the handshake) and never replies."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    s.close()


async def test_start_does_not_wait_for_a_server_that_never_answers(silent_url):
    child = StubChild("From the child.")
    chain = FallbackLLM([OpenAICompatLLM("lmstudio", silent_url, "m", timeout_s=60, connect_timeout_s=30), child])
    try:
        # the server's own timeouts are a minute; start-up must not take them (bounded by the listing timeout)
        await asyncio.wait_for(chain.start(), 20)
        assert chain.cooling("lmstudio") > 0 and child.starts == 1  # the child stands in from the first turn
        assert "no model list" in chain.last_errors["lmstudio"]
        said = "".join([e.text async for e in chain.stream([{"role": "user", "content": "Hi"}])
                        if isinstance(e, TextDelta)])
        assert said == "From the child."  # the silent server is cooling down: not asked again
        assert (await asyncio.wait_for(chain.list_models(), 20))["lmstudio"] == []
    finally:
        await chain.aclose()


async def test_health_rows_fail_promptly_for_a_server_that_never_answers(silent_url):
    cfg = PennyConfig.model_validate({"llm": {"provider": "openai_compatible", "base_url": silent_url,
                                              "model": "m", "timeout_s": 60}})
    rows = {r.component: r for r in await asyncio.wait_for(doctor_checks(cfg), 20)}
    assert rows["llm:openai_compatible"].status == "fail"
    assert rows["llm"].status == "ok"  # the embedded model can still answer


@pytest.mark.skipif(shutil.which("unshare") is None or sys.platform != "linux", reason="needs unshare(1)")
def test_with_loopback_down_the_embedded_model_fails_fast_and_says_why():
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    script = textwrap.dedent("""
        import asyncio, time
        from penny.adapters.llm.embedded import EmbeddedLLM
        from penny.errors import LLMUnavailable
        async def main():
            llm = EmbeddedLLM(n_ctx=512, n_threads=1)
            try:
                await llm.start()
                print("STARTED")
            except LLMUnavailable as exc:
                print("FAILED", exc.message, "|", exc.spoken)
            finally:
                await llm.aclose()
        asyncio.run(main())
    """)
    # a new network namespace: its loopback interface is down
    run = subprocess.run(["unshare", "-rn", sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=50, env={**os.environ})
    assert run.stdout.startswith("FAILED"), run.stdout + run.stderr
    assert "loopback" in run.stdout and "local network is down" in run.stdout


def test_a_slow_sdk_import_does_not_make_a_loopback_server_look_down():
    """Start-up lists models while Whisper and Piper load in threads; there the `openai` import took over the
    2 s listing timeout, the user's own server was marked down and the first turns went to the embedded model.
    Here the import is made 3 s slow in a fresh interpreter: only the server's answer may count."""
    script = textwrap.dedent("""
        import asyncio, sys, time
        sys.path.insert(0, "tests")
        from fixtures_llm import FakeLLMServer, StubChild
        from penny.adapters.llm.fallback import FallbackLLM
        from penny.adapters.llm.openai_compat import OpenAICompatLLM

        class Slow:
            def find_spec(self, name, path=None, target=None):
                if name == "openai":
                    time.sleep(3.0)
                return None
        assert "openai" not in sys.modules
        sys.meta_path.insert(0, Slow())
        server = FakeLLMServer("ok", "From the server.").start()
        async def main():
            child = StubChild("From the child.")
            chain = FallbackLLM([OpenAICompatLLM("lmstudio", server.base_url, "fake-model"), child])
            await chain.start()
            print("COOLING", chain.cooling("lmstudio") > 0, "CHILD", child.starts, dict(chain.last_errors))
            await chain.aclose()
        asyncio.run(main())
        server.stop()
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert "COOLING False CHILD 0 {}" in run.stdout, run.stdout + run.stderr
