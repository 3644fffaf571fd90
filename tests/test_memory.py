"""Conversation memory: committed per turn, survives a crash, trims oldest, forgets on request."""
import json
import subprocess
import sys
import textwrap

from penny.memory.store import MemoryStore, Turn


def turn(i, session="s1", **kw):
    return Turn(session, f"t{i}", 1000.0 + i, f"question {i}", f"answer {i}", **kw)


def test_turns_round_trip_and_sessions(tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    store.add_turn(turn(1))
    store.add_turn(turn(2, interrupted=True, intent="clock", trace={"ms": {"first_audio": 300}}))
    store.add_turn(turn(3, session="s2"))
    turns = store.turns("s1")
    assert [t.turn_id for t in turns] == ["t1", "t2"]
    assert turns[1].interrupted and turns[1].intent == "clock" and turns[1].trace["ms"]["first_audio"] == 300
    assert {s["id"]: s["turns"] for s in store.list_sessions()} == {"s1": 2, "s2": 1}


def test_context_trims_oldest_and_marks_interruptions(tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    for i in range(10):
        store.add_turn(turn(i, interrupted=(i == 9)))
    messages = store.context("s1", max_chars=60)
    assert messages[-2] == {"role": "user", "content": "question 9"}
    assert "interrupted" in messages[-1]["content"]
    assert all("question 0" != m["content"] for m in messages)
    assert sum(len(m["content"]) for m in messages) <= 60 + 40


def test_forget_leaves_history_but_clears_context(tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    store.add_turn(turn(1))
    assert store.forget("s1") == 1
    assert store.context("s1", 1000) == []
    assert len(store.turns("s1")) == 1


def test_export_json_and_markdown(tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    store.add_turn(turn(1, interrupted=True))
    data = json.loads(store.export("s1", "json"))
    assert data["turns"][0]["user_text"] == "question 1"
    md = store.export("s1", "markdown")
    assert "**You**" in md and "answer 1" in md and "interrupted" in md


def test_completed_turns_survive_a_killed_process(tmp_path):
    db = tmp_path / "m.db"
    script = textwrap.dedent(f"""
        import os
        from penny.memory.store import MemoryStore, Turn
        store = MemoryStore({str(db)!r})
        for i in range(3):
            store.add_turn(Turn("s", f"t{{i}}", 0.0, "q", "a"))
        os.kill(os.getpid(), 9)  # no close(), no clean shutdown
    """)
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -9
    assert [t.turn_id for t in MemoryStore(db).turns("s")] == ["t0", "t1", "t2"]
