"""A small model of prom/statsd-exporter's glob mapping, for checking statsd_mapping.yml here.

statsd-exporter is not packaged for Debian, so the tests cannot run the binary. This follows
its documented rules: glob is the default match type; ``*`` stands for exactly one
dot-separated component; rules are tried in file order and the first match wins; ``$n`` and
``${n}`` are replaced by the n-th wildcard; ``action: drop`` discards the event; timers
(``|ms``) become histograms (or summaries) in seconds. Anything unmapped becomes a label-less
metric named after the StatsD name with non-alphanumerics turned into ``_``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import statsd
import yaml

MAPPING_FILE = Path(__file__).resolve().parents[2] / "include" / "monitoring" / "statsd_mapping.yml"
STATSD_TYPES = {"c": "counter", "g": "gauge", "ms": "observer", "h": "observer", "d": "observer"}


@dataclass(frozen=True)
class Sample:
    """One Prometheus series the exporter makes of one StatsD line (None when dropped)."""

    name: str
    labels: dict[str, str] = field(hash=False)
    kind: str  # counter | gauge | histogram | summary
    value: float
    mapped: bool


class Mapper:
    def __init__(self, path: Path = MAPPING_FILE) -> None:
        self.config = yaml.safe_load(path.read_text())
        self.defaults = self.config.get("defaults") or {}
        self.rules = self.config["mappings"]

    @staticmethod
    def _glob(pattern: str) -> re.Pattern[str]:
        parts = [
            "([^.]+)" if part == "*" else re.escape(part).replace(r"\*", "([^.]*)")
            for part in pattern.split(".")
        ]
        return re.compile(r"\.".join(parts) + r"\Z")

    @staticmethod
    def _expand(template: str, groups: tuple[str, ...]) -> str:
        return re.sub(r"\$\{?(\d+)\}?", lambda m: groups[int(m.group(1)) - 1], template)

    def rule_for(self, statsd_name: str, statsd_type: str) -> tuple[dict, tuple[str, ...]] | None:
        for rule in self.rules:
            if rule.get("match_type", self.defaults.get("match_type", "glob")) != "glob":
                raise AssertionError(f"model only handles glob rules: {rule['match']}")
            wanted = rule.get("match_metric_type")
            if wanted and wanted != STATSD_TYPES[statsd_type]:
                continue
            m = self._glob(rule["match"]).match(statsd_name)
            if m:
                return rule, m.groups()
        return None

    def map_line(self, line: str) -> Sample | None:
        """Map one StatsD line ``name:value|type`` as statsd-exporter would."""
        name, _, rest = line.partition(":")
        value_s, _, kind_s = rest.partition("|")
        statsd_type = kind_s.split("|")[0]
        value = float(value_s)
        kind = STATSD_TYPES[statsd_type]
        if kind == "observer":
            if statsd_type == "ms":
                value /= 1000.0
        found = self.rule_for(name, statsd_type)
        if found is None:
            prom_name = re.sub(r"[^a-zA-Z0-9_]", "_", name)
            labels: dict[str, str] = {}
            rule: dict = {}
        else:
            rule, groups = found
            if rule.get("action", "map") == "drop":
                return None
            prom_name = self._expand(rule["name"], groups)
            labels = {k: self._expand(str(v), groups) for k, v in (rule.get("labels") or {}).items()}
        if kind == "observer":
            kind = rule.get("observer_type", self.defaults.get("observer_type", "summary"))
        return Sample(prom_name, labels, kind, value, found is not None)


def series_names(sample: Sample) -> set[str]:
    """The names a query may use for ``sample``'s metric (histograms expose three series)."""
    if sample.kind == "histogram":
        return {f"{sample.name}_bucket", f"{sample.name}_sum", f"{sample.name}_count"}
    if sample.kind == "summary":
        return {sample.name, f"{sample.name}_sum", f"{sample.name}_count"}
    return {sample.name}



class RecordingStatsClient(statsd.StatsClient):
    """Stands in via ``[metrics] statsd_custom_client_path``: keeps the lines instead of sending them."""

    lines: list[str] = []

    def _send(self, data: str) -> None:
        RecordingStatsClient.lines.extend(data.splitlines())
