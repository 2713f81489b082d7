"""Records (a list of dicts) <-> vtkMRMLTableNode, keeping column order and numeric types."""

from __future__ import annotations

from typing import Any


def recordsToTableNode(scene, records: list[dict[str, Any]], name: str, columns: list[str] | None = None):
    """A table node with one row per record; integer, float, bool and text columns get matching VTK arrays."""
    import vtk

    columns = columns or list(dict.fromkeys(key for record in records for key in record))
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table = node.GetTable()
    for column in columns:
        values = [record.get(column) for record in records]
        present = [value for value in values if value is not None]
        if present and all(isinstance(value, bool) for value in present):
            array, convert = vtk.vtkBitArray(), lambda v: int(bool(v))
        elif (
            present
            and all(isinstance(value, int) and not isinstance(value, bool) for value in present)
            and len(present) == len(values)
        ):
            array, convert = vtk.vtkIntArray(), int
        elif present and all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
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
    """Rows of a table node as dicts (ints, floats, bools and strings as stored)."""
    import vtk

    table = node.GetTable()
    records = [{} for _ in range(table.GetNumberOfRows())]
    for columnIndex in range(table.GetNumberOfColumns()):
        array = table.GetColumn(columnIndex)
        name = array.GetName()
        for row, record in enumerate(records):
            value = array.GetValue(row)
            if isinstance(array, vtk.vtkBitArray):
                value = bool(value)
            record[name] = value
    return records
