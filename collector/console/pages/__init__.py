"""The console's data pages (fleet, terminal, payments, events, deny list): helper PAGES."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
