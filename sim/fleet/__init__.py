"""A simulated fleet against real collector nodes: ``scripts/fleet_sim`` (docs/scale.md)."""
