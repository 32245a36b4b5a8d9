"""Every document the code and the docs cite is in the repository (a link to a file that is not here misleads)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_CITED = re.compile(r"(?<![\w/.-])((?:docs|bench|expectations|k8s|notebooks)/[\w./-]+\.(?:md|json|yaml|ipynb))")


def _tracked() -> list[Path]:
    """The repository's files: git's list in a checkout, else every file outside .git and virtualenvs."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return [REPO / line for line in listed.stdout.splitlines()]
    return [p for p in REPO.rglob("*") if p.is_file() and not {".git", ".venv"} & set(p.parts)]


def test_cited_documents_exist():
    cited = {}
    for path in _tracked():
        if path.suffix not in {".py", ".md", ".ipynb", ".sh", ".yaml", ".toml"} or not path.is_file():
            continue
        for target in _CITED.findall(path.read_text(errors="replace")):
            cited.setdefault(target.rstrip("."), path.relative_to(REPO).as_posix())
    assert "docs/architecture.md" in cited  # the scan finds citations at all
    missing = {target: where for target, where in cited.items() if not (REPO / target).exists()}
    assert missing == {}
