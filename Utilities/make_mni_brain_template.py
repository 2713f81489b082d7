"""Write the MNI ICBM152 2009a T1 template and brain mask at 2 mm that BrainTumorLabel uses to strip skulls.

Run `python Utilities/make_mni_brain_template.py` (needs nilearn, whose wheel ships the template). Writes
`AssistCore/assistcore/data/mni152_2009a_t1_2mm.nii.gz` and `..._brainmask_2mm.nii.gz` (uint8). The MNI
copyright notice that goes with them is in THIRD_PARTY_NOTICES.md.
"""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
from nilearn import datasets

DATA = Path(__file__).resolve().parents[1] / "AssistCore" / "assistcore" / "data"


def main() -> None:
    template = datasets.load_mni152_template(resolution=2)
    mask = datasets.load_mni152_brain_mask(resolution=2)
    t1 = np.asarray(template.get_fdata(), dtype=np.float32)
    t1_uint8 = np.clip(np.round(t1 / max(float(t1.max()), 1e-6) * 255.0), 0, 255).astype(np.uint8)
    brain = np.asarray(mask.get_fdata() > 0.5, np.uint8)
    for name, array, like in (("t1", t1_uint8, template), ("brainmask", brain, mask)):
        image = nibabel.Nifti1Image(array, like.affine)
        image.header.set_data_dtype(np.uint8)
        nibabel.save(image, DATA / f"mni152_2009a_{name}_2mm.nii.gz")


if __name__ == "__main__":
    main()
