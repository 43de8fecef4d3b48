"""The row hash of the fingerprint check, as Dialect methods: a row as an order-free sum of typed value terms.

What the fingerprint treats as equal, type by type, is in docs/engine.md ("What the
fingerprint sees"); ``python bench/hash_cost.py`` measures its cost. Column names are quoted.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import base_type, Column, DialectCore


#: The term of a NULL value: outside the range of every value's term (|term| < 2**34), so NULL
#: differs from every value of every type by construction, not by chance.
NULL_TERM = -(2**35)

#: Types hashed by a pg_catalog hash function whose input is the whole value (no folding, no
#: collation): base type name -> function. Anything not listed (and not special-cased in
#: ``value_hash_expr``) hashes a canonical text.
_TYPE_HASH = {"smallint": "hashint4", "integer": "hashint4", "real": "hashfloat4",
              "double precision": "hashfloat8", "uuid": "uuid_hash"}


def odd_primes(n: int) -> list[int]:
    out: list[int] = []
    k = 3
    while len(out) < n:
        if all(k % p for p in out if p * p <= k):
            out.append(k)
        k += 2
    return out


class RowHashSQL(DialectCore):
    """Mixin of ``Dialect``: the expressions that hash a row."""

    def row_hash_expr(self, cols: Sequence[Column], alias: str, *, from_landing: bool) -> str:
        """Order-independent 32-bit row hash (summed per chunk as bigint) with no structural collision.

        Each value becomes a bigint term (``value_term_expr``): its type's hash without the blind
        spots of pg_catalog's hash functions (sign, 0 vs NULL, NaN, 64-bit folding, collation keys,
        trailing spaces), and NULL a constant outside every value's range. The terms are weighted
        by distinct odd primes (a value moved to another column changes the sum) and ``hashint8``
        mixes the sum into int4, so ``sum(int4)`` over a chunk stays in bigint. Both sides hash the
        values the target stores: a text landing's values are first cast to the target's types.
        What it treats as equal, type by type, is in docs/engine.md ("What the fingerprint sees");
        its cost is measured by ``python bench/hash_cost.py``.
        """
        terms = []
        for c, weight in zip(cols, odd_primes(len(cols))):
            v = f"{alias}.{c.q}"
            if from_landing and not self.typed_landing:
                v = f"CAST({v} AS {c.type_sql})"
            terms.append(f"{self.value_term_expr(c, v)} * {weight}")
        return f"hashint8({' + '.join(terms)})"

    def value_term_expr(self, col: Column, value: str) -> str:
        """``value`` (of ``col``'s type) as a bigint term: ``NULL_TERM`` for NULL, else its hash."""
        return f"(CASE WHEN {value} IS NULL THEN {NULL_TERM} ELSE {self.value_hash_expr(col, value)} END)"

    def value_hash_expr(self, col: Column, value: str) -> str:
        """``value`` (non-NULL, of ``col``'s type) hashed to a bigint in (-2**34, 2**34).

        Values that differ under ``IS DISTINCT FROM`` never hash equal by construction:
        - integers: ``hashint4``; a bigint adds the hash of its high 32 bits to twice ``hashint8``
          (which XOR-folds them into the low ones, so x and 2**32 + (x xor 1) collide there);
        - numeric: ``hash_numeric`` ignores the sign and hashes 0 as -1 and NaN and +-Infinity as 0, so
          the term adds 2**32 times a class (negative, zero, positive, NaN): 1.5 and 1.50 stay equal;
        - real/double: ``hashfloat4``/``hashfloat8`` hash the 8 bytes (-0.0 and 0.0 hash alike, as they
          compare equal; NaN and the infinities are distinct);
        - strings: byte-exact, ``COLLATE "C"`` (a nondeterministic or B-format collation would hash
          its collation keys) and a final '.' appended by ``textcat`` (openGauss's
          ``string_hash_compatible`` trims trailing spaces before hashing; ``||`` is OR under dolphin); char(n) keeps ``hashbpchar``, padding being no part of it;
        - date: its day number; timestamps: ``timestamp_hash`` (which folds 64 bits the way hashint8
          does) plus the hash of the epoch, a timestamptz at UTC; no cast to a bare ``timestamp``
          (with openGauss's dolphin plugin that is timestamptz(0));
        - bytea: its hex text; everything else (time, interval, json, jsonb, arrays, enums, ...): its text.
        """
        base = base_type(col.type_sql)
        if base == "bigint":
            # Weighted 2:1 so the two hashes never trade places: hashint8 is hash_uint32 of the
            # folded halves and hashint4 of the high half, so an equal-weight sum made
            # 2**63 - 1 and -2**63 collide (each one's fold is the other's high half).
            return (f"(2 * CAST(hashint8({value}) AS bigint)"
                    f" + hashint4(CAST({value} >> 32 AS integer)))")
        if base == "numeric":
            return (f"(CAST(hash_numeric({value}) AS bigint) + 4294967296 * CASE WHEN {value} < 0 THEN -1"
                    f" WHEN {value} = 'NaN' THEN 2 WHEN {value} > 0 THEN 1 ELSE 0 END)")
        if base in ("character", "bpchar"):
            return f"hashbpchar({value} COLLATE \"C\")"
        if col.is_string or base in ("character varying", "text"):
            return self._text_hash(f"CAST({value} AS text)")
        if base == "date":
            # A date is a day number: exact and cheap (the text or to_char cost 3-40x as much).
            # +-infinity are terms no day has.
            return (f"CASE WHEN isfinite({value}) THEN hashint4(CAST({value} - DATE '2000-01-01' AS integer))"
                    f" WHEN {value} > DATE '2000-01-01' THEN 8589934592 ELSE -8589934592 END")
        if base in ("timestamp without time zone", "timestamp with time zone"):
            ts = f"({value} AT TIME ZONE 'UTC')" if base == "timestamp with time zone" else value
            # timestamp_hash XOR-folds the microseconds' high 32 bits into the low ones; the epoch
            # (float8, exact to well under a millisecond for every valid timestamp) tells such
            # partners apart, which lie 35 minutes or more apart; the two together tell every pair.
            return (f"(CAST(timestamp_hash({ts}) AS bigint)"
                    f" + coalesce(hashfloat8(date_part('epoch', {ts})), 0))")
        if base == "bytea":
            return self._text_hash(f"encode({value}, 'hex')")
        fn = _TYPE_HASH.get(base)
        if fn is not None:
            return f"{fn}({value})"
        return self._text_hash(f"CAST({value} AS text)")

    @staticmethod
    def _text_hash(text: str) -> str:
        """A text's bytes hashed: no collation keys, trailing spaces counted."""
        return f"hashtext(textcat({text} COLLATE \"C\", '.'))"
