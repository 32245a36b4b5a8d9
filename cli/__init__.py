"""The ``qlake`` command line: it parses options and wires them to the jobs (``jobs/``), the layers and the core.

Each command lives in the module of its area; :mod:`cli.main` loads a command's module only when that command
runs, so ``qlake sql`` does not pay for importing the pipeline (see :class:`cli.main.LazyGroup`).
"""
