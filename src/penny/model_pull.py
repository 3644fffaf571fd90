"""`penny models pull`: fetch a catalogue model from the Hugging Face Hub (or HF_ENDPOINT).

Files are staged in <models>/.partial/<name>/ as `<file>.<etag>.incomplete`, so a second pull resumes
with a Range request; each file is checked against the hub's hash (sha256 for LFS files, the git blob
sha1 for small ones) and the staged folder is renamed into place only when every file is verified.
Only this explicit command opens a network connection.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from penny.catalog import MANIFEST, CatalogModel, folder, installed_path, is_pulled, models_dir
from penny.errors import PennyError

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

CHUNK = 1024 * 1024  # resume granularity: bytes reach the disk in pieces of this size
SHA256 = re.compile(r"^[0-9a-f]{64}$")
GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")
NOTHING_CHANGED = "nothing was changed"


class PullError(PennyError):
    code = "model-pull-failed"


@dataclass
class Remote:
    """One file as the hub describes it (HEAD /resolve)."""

    filename: str
    url: str
    etag: str
    size: int | None
    commit: str
    headers: dict


def endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _private_dir(path: Path) -> Path:
    from penny.private import private_dir

    return private_dir(path)


def unreachable(exc: BaseException) -> PullError:
    reason = str(exc).strip() or type(exc).__name__
    return PullError(f"Could not reach the Hugging Face Hub at {endpoint()} ({reason}).",
                     hint=f"Check your connection, or set HF_ENDPOINT to a mirror; {NOTHING_CHANGED}.")


def describe(model: CatalogModel, filename: str, revision: str) -> Remote:
    """HEAD one file: its download URL, hash, size and the commit it belongs to."""
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled,
                                        RemoteEntryNotFoundError, RepositoryNotFoundError)
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(model.repo_id, filename, revision=revision, endpoint=endpoint())
    headers = build_hf_headers()
    try:
        meta = get_hf_file_metadata(url, headers=headers, endpoint=endpoint())
    except OfflineModeIsEnabled:
        raise PullError("HF_HUB_OFFLINE is set, so Penny may not download models.",
                        hint=f"Unset HF_HUB_OFFLINE for this command; {NOTHING_CHANGED}.") from None
    except httpx2.TransportError as exc:
        raise unreachable(exc) from None
    except GatedRepoError:
        raise PullError(f"{model.repo_id} is gated: accept its licence on the Hub first.",
                        hint=f"Then log in with `hf auth login` (or set HF_TOKEN); {NOTHING_CHANGED}.") from None
    except (RepositoryNotFoundError, RemoteEntryNotFoundError):
        raise PullError(f"{model.repo_id} has no file {filename} at revision {revision}.",
                        hint=f"The catalogue may be out of date; {NOTHING_CHANGED}.") from None
    except HfHubHTTPError as exc:
        raise PullError(f"The hub refused {filename}: {exc}", hint=NOTHING_CHANGED + ".") from None
    if not meta.commit_hash or not meta.etag:
        raise PullError(f"{endpoint()} does not answer like a Hugging Face Hub (no X-Repo-Commit/ETag header).",
                        hint=f"Check HF_ENDPOINT; {NOTHING_CHANGED}.")
    if urlsplit(meta.location).netloc != urlsplit(url).netloc:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}  # signed CDN URL
    return Remote(filename, meta.location, meta.etag, meta.size, meta.commit_hash, headers)


def file_hashes(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file, read once."""
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return sha256.hexdigest(), blob.hexdigest()


def verified(path: Path, remote: Remote) -> str | None:
    """The file's sha256 when it matches what the hub says, else None."""
    if remote.size is not None and path.stat().st_size != remote.size:
        return None
    sha256, blob = file_hashes(path)
    if SHA256.match(remote.etag):
        return sha256 if sha256 == remote.etag else None
    if GIT_SHA1.match(remote.etag):
        return sha256 if blob == remote.etag else None
    return sha256  # a mirror with opaque ETags: the size check above is all we can do


def _partial(staging: Path, remote: Remote) -> Path:
    path = staging / f"{remote.filename}.{remote.etag}.incomplete"
    for stale in staging.glob(f"{remote.filename}.*.incomplete"):
        if stale != path:  # the file changed on the hub since: its bytes are useless
            stale.unlink()
    return path


def missing_bytes(staging: Path, remotes: list[Remote]) -> int:
    need = 0
    for r in remotes:
        if (staging / r.filename).is_file() or r.size is None:
            continue
        part = staging / f"{r.filename}.{r.etag}.incomplete"
        need += r.size - (part.stat().st_size if part.is_file() else 0)
    return max(need, 0)


def check_disk(model: CatalogModel, staging: Path, remotes: list[Remote]) -> None:
    need = missing_bytes(staging, remotes)
    free = shutil.disk_usage(staging).free
    if need > free:
        raise PullError(f"Not enough disk space for {model.name}: it needs {need / 1e6:,.0f} MB more and "
                        f"{staging.parent} has {free / 1e6:,.0f} MB free.",
                        hint=f"Free some space (or point PENNY_HOME at a bigger disk); {NOTHING_CHANGED}.")


def fetch(remote: Remote, staging: Path, say: Callable[[str], None]) -> str:
    """Download one file into the staging folder (resuming), verify it, return its sha256."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.file_download import http_get

    done = staging / remote.filename
    if done.is_file():
        sha = verified(done, remote)
        if sha:
            return sha
        done.unlink()
    part = _partial(staging, remote)
    have = part.stat().st_size if part.is_file() else 0
    if remote.size is not None and have > remote.size:
        part.unlink()
        have = 0
    if have:  # huggingface_hub's progress bar shows the rest (on a terminal)
        say(f"{remote.filename}: resuming at {have / 1e6:,.1f} MB of {(remote.size or 0) / 1e6:,.1f} MB")
    constants.DOWNLOAD_CHUNK_SIZE = CHUNK
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        with os.fdopen(fd, "ab") as f:
            http_get(remote.url, f, resume_size=have, headers=remote.headers, expected_size=remote.size,
                     displayed_filename=remote.filename)
    except (httpx2.TransportError, HfHubHTTPError) as exc:  # the bytes so far are good: keep them
        kept = part.stat().st_size if part.is_file() else 0
        raise PullError(f"The download of {remote.filename} was interrupted ({exc}).",
                        hint=f"Run the same command again to resume ({kept / 1e6:,.1f} MB kept); "
                             "no partial model is ever used.") from None
    except OSError as exc:  # huggingface_hub's size consistency check, or a full disk
        part.unlink(missing_ok=True)
        raise PullError(f"The download of {remote.filename} failed: {exc}", hint="Run the command again.") from None
    sha = verified(part, remote)
    if sha is None:
        part.unlink()
        raise PullError(f"{remote.filename} does not match the hub's checksum ({remote.etag}); it was deleted.",
                        hint="Run the command again; if it keeps failing, the mirror or a proxy is changing "
                             f"the file. The model was not installed; {NOTHING_CHANGED}.")
    os.chmod(part, 0o600)
    os.replace(part, done)
    return sha


def pull(model: CatalogModel, say: Callable[[str], None] = print) -> Path:
    """Download, verify and install a catalogue model; returns what Penny loads (folder or GGUF)."""
    if model.bundled:
        say(f"{model.name} ships with Penny; nothing to download.")
        return installed_path(model)
    if is_pulled(model):
        say(f"{model.name} is already pulled ({folder(model)}).")
        return installed_path(model)
    for noisy in ("httpx2", "httpcore2"):  # one INFO line per request would bury the progress bar
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
    staging = _private_dir(_private_dir(_private_dir(models_dir()) / ".partial") / model.name)
    first = describe(model, model.files[0], model.revision)
    # Later files come from the same commit, even if the repo changes while we download.
    remotes = [first] + [describe(model, f, first.commit) for f in model.files[1:]]
    check_disk(model, staging, remotes)
    from penny.private import write_private

    say(f"Pulling {model.name} from {model.repo_id} (commit {first.commit[:10]}) via {endpoint()}")
    started = time.monotonic()
    files = {}
    for r in remotes:
        sha = fetch(r, staging, say)
        files[r.filename] = {"size": (staging / r.filename).stat().st_size, "sha256": sha}
    record = {"name": model.name, "kind": model.kind, "repo_id": model.repo_id, "commit": first.commit,
              "endpoint": endpoint(), "pulled_at": int(time.time()), "files": files}
    write_private(staging / MANIFEST, json.dumps(record, indent=2) + "\n")
    target = folder(model)
    if target.exists():  # a leftover without a manifest: never a usable model
        shutil.rmtree(target)
    os.replace(staging, target)
    try:
        staging.parent.rmdir()  # .partial/, when no other pull is under way
    except OSError:
        pass
    total = sum(e["size"] for e in files.values())
    say(f"Pulled {model.name}: {total / 1e6:,.1f} MB in {time.monotonic() - started:.0f} s, checksums verified. "
        f"Switch to it with: penny models use {model.name}")
    return installed_path(model)
