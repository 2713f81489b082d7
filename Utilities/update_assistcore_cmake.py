"""Rewrite the file lists in AssistCore/CMakeLists.txt from the files on disk.

Run `python Utilities/update_assistcore_cmake.py`.

Testing/test_extension_layout.py fails when a file is missing from the lists; this brings them up to date.
"""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "AssistCore"


def main() -> None:
    cmake = CORE / "CMakeLists.txt"
    packages = ("assistcore", "AssistCoreLib")
    python_files = sorted(
        str(path.relative_to(CORE)) for package in packages for path in (CORE / package).rglob("*.py")
    )
    scripts = ["AssistCore.py", *python_files]
    found = [path for pattern in ("*.json", "*.nii.gz") for path in (CORE / "assistcore").rglob(pattern)]
    resources = sorted(str(path.relative_to(CORE)) for path in found)
    text = cmake.read_text()
    for name, items in (("SCRIPTS", scripts), ("RESOURCES", resources)):
        block = f"set(MODULE_PYTHON_{name}\n" + "\n".join(f"  {item}" for item in items) + "\n  )"
        text = re.sub(rf"set\(MODULE_PYTHON_{name}\n.*?\n  \)", block, text, flags=re.S)
    cmake.write_text(text)


if __name__ == "__main__":
    main()
