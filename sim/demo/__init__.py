"""`pos demo`: the interactive and headless demo on simulated devices, a local collector and demo keys."""
