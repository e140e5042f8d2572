"""``docs/results/README.md``: one line per experiment with the command that made it and its wall time; a link to
``findings.md`` where the results folder has one."""
import json
import re
from pathlib import Path

from ..utils.io import atomic_write_text

HEADER = """# Results

{findings}Each experiment below was run with the command in its row, on the machine and
with the wall time given there; its folder holds `report.md` (tables, paired
differences against the baselines), `curves.png` and `summary.json`. Rerunning
a command skips the finished runs and resumes interrupted ones.

| experiment | question | command | runs | wall time |
|---|---|---|---|---|
"""


def accumulate_wall_time(path: Path, seconds: float) -> float:
    """Adds ``seconds`` to the wall time stored in ``path`` (a JSON file) and returns the total."""
    total = seconds
    if path.is_file():
        total += float(json.loads(path.read_text()).get("wall_seconds", 0.0))
    atomic_write_text(path, json.dumps({"wall_seconds": total}))
    return total


def _rows(index: Path) -> dict:
    rows = {}
    if index.is_file():
        for line in index.read_text().splitlines():
            found = re.match(r"\| \[([^\]]+)\]\(", line)
            if found:
                rows[found.group(1)] = line
    return rows


def has_row(index: Path, name: str, title: str, runs: int) -> bool:
    """Whether the results index has a row for experiment ``name`` with this title and number of runs."""
    row = _rows(index).get(name)
    return row is not None and f"| {title} |" in row and f"| {runs} |" in row


def record_experiment(index: Path, name: str, title: str, command: str, runs: int, wall: str) -> None:
    """Writes or replaces the row of experiment ``name`` in the results index (created when missing)."""
    rows = _rows(index)
    rows[name] = f"| [{name}]({name}/report.md) | {title} | `{command}` | {runs} | {wall} |"
    findings = ("What the numbers say about the paper's claims: [findings.md](findings.md).\n\n"
                if (index.parent / "findings.md").is_file() else "")
    atomic_write_text(index, HEADER.format(findings=findings) + "\n".join(rows[key] for key in sorted(rows)) + "\n")
