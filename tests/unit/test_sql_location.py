"""SQL text lives in ``gaussdb_batch.dialects`` only: a string constant elsewhere that reads as a statement fails.

Read from the source with ``ast`` (nothing is imported), as test_import_graph.py reads imports.
A statement is a string constant (or the literal head of an f-string) that starts, after
whitespace and case aside, with an SQL verb followed by a space. Docstrings and ``purpose=``
texts (what a transaction is for, named in its errors) are prose, not SQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import gaussdb_batch

PACKAGE = Path(gaussdb_batch.__file__).resolve().parent
DIALECTS = PACKAGE / "dialects"

VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "MERGE", "COPY", "ANALYZE", "TRUNCATE",
         "WITH", "SET", "SHOW")
STATEMENT = re.compile(rf"\s*({'|'.join(VERBS)}) ", re.IGNORECASE)

#: Texts outside dialects/ that read as statements, as (module path under the package, the text's
#: first 40 characters). Each entry needs its reason; remove it when its text goes.
ALLOWED: set[tuple[str, str]] = {
    # The connection form's help text for the upsert_style extra: prose naming the statement.
    ("hooks/form.py", "merge (MERGE INTO, the default) or on_du"),
    # Names of GaussDB-unsupported features the observer reports when a statement uses them (it
    # matches the dialect's SQL by regular expression; it never runs anything).
    ("hooks/observe.py", "ANALYZE / VACUUM inside a transaction bl"),
    ("hooks/observe.py", "COPY FORCE_NULL"),
    ("hooks/observe.py", "CREATE SCHEMA IF NOT EXISTS"),
}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the module, class and function docstrings' constants."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _purposes(tree: ast.AST) -> set[int]:
    """ids of the values of ``purpose=`` keyword arguments (a transaction's purpose: prose)."""
    return {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "purpose"}


def sql_texts(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, text) of every string constant in ``source`` that starts as an SQL statement."""
    tree = ast.parse(source, filename=filename)
    skip = _docstrings(tree) | _purposes(tree)
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in skip:
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and isinstance(head.value, str) and STATEMENT.match(head.value):
                out.append((node.lineno, head.value))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
              and id(node) not in inner and STATEMENT.match(node.value)):
            out.append((node.lineno, node.value))
    return sorted(out)


def _found() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if DIALECTS in path.parents:
            continue
        rel = path.relative_to(PACKAGE).as_posix()
        for _, text in sql_texts(path.read_text(), str(path)):
            found.add((rel, text.strip()[:40]))
    return found


def test_no_sql_outside_dialects():
    stray = _found() - ALLOWED
    assert not stray, ("SQL text outside gaussdb_batch/dialects/: move it into a dialect method "
                       f"(or, when no dialect can exist yet, into ALLOWED with its reason): {sorted(stray)}")


def test_allowed_entries_are_still_there():
    assert not ALLOWED - _found(), "ALLOWED names SQL that is gone: remove its entry"


def test_the_finder_sees_statements_and_skips_prose():
    source = '''"""SELECT in a module docstring is prose."""
a = "SELECT 1"
b = f"  insert into {t} VALUES (1)"
c = "selection of rows"
d = "WITH x AS (SELECT 1) SELECT * FROM x"
e = "Set the table"
f = "set "
def g():
    """UPDATE in a function docstring is prose too."""
    tx(fn, purpose="create or migrate the control schema")
    tx(fn, purpose=f"insert into {t}")
'''
    assert [line for line, _ in sql_texts(source)] == [2, 3, 5, 6, 7]


def test_the_walk_sees_the_dialects_own_sql():
    base = (DIALECTS / "runs.py").read_text()
    assert any(t.startswith("SELECT pg_advisory_xact_lock") for _, t in sql_texts(base))
