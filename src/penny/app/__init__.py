"""Wiring and front ends: the engines loaded once per process, and the ways a person talks to Penny (chat, listen, a WAV file)."""
