"""The command line and (later) the Textual app: the composition root wiring drivers to ``pos``."""
