"""Simulators and the demo: scheme, issuers, wallets, the network proxy and ``pos demo``.

Never imported by production code (import-linter contracts in pyproject.toml).
"""
