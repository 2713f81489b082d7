"""Fingerprints of the phantom generators: sha256 of every array, geometry and truth they give for fixed seeds.

The bundled demo models were trained on these phantoms; their model cards quote numbers measured on them. A
refactor of a generator must therefore give the same samples for the same seed, bit for bit. This module lists
the samples (a few seeds per generator, small sizes where the generator allows) and computes one hash per
array; ``Testing/test_phantom_hashes.py`` compares them against ``Testing/data/phantom_hashes.json``.

Regenerate the stored hashes only when a generator is meant to change (and retrain or re-check the cards)::

    .venv/bin/python Testing/phantom_hash_cases.py --write

``--time`` prints how long each case takes to generate (a benchmark: no test asserts wall-clock time).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

HASH_FILE = Path(__file__).resolve().parent / "data" / "phantom_hashes.json"


def array_sha256(array: np.ndarray) -> str:
    """sha256 over dtype, shape and the C-order bytes of ``array`` (so a reshape or a cast changes it)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """JSON-ready copy of ``value``: numpy scalars and arrays to Python, dataclasses to dicts, floats by repr."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):
        return repr(value)
    return value


def json_sha256(value: Any) -> str:
    """sha256 of a canonical JSON dump of ``value`` (sorted keys, floats by their exact repr)."""
    text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _image_hashes(prefix: str, image) -> dict[str, str]:
    geometry = {"spacing": image.spacing_mm, "origin": image.origin_lps, "direction": image.direction_lps}
    return {f"{prefix}.array": array_sha256(image.array_kji), f"{prefix}.geometry": json_sha256(geometry)}


def spine_hashes(seed: int, **options: Any) -> dict[str, str]:
    from assistcore.phantoms.spine import generate_spine_phantom

    phantom = generate_spine_phantom(seed, **options)
    hashes = _image_hashes("sagittal_t2", phantom.sagittal_t2)
    if phantom.sagittal_t1 is not None:
        hashes |= _image_hashes("sagittal_t1", phantom.sagittal_t1)
    hashes |= _image_hashes("sagittal_labels", phantom.sagittal_labels)
    for index, (block, labels) in enumerate(zip(phantom.axial_t2_blocks, phantom.axial_label_blocks)):
        hashes |= _image_hashes(f"axial_t2[{index}]", block) | _image_hashes(f"axial_labels[{index}]", labels)
    hashes["axial_block_levels"] = json_sha256(phantom.axial_block_levels)
    hashes["truth"] = json_sha256(phantom.truth())
    hashes["parameters"] = json_sha256(phantom.parameters)
    return hashes


def brain_hashes(seed: int, **options: Any) -> dict[str, str]:
    from assistcore.phantoms.brain import generate_brain_phantom

    phantom = generate_brain_phantom(seed, **options)
    hashes: dict[str, str] = {}
    for role, image in sorted(phantom.images.items()):
        hashes |= _image_hashes(role, image)
    hashes["labels"] = array_sha256(phantom.labels_kji)
    hashes["brain_mask"] = array_sha256(phantom.brain_mask_kji)
    if phantom.anatomy_kji is not None:
        hashes["anatomy"] = array_sha256(phantom.anatomy_kji)
    hashes["truth"] = json_sha256({"type": phantom.tumor_type, "lesions": phantom.lesions})
    hashes["parameters"] = json_sha256(phantom.parameters)
    return hashes


def breast_us_hashes(seed: int, **options: Any) -> dict[str, str]:
    from assistcore.phantoms.breast_us import generate_breast_sweep

    sweep = generate_breast_sweep(seed, **options)
    return {
        "frames": array_sha256(sweep.frames),
        "boxes": json_sha256([array_sha256(boxes) for boxes in sweep.boxes_xy]),
        "lesion_ids": json_sha256([array_sha256(ids) for ids in sweep.lesion_ids]),
        "rib_boxes": json_sha256([array_sha256(boxes) for boxes in sweep.rib_boxes_xy]),
        "truth": json_sha256(
            {
                "lesions": sweep.lesions,
                "spacing": sweep.pixel_spacing_mm,
                "frame_time_ms": sweep.frame_time_ms,
                "step": sweep.elevation_step_mm,
                "description": sweep.description,
            }
        ),
    }


def rectum_hashes(seed: int, **options: Any) -> dict[str, str]:
    from assistcore.phantoms.rectum import generate_rectal_phantom

    phantom = generate_rectal_phantom(seed, **options)
    hashes = _image_hashes("t2", phantom.t2) | _image_hashes("labels", phantom.labels)
    hashes["truth"] = json_sha256(
        {
            "boxes": phantom.boxes,
            "evaluated_slices": phantom.evaluated_slices,
            "slice_distance_mm": phantom.slice_distance_mm,
            "crm_positive": phantom.crm_positive,
            "description": phantom.description,
        }
    )
    return hashes


#: case name -> (hash function, seed, options). Options cover the paths training and the tests take: drawn
#: acquisitions, forced findings, T1/axial switched off, skull and thick slices, ribs and no lesion.
CASES: dict[str, tuple[Callable[..., dict[str, str]], int, dict[str, Any]]] = {
    "spine/seed0": (spine_hashes, 0, {}),
    "spine/seed5_cut_c2": (spine_hashes, 5, {"cut_c2": True}),
    "spine/seed3_forced": (
        spine_hashes,
        3,
        {
            "findings": {
                "C5/6": {"herniation": "central", "depth_mm": 4.0, "pll_mm": 3.5, "degenerated": True},
                "C4/5": {"listhesis_grade": 1, "listhesis_direction": "anterior", "lf_mm": 4.0},
                "C6": {"osteophyte_mm": 3.0, "osteophyte_site": "anterior-inferior"},
            },
            "cut_c2": False,
            "sagittal_spacing_mm": (0.8, 0.8, 3.0),
        },
    ),
    "spine/seed4_t2_only_no_pose": (spine_hashes, 4, {"with_t1": False, "with_axial": False, "pose": False}),
    "brain/seed0": (brain_hashes, 0, {"spacing_mm": 4.0}),
    "brain/seed1_skull_thick": (brain_hashes, 1, {"spacing_mm": 4.0, "skull": True, "thick_slices": True}),
    "brain/seed7_shape": (
        brain_hashes,
        7,
        {"spacing_mm": (2.0, 2.0, 3.0), "shape_kji": (48, 96, 80), "tumor_type": "extra-axial", "n_lesions": 2},
    ),
    "breast_us/seed0": (breast_us_hashes, 0, {"n_frames": 8, "shape_hw": (96, 128)}),
    "breast_us/seed5_two_lesions": (
        breast_us_hashes,
        5,
        {"n_frames": 12, "shape_hw": (128, 192), "pixel_spacing_mm": 0.25, "n_lesions": 2},
    ),
    "breast_us/seed3_ribs_no_lesion": (breast_us_hashes, 3, {"n_frames": 6, "n_lesions": 0, "ribs": True}),
    "rectum/seed0": (rectum_hashes, 0, {"matrix": 192, "n_slices": 10}),
    "rectum/seed1_positive": (rectum_hashes, 1, {"crm_positive": True, "matrix": 192, "n_slices": 12}),
    "rectum/seed2_default": (rectum_hashes, 2, {}),
}


def compute(names: list[str] | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """(case name, {array or truth name: sha256}) for each case of :data:`CASES` (or those named)."""
    for name in names or list(CASES):
        function, seed, options = CASES[name]
        yield name, function(seed, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {HASH_FILE.name} (else compare with it)")
    parser.add_argument("--time", action="store_true", help="print the seconds each case takes to generate")
    arguments = parser.parse_args(argv)
    hashes = {}
    for name in CASES:
        started = time.perf_counter()
        hashes.update(compute([name]))
        if arguments.time:
            print(f"{name}: {time.perf_counter() - started:.2f} s")
    if arguments.write:
        HASH_FILE.parent.mkdir(parents=True, exist_ok=True)
        HASH_FILE.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(hashes)} cases to {HASH_FILE}")
        return 0
    stored = json.loads(HASH_FILE.read_text())
    changed = [name for name in hashes if stored.get(name) != hashes[name]]
    print("identical" if not changed else f"changed: {', '.join(changed)}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
