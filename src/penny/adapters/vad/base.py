"""The VAD capability (defined with the other contracts in penny.core.contracts)."""
from penny.core.contracts import VAD

__all__ = ["VAD"]
