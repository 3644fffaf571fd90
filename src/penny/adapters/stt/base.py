"""The STT capability (defined with the other contracts in penny.core.contracts)."""
from penny.core.contracts import STT

__all__ = ["STT"]
