"""One small error hierarchy. Each error has a stable code and a sentence a user can act on."""
from __future__ import annotations


class PennyError(Exception):
    code = "penny-error"
    # What Penny says aloud when this error ends a turn.
    spoken = "Sorry, something went wrong."

    def __init__(self, message: str, *, hint: str | None = None, spoken: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if spoken:
            self.spoken = spoken

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(PennyError):
    code = "config-invalid"


class ModelNotFound(PennyError):
    code = "model-not-found"
    spoken = "One of my models is missing."


class LLMUnavailable(PennyError):
    code = "llm-unreachable"
    spoken = "I can't reach my language model right now."


class STTNoText(PennyError):
    code = "stt-no-text"
    spoken = "Sorry, I didn't catch that."


class STTFailed(PennyError):
    code = "stt-failed"
    spoken = "Sorry, I couldn't understand the audio."


class TTSFailed(PennyError):
    code = "tts-failed"


class AudioInputError(PennyError):
    code = "audio-invalid"


class DeviceNotFound(PennyError):
    code = "audio-no-device"


class PluginError(PennyError):
    code = "plugin-failed"
    spoken = "Sorry, that didn't work."


class ProtocolError(PennyError):
    code = "protocol-error"
