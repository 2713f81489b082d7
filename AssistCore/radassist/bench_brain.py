"""`radassist bench brain`: our BrainTumorLabel run against MONAI's model-zoo BraTS recipe on one real case.

Each variant runs in its own process so that its peak memory (ru_maxrss) is its own. The MONAI baseline
follows the brats_mri_segmentation bundle's inference recipe: load the four NIfTI files, channel first,
RAS orientation, 1 mm spacing, z-score over non-zero voxels per channel, SegResNet (init_filters 16,
4.7 M parameters) on one 240x240x160 window with overlap 0.5, sigmoid, threshold 0.5, write NIfTI. Its
weights are random here (no model hub is reachable): the timing and memory do not depend on them.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from .fresh_process import call_in_fresh_interpreter

CASE = "brain_tcga/TCGA-DU-7294/TCGA-DU-7294_brainles/raw_bet"
ROLES = {"t1": "t1", "t1c": "t1c", "t2": "t2", "flair": "fla"}


def case_paths(data_dir: Path) -> dict[str, Path]:
    folder = data_dir / CASE
    return {role: folder / f"TCGA-DU-7294_{suffix}_bet.nii.gz" for role, suffix in ROLES.items()}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def monai_baseline(data_dir: Path) -> dict:
    """MONAI's BraTS bundle recipe end to end in this fresh process: imports (torch, MONAI), reading and
    resampling, one 240x240x160 window, writing the labels. The clock starts before the imports, as it does
    for ours (whose imports happen inside the call it times), so both are first cases in a fresh process."""
    started = time.perf_counter()
    import torch
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import SegResNet
    from monai.transforms import (
        Compose,
        EnsureChannelFirstd,
        LoadImaged,
        NormalizeIntensityd,
        Orientationd,
        SaveImage,
        Spacingd,
    )

    imported = time.perf_counter()
    paths = case_paths(data_dir)
    order = ["t1c", "t1", "t2", "flair"]  # the bundle's channel order
    transform = Compose(
        [
            LoadImaged(keys="image"),
            EnsureChannelFirstd(keys="image"),
            Orientationd(keys="image", axcodes="RAS"),
            Spacingd(keys="image", pixdim=(1.0, 1.0, 1.0), mode="bilinear"),
            NormalizeIntensityd(keys="image", nonzero=True, channel_wise=True),
        ]
    )
    data = transform({"image": [str(paths[role]) for role in order]})
    network = SegResNet(
        blocks_down=[1, 2, 2, 4], blocks_up=[1, 1, 1], init_filters=16, in_channels=4, out_channels=3, dropout_prob=0.2
    ).eval()
    loaded = time.perf_counter()
    with torch.inference_mode():
        logits = sliding_window_inference(data["image"][None], (240, 240, 160), 1, network, overlap=0.5)
        prediction = (torch.sigmoid(logits) > 0.5).to(torch.uint8)[0]
    inferred = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        SaveImage(output_dir=scratch, output_postfix="seg", separate_folder=False, print_log=False)(
            prediction, meta_data=data["image"].meta
        )
    return {
        "seconds": time.perf_counter() - started,
        "import_s": imported - started,
        "load_s": loaded - imported,
        "infer_s": inferred - loaded,
        "peak_mb": _peak_mb(),
    }


def ours(data_dir: Path, fast: bool, cases: int = 2) -> dict:
    from .brain_app import label_case_to_folder

    timings = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(cases):
            started = time.perf_counter()
            label_case_to_folder(
                case_paths(data_dir),
                Path(scratch) / f"out{index}",
                {"fast": fast, "device": "cpu"},
                case_id="TCGA-DU-7294",
            )
            timings.append(time.perf_counter() - started)
    return {
        "seconds": timings[0],
        "second_case_s": timings[1] if cases > 1 else None,
        "peak_mb": _peak_mb(),
        # the scene writer's helper process (first case only), reported apart: it is another process
        "scene_helper_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
    }


def run_variant(name: str, data_dir: Path) -> dict:
    """Run one variant in a fresh interpreter and return its numbers."""
    return call_in_fresh_interpreter("radassist.bench_brain", "_variant", name, Path(data_dir))


def _variant(name: str, data_dir: Path) -> dict:
    if name == "monai_bundle_recipe":
        return monai_baseline(data_dir)
    return ours(data_dir, fast=(name == "ours_fast"))


def run_brain_benchmark(data_dir: Path) -> dict:
    results = {name: run_variant(name, data_dir) for name in ("monai_bundle_recipe", "ours_standard", "ours_fast")}
    baseline = results["monai_bundle_recipe"]["seconds"]
    for name in ("ours_standard", "ours_fast"):
        results[name]["speedup_vs_monai"] = baseline / results[name]["seconds"]
    return results
