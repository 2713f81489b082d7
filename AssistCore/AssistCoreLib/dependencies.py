"""Python packages the core needs beyond what 3D Slicer ships, and which of them are missing.

Pure (no Slicer import, nothing installed, nothing imported to find out): the Slicer-side installer in
``slicerDependencies.py`` and the AssistCore help text use this list.
"""

from __future__ import annotations

import importlib.util

#: import name -> pip requirement. numpy, SimpleITK and VTK always come with Slicer; recent Slicer
#: releases also ship pydicom, scipy and Pillow (then they are simply found). Networks run with ONNX Runtime
#: inside Slicer (``assistcore.models.onnx_runtime``): torch, torchvision and MONAI are never needed there,
#: and must not be imported (their import of triton crashes a process that draws with OpenGL). For an NVIDIA
#: GPU a user installs ``onnxruntime-gpu`` instead of ``onnxruntime``.
REQUIREMENTS = {
    "pydicom": "pydicom>=2.4",
    "jsonschema": "jsonschema>=4.18",
    "scipy": "scipy>=1.10",
    "sklearn": "scikit-learn>=1.3",
    "matplotlib": "matplotlib>=3.7",
    "platformdirs": "platformdirs>=3.0",
    "PIL": "pillow>=10.0",
    "tqdm": "tqdm>=4.60",
    "nibabel": "nibabel>=5.0",
    "nrrd": "pynrrd>=1.0",
    "onnxruntime": "onnxruntime>=1.16",
}


def missingRequirements(importNames: list[str] | None = None) -> list[str]:
    """pip requirements (in ``REQUIREMENTS`` order) whose import name cannot be found.

    :param importNames: the import names to check (keys of ``REQUIREMENTS``); default: all of them.
    :raises KeyError: an import name that is not in ``REQUIREMENTS``.
    """
    names = list(REQUIREMENTS) if importNames is None else importNames
    return [REQUIREMENTS[name] for name in names if not _importable(name)]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # already imported with no __spec__ (set up by an embedding app): it is there
        return True
