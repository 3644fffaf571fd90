"""The wake capabilities (defined with the other contracts in penny.core.contracts): an acoustic engine
hears frames, the phrase engine hears transcripts."""
from penny.core.contracts import AudioWake, TranscriptWake, Wake

__all__ = ["AudioWake", "TranscriptWake", "Wake"]
