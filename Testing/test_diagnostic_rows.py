"""One builder for the rows of diagnostic tables (spine evaluate's study table, CRM evaluate's levels)."""

from __future__ import annotations

import pytest

from assistcore.diagnostic_rows import DIAGNOSTIC_COLUMNS, diagnostic_row, format_interval
from assistcore.metrics import diagnostic_table_from_scores


def a_table() -> dict:
    table = diagnostic_table_from_scores([1, 1, 0, 0, 1], [0.9, 0.4, 0.2, 0.7, 0.8], 0.5).to_dict()
    table.update(auc=0.8333, auc_ci95=[0.51234, 1.0])
    return table


def test_a_row_names_its_subject_then_n_then_the_study_columns_in_order():
    table = a_table()
    row = diagnostic_row("finding", "herniation", table)
    assert list(row) == ["finding", "n", *DIAGNOSTIC_COLUMNS]
    assert row["finding"] == "herniation" and row["n"] == 5
    assert row["sensitivity"] == table["sensitivity"] and row["plr"] == table["positive_likelihood_ratio"]
    assert row["auc_ci95"] == "0.512-1.000"


def test_a_row_keeps_only_the_columns_asked_for():
    row = diagnostic_row("level", "image", a_table(), ("accuracy", "auc", "auc_ci95"))
    assert list(row) == ["level", "n", "accuracy", "auc", "auc_ci95"]


def test_a_table_without_auc_gives_an_empty_interval():
    table = a_table()
    table.update(auc=None, auc_ci95=None)
    row = diagnostic_row("finding", "listhesis", table)
    assert row["auc"] is None and row["auc_ci95"] == ""
    assert format_interval(None) == ""


def test_an_unknown_column_is_refused():
    with pytest.raises(KeyError):
        diagnostic_row("finding", "x", a_table(), ("youden",))
