"""Audio sources and sinks (defined with the other contracts in penny.core.contracts)."""
from penny.core.contracts import AudioSink, AudioSource

__all__ = ["AudioSink", "AudioSource"]
