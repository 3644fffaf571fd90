"""The TTS capability (defined with the other contracts in penny.core.contracts)."""
from penny.core.contracts import TTS

__all__ = ["TTS"]
