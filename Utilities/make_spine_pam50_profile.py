"""Write SpineAssist's atlas data, derived from the PAM50 spinal cord template (MIT, NeuroPoly).

Run `python Utilities/make_spine_pam50_profile.py [PAM50_FOLDER]` (default: ../shared/data/spine_pam50_small, or
$RADASSIST_DATA/spine_pam50_small). Writes into AssistCore/assistcore/data/:

- ``spine_pam50_strip.nii.gz``: the template's T2 in its straightened-cord space as a mid-sagittal strip: the
  mean of the 5 sagittal planes (1 mm) through the cord centre, resampled to 1 mm along the cord, rows from the
  top of the template down (550 rows), columns from 30 mm posterior to 34 mm anterior of the cord centre
  (65 columns). Array (1, 550, 65) float32.
- ``spine_pam50_levels.json``: where the template's intervertebral discs lie along the cord (mm from the top of
  the strip), named by the Spinal Cord Toolbox label convention (disc value N lies between vertebrae N-1 and N:
  3 = C2/C3; vertebrae 1-7 = C1-C7, 8-19 = T1-T12, 20-24 = L1-L5), how far in front of the cord centre the
  posterior edge of each disc lies, the rows the cord covers, the licence and the citation.

PAM50: De Leener B, Fonov VS, Collins DL, Callot V, Stikov N, Cohen-Adad J. PAM50: unbiased multimodal template
of the brainstem and spinal cord aligned with the ICBM152 space. NeuroImage 165:170-179, 2018.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "AssistCore" / "assistcore" / "data"
VERTEBRA_NAMES = [f"C{n}" for n in range(1, 8)] + [f"T{n}" for n in range(1, 13)] + [f"L{n}" for n in range(1, 6)]
COLUMNS_MM = np.arange(-30, 35)  # anterior positive, from the cord centre


def disc_label_name(value: int) -> str:
    upper, lower = VERTEBRA_NAMES[value - 2], VERTEBRA_NAMES[value - 1]
    return f"{upper}/{lower[1:]}" if upper[0] == lower[0] == "C" else f"{upper}/{lower}"


def main(folder: Path) -> None:
    import nibabel as nib
    import SimpleITK as sitk
    from scipy import ndimage

    def load(name: str) -> tuple[np.ndarray, np.ndarray]:
        image = nib.load(str(folder / name))
        return np.asanyarray(image.dataobj).astype(np.float32), image.affine

    t2, affine = load("PAM50_small_t2.nii.gz")
    cord, _ = load("PAM50_small_cord.nii.gz")
    disc, _ = load("PAM50_small_label_disc.nii.gz")
    posterior, _ = load("PAM50_small_label_discPosterior.nii.gz")
    assert [str(c) for c in nib.aff2axcodes(affine)] == ["L", "A", "S"], "expected the LAS PAM50_small grid"
    size_z = t2.shape[2]
    spacing_z = float(abs(affine[2, 2]))
    centre_x, centre_y = (np.argwhere(cord > 0.5)[:, :2].mean(axis=0)).round().astype(int)
    strip = t2[centre_x - 2 : centre_x + 3].mean(axis=0)  # (y anterior, z superior)
    rows_mm = np.arange(int(size_z * spacing_z))  # top down, 1 mm
    z_index = (size_z - 1) - rows_mm / spacing_z
    y_index = centre_y + COLUMNS_MM
    grid_z, grid_y = np.meshgrid(z_index, y_index, indexing="ij")
    sampled = ndimage.map_coordinates(strip, [grid_y, grid_z], order=1, mode="nearest").astype(np.float32)
    image = sitk.GetImageFromArray(sampled[None])
    image.SetSpacing((1.0, 1.0, 1.0))
    sitk.WriteImage(image, str(OUT / "spine_pam50_strip.nii.gz"), useCompression=True)

    def row_of(z: float) -> float:
        return round(float((size_z - 1 - z) * spacing_z), 1)

    discs = []
    for value in range(2, 22):
        source = disc if (disc == value).any() else posterior
        points = np.argwhere(source == value)
        if not len(points):
            continue
        z = points[0][2]
        back = np.argwhere(posterior == value)
        anterior_mm = float(back[0][1] - centre_y) if len(back) else None
        discs.append(
            {
                "value": value,
                "name": disc_label_name(value),
                "row_mm": row_of(z),
                "posterior_edge_anterior_mm": anterior_mm,
                "from": "label_disc" if source is disc else "label_discPosterior",
            }
        )
    cord_z = np.nonzero((cord > 0.5).any(axis=(0, 1)))[0]
    document = {
        "source": "PAM50 spinal cord template (PAM50_small: 1 x 1 x 2 mm), Spinal Cord Toolbox, NeuroPoly",
        "licence": "MIT (Copyright (c) 2014 NeuroPoly); see THIRD_PARTY_NOTICES.md",
        "citation": "De Leener B, Fonov VS, Collins DL, Callot V, Stikov N, Cohen-Adad J. PAM50: unbiased multimodal "
        "template of the brainstem and spinal cord aligned with the ICBM152 space. NeuroImage 165:170-179, 2018.",
        "made_by": "Utilities/make_spine_pam50_profile.py",
        "strip": {
            "file": "spine_pam50_strip.nii.gz",
            "rows_mm": len(rows_mm),
            "columns_anterior_mm": [int(COLUMNS_MM[0]), int(COLUMNS_MM[-1])],
            "what": "mean of the 5 mid-sagittal planes of PAM50_small_t2, rows top down along the straight cord",
        },
        "label_convention": "SCT: disc value N lies between vertebrae N-1 and N (3 = C2/C3); 1-7 C1-C7, 8-19 "
        "T1-T12, 20-24 L1-L5",
        "discs": discs,
        "cord_rows_mm": [row_of(cord_z.max()), row_of(cord_z.min())],
    }
    (OUT / "spine_pam50_levels.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {OUT / 'spine_pam50_strip.nii.gz'} and spine_pam50_levels.json ({len(discs)} discs)")


if __name__ == "__main__":
    default = Path(os.environ.get("RADASSIST_DATA", ROOT.parent / "shared" / "data")) / "spine_pam50_small"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
