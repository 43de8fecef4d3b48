"""Just enough lexing of SQL text to choose a wire protocol for it.

The simple query protocol runs several statements in one round trip but returns no
rows through ``async_gaussdb``; the extended protocol returns rows but takes one
statement. Quotes, dollar quotes and comments are skipped so a ``;`` or a keyword
inside them does not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: Statements that may return rows (RETURNING is detected separately).
ROW_KEYWORDS = frozenset({"SELECT", "WITH", "VALUES", "SHOW", "TABLE", "FETCH", "EXPLAIN", "CALL"})


@dataclass(frozen=True)
class Shape:
    """What the text holds: its first keyword, whether it has several statements, RETURNING."""

    first_keyword: str
    several: bool
    returning: bool

    @property
    def may_return_rows(self) -> bool:
        return self.first_keyword in ROW_KEYWORDS or self.returning


def shape(sql: str) -> Shape:
    """Scan ``sql`` once; statements are split at top-level semicolons."""
    i, n = 0, len(sql)
    words: list[str] = []
    statements = 0
    current_has_text = False
    returning = False
    while i < n:
        c = sql[i]
        if c in " \t\r\n\f":
            i += 1
        elif c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "'" or (c in "eE" and sql.startswith("'", i + 1)):
            escapes = c != "'"
            i += 2 if escapes else 1
            while i < n:
                if escapes and sql[i] == "\\":
                    i += 2
                elif sql[i] == "'":
                    if sql.startswith("''", i):
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    i += 1
            current_has_text = True
        elif c == '"':
            j = i + 1
            while True:
                j = sql.find('"', j)
                if j < 0 or not sql.startswith('""', j):
                    break
                j += 2
            i = n if j < 0 else j + 1
            current_has_text = True
        elif c == "$" and (m := _DOLLAR_TAG.match(sql, i)):
            end = sql.find(m.group(0), m.end())
            i = n if end < 0 else end + len(m.group(0))
            current_has_text = True
        elif c == ";":
            if current_has_text:
                statements += 1
            current_has_text = False
            i += 1
        elif m := _WORD.match(sql, i):
            word = m.group(0).upper()
            if not current_has_text and statements == 0:
                words.append(word)
            if word == "RETURNING":
                returning = True
            current_has_text = True
            i = m.end()
        else:
            if c == "(" and not current_has_text and statements == 0:
                i += 1  # "(SELECT ...)": the keyword inside the parenthesis counts
                continue
            current_has_text = True
            i += 1
    if current_has_text:
        statements += 1
    return Shape(first_keyword=words[0] if words else "", several=statements > 1, returning=returning)
