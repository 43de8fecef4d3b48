"""One status vocabulary: the words of a run's, a chunk's and a comparison's status are defined in
engine/state.py (RunStatus, ChunkStatus) and engine/choices.py (Match), and nowhere else.

Read from the source with ``ast`` (nothing is imported), like test_import_graph.py: any whole
string constant equal to one of those words (case-insensitive) elsewhere in the package is a
second vocabulary waiting to drift. Docstrings do not count, and neither do fragments of
f-strings (log and error text); dict keys and subscripts do not either (they name a SQL bind
parameter or a field, such as ``{"done": ChunkStatus.DONE.value}``: the status is the value). Airflow's own states (a task's
or DAG run's ``"success"``, ``"failed"``) are Airflow's words: use its enums
(``airflow.utils.state.DagRunState``, ``TaskInstanceState``) rather than literals.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gaussdb_batch
from gaussdb_batch.engine.choices import Match
from gaussdb_batch.engine.state import ChunkStatus, RunStatus

PACKAGE = Path(gaussdb_batch.__file__).resolve().parent
#: The modules that define the vocabulary.
DEFINERS = {"engine/state.py", "engine/choices.py"}
WORDS = {m.value.lower() for enum in (RunStatus, ChunkStatus, Match) for m in enum}

#: (module, word) pairs that are not statuses although they spell one, each with its reason.
ALLOWED: dict[tuple[str, str], str] = {
    ("dag_factory.py", "done"): "the id of a batch DAG's last task (task_id='done'), not a status",
    ("dialects/ui_reads.py", "failed"): "a column of quality_results (the count of failed expectations)",
    ("checks/expectations.py", "failed"): "the log line's mark of a failed expectation, not a run's status",
}


def _skipped(tree: ast.AST) -> set[int]:
    """ids of the constants that are not values: docstrings and other bare string statements,
    f-string fragments, dict keys, subscripts."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            skip.add(id(node.value))
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
        elif isinstance(node, ast.Dict):
            skip.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            skip.add(id(node.slice))
    return skip


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every whole string constant in ``source`` that spells a status word."""
    tree = ast.parse(source)
    skip = _skipped(tree)
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            and node.value.strip().lower() in WORDS]


def _found() -> set[tuple[str, str, int]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        module = path.relative_to(PACKAGE).as_posix()
        if module in DEFINERS:
            continue
        for line, text in status_literals(path.read_text()):
            if (module, text.lower()) not in ALLOWED:
                found.add((module, text, line))
    return found


def test_no_status_literal_outside_the_vocabulary():
    assert sorted(_found()) == [], "use RunStatus/ChunkStatus (engine/state.py) or Match (engine/choices.py)"


def test_every_allowed_literal_is_still_there():
    seen = {(path.relative_to(PACKAGE).as_posix(), text.lower())
            for path in PACKAGE.rglob("*.py") for _, text in status_literals(path.read_text())}
    assert set(ALLOWED) - seen == set(), "an allowed literal is gone: drop it from ALLOWED"


@pytest.mark.parametrize("source, expected", [
    ('x = "done"', [(1, "done")]),
    ('if s == "COMPENSATED": pass', [(1, "COMPENSATED")]),
    ('f(status="MATCH")', [(1, "MATCH")]),
    ('y = ("Pending", "other")', [(1, "Pending")]),
    ('"""DONE"""', []),
    ('def f():\n    "done"\n', []),
    ('log.info(f"chunk {n} done")', []),
    ('log.info("%s chunks done", n)', []),
    ('p = {"done": DONE}', []),
    ('c["done"] = c["status"] == DONE', []),
    ('x = "done_at"', []),
])
def test_status_literals_are_whole_constants_outside_docstrings(source, expected):
    assert status_literals(source) == expected


def test_the_words_are_the_enums_values():
    assert {"done", "pending", "compensated", "compensating", "loading", "extracting", "failed", "match",
            "mismatch"} == WORDS
