"""Offline payment terminal core: OWT1 verification, keys, risk rules, the journal.

This package never imports ``drivers`` or ``ui``: devices and screens depend on it, not the
other way round.
"""

__version__ = "0.1.0"
