"""Child-process scripts and parent-side helpers for the durability tests."""
