"""The throw-away PostgreSQL cluster lives in ``sim.pg`` (``scripts/fleet_sim`` starts it too)."""

from sim.pg import PG_BIN, PgCluster, free_port, unavailable_reason

__all__ = ["PG_BIN", "PgCluster", "free_port", "unavailable_reason"]
