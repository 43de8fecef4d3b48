"""Every operator documents its constructor with ``:param name:`` lines, as Airflow's own operators do
(Airflow renders them): a parameter added without its line, or a line left for a parameter gone, fails."""

from __future__ import annotations

import inspect
import re

import pytest
from airflow.sdk import BaseOperator

from gaussdb_batch.operators import adaptive, batch, reconcile

OPERATORS = sorted({obj for module in (batch, adaptive, reconcile) for obj in vars(module).values()
                    if inspect.isclass(obj) and issubclass(obj, BaseOperator) and obj.__module__ == module.__name__},
                   key=lambda c: c.__name__)


def _parameters(cls: type) -> set[str]:
    """The keyword parameters the class's own constructors add to BaseOperator's."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is BaseOperator or not issubclass(klass, BaseOperator) or "__init__" not in vars(klass):
            continue
        names |= {p.name for p in inspect.signature(vars(klass)["__init__"]).parameters.values()
                  if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"}
    return names


def test_the_operators_are_found():
    assert {"ExtractOperator", "LoadLaneOperator", "CheckOperator", "CompensateOperator", "FinalizeOperator",
            "BacklogSensor", "AdvanceWatermarkOperator", "ReconcileOperator"} <= {c.__name__ for c in OPERATORS}


@pytest.mark.parametrize("cls", OPERATORS, ids=lambda c: c.__name__)
def test_every_constructor_parameter_has_its_param_line(cls):
    documented = set(re.findall(r"^\s*:param (\w+):", inspect.getdoc(cls) or "", re.M))
    assert documented == _parameters(cls)
