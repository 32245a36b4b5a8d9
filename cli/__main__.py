"""``python -m cli ...``: the same commands as the ``qlake`` script."""

from cli.main import run

run()
