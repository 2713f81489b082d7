"""Installing missing Python packages into Slicer: at the point of use, after asking, never at import.

Imported only inside the Slicer app (it calls ``slicer.util``). The list of packages is in
``dependencies.py``.
"""

from __future__ import annotations

import importlib

from .dependencies import missingRequirements


def ensureRequirements(parentWidget=None) -> bool:
    """Make sure the core's packages are importable, asking the user before installing anything.

    No torch: inside Slicer the networks run with ONNX Runtime (see ``dependencies.REQUIREMENTS``), so the
    PyTorch extension is not needed.

    :returns: True when everything is importable; False when the user declined (nothing was installed).
    :raises RuntimeError: pip ran but some packages are still missing.
    """
    import slicer
    from slicer.i18n import tr as _

    missing = missingRequirements()
    if not missing:
        return True
    question = _(
        "RadAssist needs these Python packages: {packages}. Install them now? "
        "This needs an internet connection and may take a few minutes."
    ).format(packages=", ".join(missing))
    if not slicer.util.confirmOkCancelDisplay(question, parent=parentWidget):
        return False
    # A list: each requirement is one pip argument, so ">=" needs no shell quoting.
    slicer.util.pip_install(missing)
    importlib.invalidate_caches()  # let find_spec see the freshly installed packages
    stillMissing = missingRequirements()
    if stillMissing:
        raise RuntimeError(
            _("These packages could not be installed: {packages}. See the Python console for pip's output.").format(
                packages=", ".join(stillMissing)
            )
        )
    return True
