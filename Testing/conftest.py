"""Shared pytest fixtures: where the real sample data lives, small synthetic images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`$RADASSIST_DATA`, else `../shared/data` beside the repository."""
    return Path(os.environ.get("RADASSIST_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real public samples. In CI (CI=true) their absence fails loudly; elsewhere it skips."""
    path = shared_data_dir()
    if not path.is_dir():
        message = f"real sample data not found at {path} (set RADASSIST_DATA)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def prostatex_t2_dir(real_data_dir: Path) -> Path:
    """The oblique axial T2 TSE DICOM series of ProstateX-0000 (19 slices)."""
    matches = sorted(real_data_dir.glob("pelvis_prostatex_dicom/ProstateX-0000/*/*t2tsetra*"))
    assert matches, f"ProstateX-0000 axial T2 series missing under {real_data_dir}"
    return matches[0]


@pytest.fixture(scope="session")
def cervical_t2_psr_path(real_data_dir: Path) -> Path:
    """The PSR-oriented cervical spine T2 NIfTI."""
    return real_data_dir / "spine_sct_cervical" / "t2" / "t2.nii.gz"


@pytest.fixture
def an_oblique_image():
    """A small 3D image with non-trivial spacing, origin and an oblique, non-RAS direction."""
    from assistcore.image import Image

    rng = np.random.default_rng(0)
    angle = np.deg2rad(17.0)
    rotation = np.array([[np.cos(angle), 0.0, np.sin(angle)], [0.0, 1.0, 0.0], [-np.sin(angle), 0.0, np.cos(angle)]])
    flip = np.diag([1.0, -1.0, 1.0])  # a left-handed-looking permutation seen in real headers
    direction = rotation @ flip
    array_kji = rng.normal(100.0, 20.0, size=(7, 12, 10)).astype(np.float32)
    return Image(array_kji, (0.7, 0.8, 3.0), (-12.5, 30.25, 4.0), direction)


@pytest.fixture
def report_panel_module(monkeypatch):
    """AssistCoreLib/reportPanel.py loaded against qt/slicer stand-ins built from its .ui file."""
    from report_fixtures import load_report_panel_module

    return load_report_panel_module(monkeypatch)
