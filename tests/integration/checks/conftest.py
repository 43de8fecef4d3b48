"""Check fixtures: the engine's scratch source/target tables, connections, specs and batch contexts."""

from __future__ import annotations

from tests.integration.engine.conftest import *  # noqa: F403 - re-export the engine's fixtures
