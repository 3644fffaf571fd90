"""Atomic file writes and a tiny JSON list store for timers, reminders and notes."""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from penny.private import private_dir

log = logging.getLogger("penny.plugins.store")


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash at any point leaves either the old or the new file.

    The bytes go to a temporary file in the same folder, are flushed to disk, and then renamed over
    the target (rename is atomic on POSIX and Windows within one file system). A new file is private:
    mkstemp creates it 600 and missing folders are made 700; an existing file keeps its mode.
    """
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            try:
                os.chmod(tmp, path.stat().st_mode & 0o777)
            except OSError:
                pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class JsonStore:
    """A JSON document on disk, read once and rewritten atomically on every save."""

    def __init__(self, path: Path, default: Any):
        self.path = Path(path)
        self.default = default

    def load(self) -> Any:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return json.loads(json.dumps(self.default))
        except (OSError, ValueError) as exc:
            # Keep the unreadable file for the user instead of overwriting it on the next save.
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.warning("could not read %s (%s); moved it to %s and starting empty", self.path, exc, aside)
            try:
                os.replace(self.path, aside)
            except OSError:
                pass
            return json.loads(json.dumps(self.default))

    def save(self, value: Any) -> None:
        atomic_write(self.path, json.dumps(value, indent=1, ensure_ascii=False).encode("utf-8"))
