"""Records (a list of dicts) <-> vtkMRMLTableNode, keeping column order and numeric types.

Column types: all-bool -> vtkBitArray, all-int (no gaps) -> vtkIntArray, numbers (gaps allowed) ->
vtkDoubleArray with NaN for a missing value, anything else -> vtkStringArray ("" for missing). Slicer saves
these types in the table's .schema.tsv, so they survive a .mrb bundle.
"""

from __future__ import annotations

import math
from typing import Any

COLUMN_TYPES = ("bool", "int", "float", "string")


def _columnType(values: list[Any]) -> str:
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present):
        return "bool"
    numbers = [value for value in present if isinstance(value, int | float) and not isinstance(value, bool)]
    if present and len(numbers) == len(present):
        return "int" if len(present) == len(values) and all(isinstance(v, int) for v in present) else "float"
    return "string"


def recordsToTableNode(
    scene,
    records: list[dict[str, Any]],
    name: str,
    columns: list[str] | None = None,
    columnTypes: dict[str, str] | None = None,
):
    """A table node with one row per record.

    :param columns: column order (default: keys in first-seen order over all records).
    :param columnTypes: force a column's type ("bool", "int", "float" or "string"); others are inferred.
    """
    import vtk

    from assistcore.errors import InputError

    columns = columns or list(dict.fromkeys(key for record in records for key in record))
    columnTypes = columnTypes or {}
    wrong = {column: kind for column, kind in columnTypes.items() if kind not in COLUMN_TYPES}
    if wrong:
        raise InputError(f"Unknown column types {wrong} for table {name!r}.", f"Use one of {COLUMN_TYPES}.")
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table = node.GetTable()
    for column in columns:
        values = [record.get(column) for record in records]
        kind = columnTypes.get(column) or _columnType(values)
        if kind == "bool":
            array, convert = vtk.vtkBitArray(), lambda v: int(bool(v))
        elif kind == "int":
            array, convert = vtk.vtkIntArray(), lambda v: 0 if v is None else int(v)
        elif kind == "float":
            array, convert = vtk.vtkDoubleArray(), lambda v: float("nan") if v is None else float(v)
        else:
            array, convert = vtk.vtkStringArray(), lambda v: "" if v is None else str(v)
        array.SetName(column)
        for value in values:
            array.InsertNextValue(convert(value))
        table.AddColumn(array)
    node.Modified()
    return node


def tableNodeToRecords(node) -> list[dict[str, Any]]:
    """Rows of a table node as dicts in column order: ints, floats, bools and strings as stored; NaN in a
    float column (a missing value) comes back as None."""
    import vtk

    table = node.GetTable()
    records: list[dict[str, Any]] = [{} for _ in range(table.GetNumberOfRows())]
    for columnIndex in range(table.GetNumberOfColumns()):
        array = table.GetColumn(columnIndex)
        name = array.GetName()
        isBool = isinstance(array, vtk.vtkBitArray)
        for row, record in enumerate(records):
            value = array.GetValue(row)
            if isBool:
                value = bool(value)
            elif isinstance(value, float) and math.isnan(value):
                value = None
            record[name] = value
    return records
