"""Conversation behaviours between the channels and the core engine."""
