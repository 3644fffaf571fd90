"""User data is private: every folder Penny makes is 700 and every file 600, created that way.

One mechanism, used by every writer (history, notes, timers, calendar writes, TTS cache, models, logs,
token, TLS key): folders come from `private_dir` (os.mkdir with mode 0o700), files from `open_private` /
`create_private` (os.open with mode 0o600) or from `tempfile.mkstemp` (always 0o600) renamed into place.
No process umask is changed and nothing is chmod-ed after the fact, except `tighten_existing`, which
fixes, once at start-up, what an older Penny created with looser modes (and logs what it changed).

SQLite creates a database's -wal and -shm files with the database file's own mode, so the database file
is created 600 first (`create_private`) and only then opened by sqlite3.
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import IO, Iterable

log = logging.getLogger("penny.private")
DIR_MODE = 0o700
FILE_MODE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FLAGS = {"w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
          "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


def private_dir(path: str | os.PathLike) -> Path:
    """`mkdir -p path`, where every folder it has to create is 700. Existing folders are left alone."""
    path = Path(path).expanduser()
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:  # another writer made it first
            pass
    return path


def open_private(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                 errors: str | None = None, follow_symlinks: bool = False) -> IO:
    """open() for writing ("w", "a" or "x", text or binary) that creates a new file 600.

    By default a symbolic link is not followed (the embedded server's log lives in /tmp)."""
    flags = _FLAGS[mode.replace("b", "").replace("+", "")] | _CLOEXEC | (0 if follow_symlinks else _NOFOLLOW)
    if "+" in mode:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    fd = os.open(path, flags, FILE_MODE)
    try:
        return os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None,
                         errors=errors if "b" not in mode else None)
    except BaseException:
        os.close(fd)
        raise


def create_private(path: str | os.PathLike) -> Path:
    """Make sure `path` exists, creating it empty and 600 (in a 700 folder) when it does not."""
    path = Path(path).expanduser()
    private_dir(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | _CLOEXEC, FILE_MODE))
    return path


def write_private(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write a whole file, creating it 600 (in a 700 folder)."""
    path = Path(path).expanduser()
    private_dir(path.parent)
    with open_private(path, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# ---- start-up: tighten what an older Penny left readable ----

def tighten(path: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Remove group/other permissions from `path` (and, with recursive, everything under it).

    Symbolic links are neither changed nor followed; files owned by someone else are skipped.
    Returns what was changed."""
    changed: list[Path] = []
    root = Path(path).expanduser()

    def fix(p: Path, st: os.stat_result) -> None:
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            try:
                os.chmod(p, stat.S_IMODE(st.st_mode) & 0o700, follow_symlinks=False)
                changed.append(p)
            except (OSError, NotImplementedError):
                pass

    try:
        st = os.lstat(root)
    except OSError:
        return changed
    if stat.S_ISLNK(st.st_mode) or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return changed
    fix(root, st)
    if stat.S_ISDIR(st.st_mode) and recursive:
        for top, dirs, files in os.walk(root, followlinks=False):
            for name in dirs + files:
                p = Path(top, name)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    fix(p, st)
    return changed


def _too_broad(folder: Path) -> bool:
    """A folder Penny must never walk and chmod as a whole (PENNY_HOME=$HOME would be a mistake)."""
    try:
        folder = folder.resolve()
        home = Path.home().resolve()
    except (OSError, RuntimeError):
        return True
    if folder == folder.parent or folder == home or folder in home.parents:
        return True
    try:
        return bool(folder.stat().st_mode & stat.S_ISVTX)  # a shared folder such as /tmp
    except OSError:
        return False


def penny_paths(cfg=None) -> list[tuple[Path, bool]]:
    """(path, recursive) of everything that holds Penny's user data for this config."""
    from penny.config import memory_path, user_config_dir, user_data_dir

    out: list[tuple[Path, bool]] = [(user_data_dir(), True), (user_config_dir(), True)]
    if cfg is not None:
        db = memory_path(cfg)
        if str(cfg.memory.path) != ":memory:":
            out += [(db.parent / (db.name + suffix), False) for suffix in ("", "-wal", "-shm")]
        if cfg.tts.cache.dir:
            out.append((Path(cfg.tts.cache.dir).expanduser(), True))
        if cfg.server.token_file:
            out.append((Path(cfg.server.token_file).expanduser(), False))
    return out


_done: set[tuple[str, bool]] = set()


def tighten_existing(cfg=None, paths: Iterable[tuple[Path, bool]] | None = None) -> list[Path]:
    """Once per process and path: make Penny's existing data private (older versions made it 644/755)."""
    changed: list[Path] = []
    for path, recursive in (paths if paths is not None else penny_paths(cfg)):
        key = (str(path), recursive)
        if key in _done:
            continue
        _done.add(key)
        if recursive and _too_broad(path):
            log.warning("Not making %s private: it is not a folder of Penny's own.", path)
            continue
        changed += tighten(path, recursive)
    if changed:
        shown = ", ".join(str(p) for p in changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        log.info("Made %d existing Penny file(s)/folder(s) private (700 folders, 600 files): %s", len(changed), shown)
    return changed
