"""Where things live: the source checkout, bundled models, real sample data."""

from __future__ import annotations

import os
from pathlib import Path

#: AssistCore/assistcore/paths.py -> repository root (two levels above the package folder).
PACKAGE_DIR = Path(__file__).resolve().parent
REPOSITORY_ROOT = PACKAGE_DIR.parent.parent


def sample_data_dir() -> Path:
    """The real public samples: ``$RADASSIST_DATA``, else ``../shared/data`` beside the checkout.

    The folder may not exist (an installed package without the shared data); callers check.
    """
    configured = os.environ.get("RADASSIST_DATA")
    return Path(configured) if configured else REPOSITORY_ROOT.parent / "shared" / "data"


def require_sample_data_dir() -> Path:
    """Like :func:`sample_data_dir` but raise a clear InputError when the folder is missing."""
    from .errors import InputError

    folder = sample_data_dir()
    if not folder.is_dir():
        raise InputError(
            f"Sample data folder not found: {folder}.",
            "Set RADASSIST_DATA to the folder holding the RadAssist sample data (the 'shared/data' folder).",
        )
    return folder
