"""MRML adapters shared by the RadAssist modules: assistcore types <-> Slicer nodes.

Every function takes the scene (or nodes) as arguments and never touches ``slicer.mrmlScene``, so the same
code runs in the Slicer desktop app and headless on the PyPI ``slicer-core`` wheel (where the tests run).
RAS <-> LPS is converted here and nowhere else. No Qt is imported.
"""
