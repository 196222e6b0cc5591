"""Benchmarks of the terminal (``scripts/bench``): measured figures against targets, never tests.

One module per suite; a suite has ``NAME``, ``add_arguments(parser)`` and
``run(args, base_dir) -> Report``. Register a new suite in ``SUITES`` in ``__main__``.
"""
