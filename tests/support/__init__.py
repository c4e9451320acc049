"""Helpers several tests share (not tests themselves)."""
