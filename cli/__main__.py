"""``python -m cli ...``: the same commands as the ``qlake`` script."""

from cli.main import main

main(prog_name="qlake")
