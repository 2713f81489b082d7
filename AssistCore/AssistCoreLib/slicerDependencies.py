"""Installing missing Python packages into Slicer: at the point of use, after asking, never at import.

Imported only inside the Slicer app (it calls ``slicer.util``). The list of packages is in
``dependencies.py``.
"""

from __future__ import annotations

import importlib
import importlib.util

from .dependencies import missingRequirements

#: Lowest torch the core's networks are tested with (pyproject's ``ml`` extra says the same).
TORCH_REQUIREMENT = ">=2.1"


def ensureRequirements(parentWidget=None) -> bool:
    """Make sure torch and the core's packages are importable, asking the user before installing anything.

    torch comes first and only through the PyTorch extension: installing MONAI while torch is missing
    would let pip pull a generic torch wheel from PyPI that may not match the GPU driver.

    :returns: True when everything is importable; False when the user declined or the PyTorch extension
        is missing (the user has been told what to do).
    :raises RuntimeError: pip ran but some packages are still missing.
    """
    import slicer
    from slicer.i18n import tr as _

    if not ensureTorch(parentWidget):
        return False
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


def ensureTorch(parentWidget=None) -> bool:
    """torch importable, installed on request through the PyTorch extension's ``PyTorchUtils`` module.

    :returns: False when the extension is missing or the user declined (after saying so).
    """
    import slicer
    from slicer.i18n import tr as _

    if importlib.util.find_spec("torch") is not None:
        return True
    try:
        import PyTorchUtils
    except ModuleNotFoundError:
        slicer.util.errorDisplay(
            _(
                "RadAssist needs PyTorch. Install the PyTorch extension from the Extensions Manager, restart "
                "Slicer and try again."
            ),
            parent=parentWidget,
        )
        return False
    # PyTorchUtils picks the wheel matching the installed GPU driver (or CPU) and asks before installing.
    torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
        askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT
    )
    importlib.invalidate_caches()
    return torch is not None
