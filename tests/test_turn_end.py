"""Semantic end of turn: which transcripts read as a finished request."""
import pytest

from penny.core.turn_end import looks_complete


@pytest.mark.parametrize("text", ["What time is it?", "Set a timer for ten minutes.", "Yes.", "Thanks!",
                                  "What's on my calendar tomorrow?", "Remind me to call mom at 5pm."])
def test_complete(text):
    assert looks_complete(text)


@pytest.mark.parametrize("text", ["", "Set a timer for.", "What is the", "Remind me to call mom and",
                                  "Tell me about um.", "So...", "what time is it", "Add a meeting with my."])
def test_not_complete(text):
    assert not looks_complete(text)
