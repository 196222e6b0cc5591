"""The reference collector: receives terminals' signed batches, re-verifies every token, keeps
each terminal's chain, stores each (wallet id, counter) once across the fleet, detects double
spends and publishes the deny list. SQLite by default, PostgreSQL for fleets. See docs/sync.md.

It imports ``pos`` (the token rules, the chain, the wire format); ``pos`` never imports it.
"""
