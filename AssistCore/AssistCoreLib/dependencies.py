"""Python packages the core needs beyond what 3D Slicer ships, and which of them are missing.

Pure (no Slicer import): the Slicer-side installer in ``slicerDependencies.py`` uses this list.
"""

from __future__ import annotations

import importlib.util

#: import name -> pip requirement. SimpleITK, numpy and VTK come with Slicer; torch with its PyTorch extension.
REQUIREMENTS = {
    "pydicom": "pydicom>=2.4",
    "jsonschema": "jsonschema>=4.18",
    "scipy": "scipy>=1.10",
    "sklearn": "scikit-learn>=1.3",
    "matplotlib": "matplotlib>=3.7",
    "platformdirs": "platformdirs>=3.0",
    "tqdm": "tqdm>=4.60",
    "monai": "monai>=1.3",
    "nibabel": "nibabel>=5.0",
}


def missingRequirements(importNames: list[str] | None = None) -> list[str]:
    """pip requirements whose import name cannot be found (nothing is imported to find out)."""
    names = importNames or list(REQUIREMENTS)
    return [REQUIREMENTS[name] for name in names if importlib.util.find_spec(name) is None]
