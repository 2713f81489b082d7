"""Rows of a diagnostic table (one row per finding or per reading level) for printing and for CSV files.

A row is built from the dict of :meth:`assistcore.metrics.DiagnosticTable.to_dict` with ``auc`` and
``auc_ci95`` added (as the evaluations of the assistants do): the leading column names what the row is about,
then ``n`` and the chosen metric columns, the AUC's 95 % interval written ``low-high`` with three decimals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Every column a row can have, after the leading one and ``n``: the source study's table (the spine study).
DIAGNOSTIC_COLUMNS = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "plr", "nlr", "f1", "auc", "auc_ci95")
#: Short column name -> key in :meth:`DiagnosticTable.to_dict` where they differ.
_TABLE_KEYS = {"plr": "positive_likelihood_ratio", "nlr": "negative_likelihood_ratio"}


def format_interval(interval: Sequence[float] | None) -> str:
    """``(0.81234, 0.9)`` -> ``"0.812-0.900"``; no interval -> ``""``."""
    return "" if not interval else f"{interval[0]:.3f}-{interval[1]:.3f}"


def diagnostic_row(
    key: str, name: str, table: Mapping[str, Any], columns: Sequence[str] = DIAGNOSTIC_COLUMNS
) -> dict[str, Any]:
    """``{key: name, "n": table["n"], column: value ...}`` for ``columns`` (of :data:`DIAGNOSTIC_COLUMNS`).

    ``auc`` is None when the table has none (a single class); ``auc_ci95`` is formatted by
    :func:`format_interval`. Raises KeyError for a metric column the table lacks.
    """
    row: dict[str, Any] = {key: name, "n": table["n"]}
    for column in columns:
        if column == "auc":
            row[column] = table.get("auc")
        elif column == "auc_ci95":
            row[column] = format_interval(table.get("auc_ci95"))
        else:
            row[column] = table[_TABLE_KEYS.get(column, column)]
    return row
