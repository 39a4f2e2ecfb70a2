"""Copies and checks Grafana's SQLite database (lgtm.stack, roles/grafana).

    python3 grafana_db.py backup DB DIR KEEP   consistent copy of DB into DIR, newest KEEP kept
    python3 grafana_db.py check FILE           integrity check; exit 1 unless a Grafana database

Runs with the host's python3 (the Grafana image has no sqlite3 CLI) and needs only the
standard library of Python 3.9. The copy uses SQLite's online backup API, so Grafana keeps
running and writing while it is taken and the copy is still one consistent state.
"""

from __future__ import annotations

import datetime
import os
import re
import sqlite3
import sys
from pathlib import Path

BACKUP_NAME = re.compile(r"^grafana-[0-9]{8}T[0-9]{6}Z\.db$")
# Tables every Grafana database has: a file without them is not Grafana's.
GRAFANA_TABLES = {"user", "dashboard", "org"}


def check(path: Path) -> str:
    """Return an empty string for a sound Grafana database, else what is wrong with it."""
    if not path.is_file():
        return f"{path} is not a file"
    try:
        # Read-only and immutable: a check never writes a journal next to the file.
        db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            result = [row[0] for row in db.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.Error as error:
        return f"{path} is not a readable SQLite database: {error}"
    if result != ["ok"]:
        return f"{path} fails SQLite's integrity check: {'; '.join(result[:5])}"
    missing = sorted(GRAFANA_TABLES - tables)
    if missing:
        return f"{path} is SQLite but not a Grafana database (no table {', '.join(missing)})"
    return ""


def backup(db_path: Path, directory: Path, keep: int) -> Path:
    if not db_path.is_file():
        raise SystemExit(f"grafana backup: {db_path} does not exist (has Grafana ever started?)")
    os.umask(0o077)
    # datetime.UTC needs Python 3.11; managed hosts may have 3.9.
    utc = datetime.timezone.utc  # noqa: UP017
    stamp = datetime.datetime.now(utc).strftime("%Y%m%dT%H%M%SZ")
    final = directory / f"grafana-{stamp}.db"
    partial = directory / f".grafana-{stamp}.db.partial"
    partial.unlink(missing_ok=True)
    try:
        # Read-only: run as root, a writing connection could leave root-owned journal
        # files in Grafana's data directory.
        source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
        target = sqlite3.connect(partial)
        try:
            source.backup(target)
            # A standalone file: no -wal beside it that the copy depends on.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
            source.close()
        problem = check(partial)
        if problem:
            raise SystemExit(f"grafana backup: the copy is broken, kept nothing: {problem}")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
    # Names sort by time: drop all but the newest `keep`.
    backups = sorted((path for path in directory.iterdir() if BACKUP_NAME.match(path.name)),
                     reverse=True)
    for old in backups[keep:]:
        old.unlink()
    return final


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[1] == "backup":
        print(f"grafana backup: {backup(Path(argv[2]), Path(argv[3]), int(argv[4]))}")
        return 0
    if len(argv) == 3 and argv[1] == "check":
        problem = check(Path(argv[2]))
        print(problem or f"{argv[2]}: ok")
        return 1 if problem else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
