"""The project's small exception hierarchy.

Every error says what failed, the value seen and what to do. The core never prints or opens
dialogs: the command line turns these into one line on stderr, the Slicer widget into a message box.
"""

from __future__ import annotations


class RadAssistError(Exception):
    """Base of every error RadAssist raises on purpose.

    :param message: what failed, naming the file or value involved.
    :param hint: what the user can do about it (optional, appended to the message).
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}" if hint else message)


class InputError(RadAssistError):
    """An input path, file or image cannot be used (missing, empty, unreadable, wrong shape)."""


class DicomError(InputError):
    """A DICOM file or series cannot be read (corrupt, truncated, inconsistent slices)."""


class AmbiguousSeriesError(InputError):
    """A folder holds several series and the caller did not choose one.

    :param series: the candidates found, so a caller can list them.
    """

    def __init__(self, message: str, series: list | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.series = list(series or [])


class GeometryError(InputError):
    """An image has the wrong dimensionality or grids that do not match."""


class ImageValueError(InputError):
    """Voxel values that cannot be processed (NaN or infinite)."""


class OutputError(RadAssistError):
    """Results cannot be written where asked (a folder of other files, read-only, disk full)."""


class ModelError(RadAssistError):
    """A model card, bundle or weights file cannot be found, validated or loaded."""


class ChecksumError(ModelError):
    """A weights file does not match the sha256 in its model card."""


class CancelledError(RadAssistError):
    """A run was cancelled by its cancel token."""
