"""assistcore: the pure-Python core of RadAssist.

Importing this package imports numpy only: no Slicer, VTK, Qt or torch (a test checks it).
SimpleITK, pydicom, torch and MONAI are imported inside the functions that need them.
"""

__version__ = "0.1.0"

from .errors import RadAssistError  # noqa: F401
