"""Server differences are data: one frozen Capabilities per dialect, read as ``dialect.caps``."""

from __future__ import annotations

import dataclasses

import pytest

from gaussdb_batch.dialects import Capabilities, get_dialect


@pytest.mark.parametrize(("family", "binary"), [("postgres", True), ("gaussdb", False)])
def test_a_family_defaults_binary_copy(family, binary):
    d = get_dialect(family)
    assert d.caps == Capabilities(binary_copy=binary)


def test_options_become_capabilities_and_the_dialect_reads_them():
    d = get_dialect("gaussdb", skip_locked=False, astore=True, distributed=True, empty_is_null=True,
                    check_numbers=True, upsert_style="on_duplicate_key")
    assert d.caps == Capabilities(skip_locked=False, astore=True, distributed=True, empty_is_null=True,
                                  check_numbers=True, upsert_style="on_duplicate_key")
    # Read from the one object: the dialect has no copies of them.
    assert not any(hasattr(d, name) for name in ("skip_locked", "astore", "distributed", "empty_is_null"))
    assert d.needs_unique_columns


def test_detected_capabilities_are_taken_as_they_are():
    caps = Capabilities(skip_locked=False)
    assert get_dialect("gaussdb", capabilities=caps).caps is caps
    with pytest.raises(TypeError, match="not both"):
        get_dialect("gaussdb", capabilities=caps, astore=True)


def test_capabilities_are_frozen_and_checked():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Capabilities().astore = True  # type: ignore[misc]
    with pytest.raises(ValueError, match="upsert_style"):
        Capabilities(upsert_style="replace")
    with pytest.raises(TypeError):
        Capabilities.for_family("gaussdb", no_such_capability=True)


def test_narrowing_keeps_the_capabilities():
    d = get_dialect("gaussdb", astore=True)
    assert d.for_target(["k"]).caps is d.caps and d.for_landing(True).caps is d.caps
