"""CaPTk's DeepMedic brain tumour model as constructor arguments: shared by the torch-free description
(:mod:`assistcore.brain.deepmedic_network`) and the torch modules (:mod:`assistcore.brain.deepmedic_torch`)."""

from __future__ import annotations

from typing import Any

#: CaPTk 1.9's brain tumour model (modelConfig.txt of ``dm1Sc3Thin3Seg40_gt4C_HGG587_forCaPTk124``), as the
#: constructor's keyword arguments (also the model card's ``network`` section, with the ``_target_``)
CAPTK_BRAIN_TUMOR_CONFIG: dict[str, Any] = {
    "in_channels": 4,
    "num_classes": 5,
    "fms_normal": [10, 12, 14, 16, 18, 20, 22, 25],
    "fms_subsampled": [[10, 12, 14, 16, 18, 20, 22, 25], [10, 12, 14, 16, 18, 20, 22, 25]],
    "subsample_factors": [3, 5],
    "kernel_size": 3,
    "residual_layers": [4, 6, 8],
    "fms_fc": [60, 80],
    "kernel_first_fc": 3,
    "residual_layers_fc": [2],
    "dropout_fc": [0.0, 0.3, 0.3],
    "rolling_batches": 60,
}
