"""Synthetic national records and organisation submissions with a known truth."""
