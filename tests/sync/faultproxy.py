from sim.netproxy import CLEAN, DEFAULT_WEIGHTS, FAULTS, FaultProxy  # noqa: F401  (moved to pos/sim)
