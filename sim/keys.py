"""What marks a key as the demo's (written into every key file the simulators make)."""

DEMO_MARK = "DEMO KEY - generated for the demo and tests, never for production"
