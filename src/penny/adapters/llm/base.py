"""The LLM capability (defined with the other contracts in penny.core.contracts)."""
from penny.core.contracts import LLM, Message

__all__ = ["LLM", "Message"]
