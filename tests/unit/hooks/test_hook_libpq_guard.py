"""The child-process probe that keeps a crashing driver out of the worker."""

from __future__ import annotations

import pytest

from gaussdb_batch.hooks import libpq_guard


@pytest.fixture(autouse=True)
def fresh_cache():
    libpq_guard.reset_cache()
    yield
    libpq_guard.reset_cache()


def test_a_crashing_probe_becomes_a_clear_error(monkeypatch):
    monkeypatch.setattr(libpq_guard, "_PROBE", "import ctypes; ctypes.string_at(0)")
    with pytest.raises(libpq_guard.DriverUnavailableError) as caught:
        libpq_guard.ensure_gaussdb_driver_usable()
    assert "killed by SIGSEGV" in str(caught.value)
    assert "Huawei's GaussDB libpq" in str(caught.value)


def test_the_result_is_cached(monkeypatch):
    calls = []
    monkeypatch.setattr(libpq_guard, "_probe", lambda timeout: calls.append(timeout) or "")
    libpq_guard.ensure_gaussdb_driver_usable()
    libpq_guard.ensure_gaussdb_driver_usable()
    assert len(calls) == 1


def test_a_failing_import_is_reported(monkeypatch):
    monkeypatch.setattr(libpq_guard, "_PROBE", "raise SystemExit('no libpq here')")
    with pytest.raises(libpq_guard.DriverUnavailableError, match="status 1: no libpq here"):
        libpq_guard.ensure_gaussdb_driver_usable()
