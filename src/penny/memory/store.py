"""Conversation memory in SQLite (WAL): each turn is committed when it completes, so a crash loses none."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    turn_id TEXT NOT NULL,
    created REAL NOT NULL,
    user_text TEXT NOT NULL,
    reply_text TEXT NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 0,
    intent TEXT,
    backend TEXT,
    trace TEXT,
    forgotten INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS turns_by_session ON turns(session_id, id);
"""


INTERRUPTED = " (I was interrupted here.)"


@dataclass(frozen=True)
class Turn:
    session_id: str
    turn_id: str
    created: float
    user_text: str
    reply_text: str
    interrupted: bool = False
    intent: str | None = None
    backend: str | None = None
    trace: dict | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class MemoryStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if str(path) != ":memory:":
            from penny.private import create_private

            create_private(self.path)  # 600 in a 700 folder; sqlite gives -wal/-shm the db file's mode
        # One connection shared by the event loop and worker threads, guarded by a lock.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_turn(self, turn: Turn) -> None:
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO sessions(id, created, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET updated=excluded.updated",
                (turn.session_id, now, now),
            )
            self._db.execute(
                "INSERT INTO turns(session_id, turn_id, created, user_text, reply_text, interrupted, intent,"
                " backend, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (turn.session_id, turn.turn_id, turn.created, turn.user_text, turn.reply_text,
                 int(turn.interrupted), turn.intent, turn.backend,
                 json.dumps(turn.trace) if turn.trace is not None else None),
            )
            self._db.execute("COMMIT")

    def forget(self, session_id: str) -> int:
        """'Start over': the turns stay on disk for `penny history` but leave the model's context."""
        with self._lock:
            cur = self._db.execute("UPDATE turns SET forgotten=1 WHERE session_id=? AND forgotten=0", (session_id,))
            return cur.rowcount

    def forget_turn(self, session_id: str, turn_id: str) -> int:
        """One turn leaves the model's context (the user went on, and the next turn holds the whole
        request: core/continuation.py); it stays on disk for `penny history`."""
        with self._lock:
            cur = self._db.execute("UPDATE turns SET forgotten=1 WHERE session_id=? AND turn_id=? AND forgotten=0",
                                   (session_id, turn_id))
            return cur.rowcount

    def turns(self, session_id: str, include_forgotten: bool = True) -> list[Turn]:
        sql = "SELECT session_id, turn_id, created, user_text, reply_text, interrupted, intent, backend, trace " \
              "FROM turns WHERE session_id=?" + ("" if include_forgotten else " AND forgotten=0") + " ORDER BY id"
        with self._lock:
            rows = self._db.execute(sql, (session_id,)).fetchall()
        return [Turn(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], json.loads(r[8]) if r[8] else None)
                for r in rows]

    def list_sessions(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.created, s.updated, COUNT(t.id) FROM sessions s "
                "LEFT JOIN turns t ON t.session_id = s.id GROUP BY s.id ORDER BY s.updated DESC").fetchall()
        return [{"id": r[0], "created": r[1], "updated": r[2], "turns": r[3]} for r in rows]

    def context(self, session_id: str, max_chars: int, note=None) -> list[dict]:
        """Chat messages of the remembered turns within max_chars: the newest, in a window whose start stays
        put as turns are added (so LLM servers reuse their cached prompt) and jumps when it overflows.
        `note(created)`: a message put before each user message (the time it was said), as it was sent."""
        from penny.memory.window import window_start

        remembered = "session_id=? AND forgotten=0 AND (intent IS NULL OR intent != 'clarify')"
        with self._lock:  # sizes first: only the kept turns' text is read
            sizes = self._db.execute(
                f"SELECT id, length(user_text) + length(reply_text) + ? * interrupted + ? FROM turns"
                f" WHERE {remembered} ORDER BY id",
                (len(INTERRUPTED), len(note(0.0)["content"]) if note else 0, session_id)).fetchall()
            start = window_start([r[1] for r in sizes], max_chars)
            if start >= len(sizes):
                return []
            rows = self._db.execute(f"SELECT created, user_text, reply_text, interrupted FROM turns WHERE {remembered}"
                                    " AND id >= ? ORDER BY id", (session_id, sizes[start][0])).fetchall()
        messages: list[dict] = []
        for created, user, reply, interrupted in rows:  # clarifications left out: misheard words would mislead
            messages += [note(created)] if note else []
            messages += [{"role": "user", "content": user},
                         {"role": "assistant", "content": reply + (INTERRUPTED if interrupted else "")}]
        return messages

    def export(self, session_id: str, fmt: str = "json") -> str:
        turns = self.turns(session_id)
        if fmt == "json":
            return json.dumps({"session": session_id, "turns": [t.to_dict() for t in turns]}, indent=2)
        if fmt in ("md", "markdown"):
            lines = [f"# Conversation {session_id}", ""]
            for t in turns:
                stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.created))
                lines += [f"**You** ({stamp}): {t.user_text}", "",
                          f"**Penny**: {t.reply_text}" + (" *(interrupted)*" if t.interrupted else ""), ""]
            return "\n".join(lines)
        raise ValueError(f"unknown export format {fmt!r}: use json or markdown")
