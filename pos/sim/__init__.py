"""Simulators for what exists nowhere else on a terminal: the scheme, issuers and wallets.

DEMO ONLY. Every key made here is a demo key, written with a "DEMO" marker beside it. The
terminal core never imports this package; tests and the demo do.
"""
