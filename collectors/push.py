"""Push collectors: evidence whose rows arrive by API instead of being pulled.

A push collector is declared like any other (params, typed columns, assertions, controls,
``max_age``) and registered with ``@register``; it subclasses :class:`PushCollector` instead
of :class:`~collectors.base.Collector`. pixaudit never schedules or pulls it: a CI job, a
restore exercise or a scanner posts rows to ``POST /api/v1/push/<key>/``. The server checks
them with :func:`push_rows_validate` (every problem named, nothing stored on any problem) and
evaluates the assertions with :func:`collectors.evaluate.evaluate_assertions`, exactly as for
pulled rows; plugin authors test their checks with :func:`push_evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from collectors.base import Collector, CollectorError, Finding
from collectors.evaluate import evaluate_assertions
from collectors.schema import coerce_rows

if TYPE_CHECKING:
    from collectors.context import CollectionContext

__all__ = ["MAX_PROBLEMS", "PushCollector", "PushRejected", "push_evaluate", "push_rows_validate"]

#: At most this many problems are listed for one refused push (the count stays exact).
MAX_PROBLEMS = 100


class PushCollector(Collector):
    """Base class of collectors whose rows are pushed by API (never pulled).

    ``required_columns`` name the columns every pushed row must carry with a value; the
    others may be missing or ``null``.
    """

    push: ClassVar[bool] = True
    required_columns: ClassVar[tuple[str, ...]] = ()

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Push collectors are never pulled: a run of one fails permanently, saying why."""
        raise CollectorError(
            f"{self.key} is a push collector: its rows arrive by POST /api/v1/push/{self.key}/ "
            "and cannot be collected",
            permanent=True,
        )


class PushRejected(Exception):
    """A push that cannot be stored. ``problems`` are ``{"row", "column", "detail"}`` dicts
    (``row``/``column`` ``None`` when the problem is not about one); ``count`` is exact."""

    def __init__(self, problems: list[dict[str, Any]], count: int | None = None):
        self.problems = problems[:MAX_PROBLEMS]
        self.count = len(problems) if count is None else count
        super().__init__(f"{self.count} problem(s) in the pushed rows")


def _problem(row: int | None, column: str | None, detail: str) -> dict[str, Any]:
    return {"row": row, "column": column, "detail": detail}


def _column_problems(column, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every row whose value in ``column`` cannot be coerced (only on the error path)."""
    values = [row.get(column.name) for row in rows]
    try:
        coerce_rows([column], [{column.name: v} for v in values])
        return []
    except CollectorError:
        pass
    problems = []
    for index, value in enumerate(values):
        try:
            coerce_rows([column], [{column.name: value}])
        except CollectorError as exc:
            detail = exc.message.replace(" in row 0", "").replace("row 0: ", "")
            problems.append(_problem(index, column.name, detail))
    return problems


def push_rows_validate(cls: type[PushCollector], rows: Any) -> list[dict[str, Any]]:
    """Return ``rows`` coerced to ``cls``'s declared columns, or raise :class:`PushRejected`
    naming every problem: a row that is not an object, an undeclared column, a missing
    required value, a value of the wrong type (NaN and infinities included)."""
    if not isinstance(rows, list):
        raise PushRejected([_problem(None, None, "rows must be a JSON array of objects")])
    if not rows:
        raise PushRejected([_problem(None, None, "no rows: push at least one row")])
    problems: list[dict[str, Any]] = []
    declared = {c.name for c in cls.columns}
    names = ", ".join(c.name for c in cls.columns)
    good: list[Mapping[str, Any]] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(_problem(index, None, f"a {type(row).__name__}, expected an object"))
            good.append({})
            continue
        good.append(row)
        for key in sorted(str(k) for k in row if k not in declared):
            problems.append(_problem(index, key, f"undeclared column (declared: {names})"))
        for name in cls.required_columns:
            value = row.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append(_problem(index, name, "a value is required"))
    if not problems:
        try:  # the common case: one pass over the whole table
            return coerce_rows(cls.columns, rows)
        except CollectorError:
            pass
    for column in cls.columns:
        problems.extend(_column_problems(column, good))
    if problems:
        problems.sort(key=lambda p: (p["row"] if p["row"] is not None else -1, p["column"] or ""))
        raise PushRejected(problems)
    return coerce_rows(cls.columns, rows)


def push_evaluate(
    cls: type[PushCollector],
    rows: Any,
    *,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Validate ``rows`` and evaluate every assertion of ``cls``: ``(rows, findings)``."""
    coerced = push_rows_validate(cls, rows)
    return coerced, evaluate_assertions(cls, coerced, [], thresholds=thresholds)
