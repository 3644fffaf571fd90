"""Intents in the field's own language: hassil templates from home-assistant-intents, Penny's own
sentence files and the user's custom_sentences, matched by one router (router.py)."""
