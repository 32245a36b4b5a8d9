"""`python -m bench.silver`: the silver stage on a generated 550,000-row group next to DuckDB (see bench/__main__.py)."""

import sys

from bench.__main__ import main

if __name__ == "__main__":
    sys.exit(main(("silver",)))
