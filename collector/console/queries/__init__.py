"""The console pages' reads: plain SQL on ``collector.db`` (both dialects), no HTTP here."""
