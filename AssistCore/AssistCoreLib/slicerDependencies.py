"""Installing missing Python packages into Slicer: at the point of use, after asking, never at import."""

from __future__ import annotations

from .dependencies import missingRequirements


def ensureRequirements(parentWidget=None) -> bool:
    """Ask once and pip-install what the core lacks. Returns False when the user declines or PyTorch is missing."""
    import slicer
    from slicer.i18n import tr as _

    if not _torchAvailable():
        slicer.util.errorDisplay(
            _(
                "PyTorch is not installed. Install the PyTorch extension from the Extension Manager, restart "
                "Slicer and try again."
            ),
            parent=parentWidget,
        )
        return False
    missing = missingRequirements()
    if not missing:
        return True
    question = _("RadAssist needs these Python packages: {packages}. Install them now?").format(
        packages=", ".join(missing)
    )
    if not slicer.util.confirmOkCancelDisplay(question, parent=parentWidget):
        return False
    slicer.util.pip_install(" ".join(f'"{requirement}"' for requirement in missing))
    return not missingRequirements()


def _torchAvailable() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None
