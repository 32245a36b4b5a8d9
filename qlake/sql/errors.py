"""Errors a person can act on: what failed, where in the statement, and a hint (closest tables, the columns)."""

from __future__ import annotations

import difflib
import re

_NOT_FOUND = re.compile(r"(?:Table or view not found|cannot be found)[:\s]*`?(?P<name>[\w.`]+)`?", re.I)
_COLUMN = re.compile(r"attribute ObjectName\(\[(?P<parts>[^\]]*)\]\) is missing|cannot resolve attribute|"
                     r"UNRESOLVED_COLUMN|No field named (?P<field>\S+)", re.I)
_POSITION = re.compile(r"\bat (?P<start>\d+):(?P<end>\d+)\b")


class SqlError(Exception):
    def __init__(self, message: str, position: str = "", hint: str = ""):
        super().__init__(message)
        self.message, self.position, self.hint = message, position, hint

    def lines(self) -> list[str]:
        out = [f"error: {self.message}"]
        if self.position:
            out.append(self.position)
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out


def closest(name: str, candidates: list[str], what: str) -> str:
    if not candidates:
        return f"no {what} in the lake yet"
    near = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    if not near:
        short = name.split(".")[-1]
        near = [c for c in candidates if difflib.get_close_matches(short, [c.split(".")[-1]], n=1, cutoff=0.6)][:3]
    return f"closest {what}: {', '.join(near)}" if near else f"{what}: {', '.join(sorted(candidates))}"


def _pointer(statement: str, start: int, end: int) -> str:
    line_no = statement.count("\n", 0, start) + 1
    line_start = statement.rfind("\n", 0, start) + 1
    line_end = statement.find("\n", start)
    line = statement[line_start:line_end if line_end >= 0 else len(statement)]
    col = start - line_start
    return f"at line {line_no}, column {col + 1}:\n  {line}\n  {' ' * col}{'^' * max(1, min(end, len(line) + line_start) - start)}"


def explain(exc: Exception, statement: str, tables: dict[str, str], columns_of_table) -> SqlError:
    """Turn an engine error into a SqlError: first line of its message, without engine internals."""
    raw = str(exc).strip()
    first = raw.splitlines()[0] if raw else type(exc).__name__
    first = re.sub(r"^(invalid argument|error in [\w ]+|internal error):\s*", "", first, flags=re.I)
    position, hint = "", ""
    found = _POSITION.search(first)
    if found:
        position = _pointer(statement, int(found["start"]), int(found["end"]))
        first = _POSITION.sub("", first).replace("  ", " ").strip()
    missing = _NOT_FOUND.search(raw)
    if missing:
        name = missing["name"].replace("`", "")
        name = name.removeprefix("default.") if name.startswith("default.") and name not in tables else name
        hint = closest(name, list(tables), "tables")
        first = f"table or view not found: {name}"
    elif _COLUMN.search(raw):
        column = _column_name(raw)
        referenced = [t for t in tables if re.search(rf"\b{re.escape(t)}\b", statement, re.I)]
        parts = [f"{t}: {', '.join(columns_of_table(t))}" for t in referenced[:3]]
        if column:
            first = f"unknown column: {column}"
            where = statement.lower().find(column.split(".")[-1].lower())
            if where >= 0 and not position:
                position = _pointer(statement, where, where + len(column.split(".")[-1]))
        hint = ("columns of " + "; ".join(parts)) if parts else ""
    return SqlError(first, position, hint)


def _column_name(raw: str) -> str:
    found = re.search(r"ObjectName\(\[(?P<parts>[^\]]*)\]\)", raw)
    if found:
        return ".".join(re.findall(r'Identifier\("([^"]*)"\)', found["parts"]))
    found = re.search(r"`(?P<name>[^`]+)`\s+cannot be resolved", raw)
    return found["name"] if found else ""
