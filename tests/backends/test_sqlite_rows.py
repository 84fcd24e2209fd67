"""Multi-row inserts (``Tx.insert_many``) on a real SQLite file."""

import sqlite3
from pathlib import Path

import pytest
from flowsim_sqlite.rows import IdMaker, Tx, multi_row

INSERT = "INSERT INTO t (a, b, c) VALUES (?, ?, 'fixed')"


def _tx(path: Path) -> Tx:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("CREATE TABLE t (a INTEGER UNIQUE, b TEXT, c TEXT)")
    return Tx(conn, IdMaker())


def test_rows_are_inserted_in_order_across_statements_the_variable_limit_splits(
    tmp_path: Path,
) -> None:
    tx = _tx(tmp_path / "rows.db")
    tx.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 7)  # 3 rows of 2 per statement
    rows = [(n, f"row {n}") for n in range(10, 0, -1)]
    tx.insert_many(INSERT, rows)
    stored = tx.conn.execute("SELECT a, b, c FROM t ORDER BY rowid").fetchall()
    assert stored == [(a, b, "fixed") for a, b in rows]


def test_a_row_breaking_a_constraint_fails_the_insert(tmp_path: Path) -> None:
    tx = _tx(tmp_path / "rows.db")
    with pytest.raises(sqlite3.IntegrityError):
        tx.insert_many(INSERT, [(1, "one"), (2, "two"), (1, "one again")])


def test_only_an_insert_of_one_row_of_values_is_repeated() -> None:
    assert multi_row(INSERT, 2) == (
        "INSERT INTO t (a, b, c) VALUES (?, ?, 'fixed'), (?, ?, 'fixed')"
    )
    with pytest.raises(ValueError, match="not an INSERT"):
        multi_row("UPDATE t SET a = ?", 2)
