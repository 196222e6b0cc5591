"""Store-and-forward: the terminal side of uploading the journal to a collector.

Batches of journal rows are signed by the terminal identity key and carry their chain position,
so the collector can prove nothing was skipped or altered; the collector answers per row and
"already have it" counts as acknowledged, which makes every retry harmless. See docs/sync.md.

This package never imports ``drivers``, ``ui`` or ``collector``; the collector imports
``pos.wire.protocol`` and ``pos.wire.denylist`` so both ends share one wire format.
"""
