"""Penny: a private, local-first voice assistant."""
__version__ = "0.1.0"
