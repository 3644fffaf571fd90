"""The soak runner on a handful of turns (CI speed, a stub LLM): turns, scores, memory samples, windows and
the chart. The real run is `penny bench --soak`; no timing is asserted here."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import soak  # noqa: E402
from penny.config import PennyConfig  # noqa: E402
from penny.app.engines import Engines  # noqa: E402
from penny.core.events import TextDelta  # noqa: E402
from penny.memory.store import MemoryStore  # noqa: E402


class Parrot:
    """Answers with the expected word of the question, and records how much history it was sent."""

    name, model, supports_tools = "parrot", "p-1", False

    def __init__(self):
        self.sizes: list[int] = []

    async def stream(self, messages, tools=None, **kw):
        self.sizes.append(len(messages))
        question = messages[-1]["content"]
        word = dict(soak.QUESTIONS).get(question, ("no idea",))[0]
        for piece in ("The ", "answer ", "is ", f"{word}."):
            yield TextDelta(piece)

    async def aclose(self):
        pass


async def test_soak_runner_on_a_handful_of_turns(tmp_path):
    cfg = PennyConfig()
    llm = Parrot()
    engines = Engines(cfg, llm=llm, stt=None, tts=None, plugins=None, memory=MemoryStore(tmp_path / "m.db"))
    data = await soak.soak(engines, turns=12, sessions=3, voice_every=0, sample_every=5)
    turns = data["turns"]
    assert [t["turn"] for t in turns] == list(range(1, 13))
    assert {t["session"] for t in turns} == {"soak-1", "soak-2", "soak-3"}
    assert all(t["right"] and t["reply"].startswith("The answer is") for t in turns)
    assert llm.sizes[-1] > llm.sizes[0]  # each session's history grew
    assert [s["turn"] for s in data["rss"]] == [0, 5, 10] and data["rss"][0]["penny_mb"] > 0
    w = soak.windows(data, size=5)
    assert [v["turns"] for v in w] == ["1-5", "6-10", "11-12"] and w[0]["right"] == 1.0
    payload = {"windows": w, "rss": data["rss"], "turns": turns, "voice": [], "sessions": 3, "machine": {}}
    soak.plot(payload, tmp_path / "soak.png")
    assert (tmp_path / "soak.png").stat().st_size > 1000
    json.dumps(payload)  # the results are plain JSON


def test_scoring_and_the_soak_config(tmp_path):
    assert soak.right("It is Paris.", ("paris",)) and not soak.right("London.", ("paris",))
    cfg = soak.soak_config(PennyConfig.model_validate({"llm": {"provider": "lmstudio"}}), tmp_path, 24)
    assert cfg.llm.provider == "embedded" and cfg.llm.mode == "local_only" and not cfg.llm.fallbacks
    assert cfg.llm.embedded.max_tokens == 24 and cfg.memory.path.startswith(str(tmp_path))
