"""``python -m cli ...``: the same commands as the ``qlake`` script."""

from cli.launch import run

run()
