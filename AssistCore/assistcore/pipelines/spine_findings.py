"""SpineAssist findings per level: osteophyte probability per vertebra (3D classifier on a crop), and per disc
the listhesis measured on the sagittal level map, ligament thickness on the mapped axial slices and the axial
classifier's disc finding. Geometry LPS mm, arrays (k, j, i). Also importable from
:mod:`assistcore.pipelines.spine`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..image import Image
from ..spine import model as spine_model
from ..spine.findings import THICKENED_MM, ligament_thickness, measure_listhesis

if TYPE_CHECKING:
    from ..spine.levels import DiscLevel
    from .spine import AxialSeries


def sagittal_slice_of(image: Image, point_lps) -> int:
    """The k-slice of ``image`` nearest a point (clipped into the series)."""
    k = float(image.lps_to_index(np.asarray(point_lps, dtype=float)[None, :])[0][2])
    return int(min(max(round(k), 0), image.shape_kji[0] - 1))


def level_findings(
    card, device, sagittal, sagittal_window, work_levels, vertebrae, discs, axial_series
) -> dict[str, dict]:
    """Findings per vertebra (osteophyte) and disc level (listhesis, herniation, ligaments), with locations."""
    from ..models.loader import load_component_network
    from ..models.onnx_runtime import run_network

    thresholds = card.data.get("operating_thresholds", {})
    found: dict[str, dict] = {}
    named = [v for v in vertebrae if v.name != "C1"]
    if named and "osteophyte" in card.components:
        network = load_component_network(card, "osteophyte", device)
        crops = np.stack([spine_model.osteophyte_crop(sagittal, v.center_lps, sagittal_window) for v in named])
        logits = run_network(network, crops[:, None], device)[:, 0]
        for vertebra, logit in zip(named, logits):
            probability = float(1 / (1 + np.exp(-logit)))
            found[vertebra.name] = {
                "kind": "vertebra",
                "osteophyte": {
                    "value": probability >= thresholds.get("osteophyte", 0.5),
                    "unit": "",
                    "probability": round(probability, 4),
                },
                "point_lps": vertebra.center_lps,
                "sagittal_slice": sagittal_slice_of(sagittal, vertebra.center_lps),
            }
    axial_network = load_component_network(card, "axial", device) if "axial" in card.components else None
    for disc in discs:
        listhesis = measure_listhesis(work_levels, disc)
        row: dict[str, Any] = {
            "kind": "disc",
            "listhesis": {
                "grade": listhesis["grade"],
                "direction": listhesis["direction"],
                "offset_mm": listhesis["offset_mm"],
                "fraction": listhesis["fraction"],
                "endplate_mm": listhesis["endplate_mm"],
                "point_lps": listhesis["point_lps"],
            },
            "point_lps": disc.center_lps,
            "sagittal_slice": sagittal_slice_of(sagittal, disc.center_lps),
            "axial": None,
        }
        best = best_axial_slice(disc, axial_series)
        if best is not None:
            series, slice_index = best
            thickness = ligament_thickness(
                series.level_map, [s["slice_index"] for s in disc.axial_slices if s["series"] == series.name]
            )
            row["axial"] = {"series": series.name, "slice_index": slice_index, **thickness}
            row["pll"] = {"thickness_mm": thickness["pll_mm"], "thickened": (thickness["pll_mm"] or 0) > THICKENED_MM}
            row["lf"] = {"thickness_mm": thickness["lf_mm"], "thickened": (thickness["lf_mm"] or 0) > THICKENED_MM}
            if axial_network is not None:
                crop = spine_model.axial_crop(series.image, slice_index, disc.center_lps, series.intensity_window)
                logits = run_network(axial_network, crop[None, None], device)[0]
                outputs = spine_model.axial_outputs(logits)
                kind = disc_finding(outputs["herniation"], thresholds.get("herniation", 0.5))
                side = max(outputs["side"], key=outputs["side"].get) if kind in ("paracentral", "foraminal") else None
                row["disc"] = {
                    "value": kind,
                    "probability": round(outputs["herniation"][kind], 4),
                    "probabilities": {k: round(v, 4) for k, v in outputs["herniation"].items()},
                    "side": side,
                    "side_probability": round(outputs["side"][side], 4) if side else None,
                }
                row["pll"]["probability"] = round(outputs["pll_thickened"], 4)
                row["lf"]["probability"] = round(outputs["lf_thickened"], 4)
        found[disc.name] = row
    return found


HERNIATED = ("central", "paracentral", "foraminal")


def disc_finding(probabilities: dict[str, float], threshold: float) -> str:
    """The disc finding from the axial classifier: a herniation (the likeliest of central, paracentral and
    foraminal) when their summed probability reaches the card's ``herniation`` operating threshold, else the
    likelier of normal and bulge."""
    herniated = sum(probabilities[k] for k in HERNIATED) >= threshold
    candidates = HERNIATED if herniated else ("normal", "bulge")
    return max(candidates, key=lambda k: probabilities[k])


def best_axial_slice(disc: DiscLevel, axial_series: list[AxialSeries]) -> tuple[AxialSeries, int] | None:
    """The axial slice nearest the disc centre among those mapped to it."""
    candidates = [(abs(s["distance_mm"]), s["series"], s["slice_index"]) for s in disc.axial_slices]
    if not candidates:
        return None
    _, series_name, slice_index = min(candidates)
    series = next(a for a in axial_series if a.name == series_name)
    return series, slice_index
