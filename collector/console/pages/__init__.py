"""The console's data pages (fleet, terminal, payments, events, deny list) and their actions."""

from __future__ import annotations

from starlette.routing import BaseRoute

from collector.console.pages import deny, events, fleet, payments, terminal

ROUTES: list[BaseRoute] = [*fleet.ROUTES, *terminal.ROUTES, *payments.ROUTES, *events.ROUTES, *deny.ROUTES]
