"""What a source system generated, per source and month, for the summary file."""

from __future__ import annotations

from collections import Counter
from datetime import date


class MonthlyCounts:
    """Counts of generated records by (source, month)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, source: str, day: date, n: int = 1) -> None:
        self._counts[(source, f"{day:%Y-%m}")] += n

    def update(self, other: MonthlyCounts) -> None:
        self._counts.update(other._counts)

    def total(self, source: str) -> int:
        return sum(n for (s, _), n in self._counts.items() if s == source)

    def totals(self) -> dict[str, int]:
        result: Counter[str] = Counter()
        for (source, _), n in self._counts.items():
            result[source] += n
        return dict(sorted(result.items()))

    def by_month(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for (source, month), n in sorted(self._counts.items()):
            table.setdefault(source, {})[month] = n
        return table

    def as_dict(self) -> dict[str, object]:
        return {"totals": self.totals(), "by_month": self.by_month()}
