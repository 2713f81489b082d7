"""Vertebral levels from the spinal cord and the PAM50 template: discs located and named by atlas matching.

The method follows the idea of the Spinal Cord Toolbox's ``sct_label_vertebrae`` (cord centreline, a
straightened picture along it, the intensity pattern in front of the cord matched against the template's disc
spacing); the code is RadAssist's own.

1. **Centreline**: the cord class of our segmentation, one centre per millimetre of height, fitted with a smooth
   polynomial and resampled every millimetre of arc length, top down (:func:`cord_centreline`).
2. **Straightened strip**: the sagittal series sampled along the centreline, 30 mm behind to 34 mm in front of
   the cord centre, mean of 5 planes 1 mm apart (:func:`straightened_strip`); the template ships the same strip
   (``data/spine_pam50_strip.nii.gz``, made by ``Utilities/make_spine_pam50_profile.py`` from PAM50).
3. **Match**: the band in front of the cord where bodies and discs lie (4..22 mm), high-pass filtered along the
   cord and normalised to its local contrast, is correlated with the template's band over every shift and a
   scale of 0.8..1.25 (people differ in size); each template disc maps onto the subject and is refined to the
   brightest row within 3 mm (discs are bright between dark endplates on T2).
4. **Naming and confidence**: the periodic pattern of discs fits several shifts; the names are only as sure as
   the best shift is better than the best one that names the discs differently. ``confidence`` = score x
   margin / 0.15 (both clipped to 0..1); under :data:`MIN_CONFIDENCE` the atlas does not name the levels (the
   disc positions are still reported, unnamed).

PAM50: De Leener B et al., NeuroImage 165:170-179, 2018 (MIT licence, NeuroPoly; see THIRD_PARTY_NOTICES.md).
Geometry in LPS mm; arrays (k, j, i).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from ..errors import InputError
from ..image import Image

#: network class of the cord and dural sac (levels.SEG_CLASSES)
CORD_CLASS, SAC_CLASS = 6, 5
COLUMNS_MM = np.arange(-30, 35)
BAND_MM = (4, 22)  # where bodies and discs lie, in front of the cord centre
SCALES = np.arange(0.8, 1.2501, 0.025)
MIN_CORD_MM = 40.0
MIN_CONFIDENCE = 0.5
MARGIN_FULL = 0.15
DISC_DEPTH_MM = 8.0  # from the posterior edge of a disc to its centre (template scale)


@dataclass
class Centreline:
    """Cord centre points (n, 3) LPS mm every mm of arc length, top down; unit tangents pointing inferior and
    unit anterior directions (perpendicular to the tangent, in the sagittal plane)."""

    points: np.ndarray
    tangents: np.ndarray
    anterior: np.ndarray

    @property
    def length_mm(self) -> float:
        return float(len(self.points) - 1)

    def at(self, row: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, inferior tangent, anterior) at arc position ``row`` (mm from the top), interpolated."""
        row = float(np.clip(row, 0, len(self.points) - 1))
        low = int(np.floor(row))
        high = min(low + 1, len(self.points) - 1)
        f = row - low

        def mix(a: np.ndarray) -> np.ndarray:
            return a[low] * (1 - f) + a[high] * f

        tangent, anterior = mix(self.tangents), mix(self.anterior)
        return mix(self.points), tangent / np.linalg.norm(tangent), anterior / np.linalg.norm(anterior)


@dataclass
class AtlasDisc:
    """A disc found by the match: its name under the chosen shift, arc position (mm from the top of the
    centreline), centre and posterior edge (LPS mm) and the unit normal of its plane (superior)."""

    name: str
    row_mm: float
    center_lps: list[float]
    posterior_lps: list[float]
    normal_lps: list[float]


@dataclass
class AtlasMatch:
    """The best match: its discs (named as the best shift names them), score (correlation), the best score of a
    shift that names the discs differently, confidence, scale and the other candidates; ``reason`` says why
    the names cannot be trusted (None when ``confident``)."""

    discs: list[AtlasDisc]
    score: float
    rival_score: float
    confidence: float
    scale: float
    centreline: Centreline
    candidates: list[dict] = field(default_factory=list)
    reason: str | None = None
    body_depth_mm: float = 0.0

    @property
    def confident(self) -> bool:
        return self.reason is None

    def record(self) -> dict[str, Any]:
        """For levels.json: the disc positions found, the scores and the candidate namings."""
        return {
            "template": "PAM50 (De Leener et al., NeuroImage 165:170-179, 2018)",
            "score": round(self.score, 3),
            "rival_score": round(self.rival_score, 3),
            "confidence": round(self.confidence, 3),
            "scale": round(self.scale, 3),
            "cord_length_mm": round(self.centreline.length_mm, 1),
            "discs": [
                {"name": d.name, "center_lps": d.center_lps, "posterior_lps": d.posterior_lps} for d in self.discs
            ],
            "candidates": self.candidates,
            "reason": self.reason,
        }


@functools.lru_cache(maxsize=1)
def template() -> tuple[np.ndarray, dict]:
    """(strip (rows, 65) float32, levels document) of the PAM50 template, shipped in assistcore/data."""
    import SimpleITK as sitk

    data = resources.files("assistcore") / "data"
    with resources.as_file(data / "spine_pam50_strip.nii.gz") as path:
        strip = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))[0].astype(np.float32)
    document = json.loads((data / "spine_pam50_levels.json").read_text(encoding="utf-8"))
    return strip, document


def cord_centreline(classes: Image, min_length_mm: float = MIN_CORD_MM) -> Centreline:
    """The cord centreline from a class map (cord class, else cord and dural sac together).

    Raises InputError when no cord is visible or it covers less than ``min_length_mm`` of height.
    """
    array = np.asarray(classes.array_kji)
    mask = array == CORD_CLASS
    if mask.sum() * float(np.prod(classes.spacing_mm)) < 200.0:
        mask = mask | (array == SAC_CLASS)
    if not mask.any():
        raise InputError(
            "No spinal cord is visible in the sagittal series: levels cannot be located.",
            "Give a sagittal T2 of the spine that shows the cord (or give --labels with --level-map).",
        )
    points = classes.index_to_lps(np.argwhere(mask)[:, ::-1].astype(float))
    height = np.floor(points[:, 2]).astype(int)
    bins, inverse, counts = np.unique(height, return_inverse=True, return_counts=True)
    sums = np.zeros((len(bins), 3))
    np.add.at(sums, inverse, points)
    centres = sums / counts[:, None]
    keep = counts >= 0.5 * np.median(counts)
    bins, centres, counts = bins[keep], centres[keep], counts[keep]
    if len(bins) > 1:  # the longest stretch of cord without a gap over 10 mm (stray cord-class pieces dropped)
        runs = np.split(np.arange(len(bins)), np.nonzero(np.diff(bins) > 10)[0] + 1)
        best = max(runs, key=lambda run: counts[run].sum())
        bins, centres = bins[best], centres[best]
    if len(bins) < 2 or bins.max() - bins.min() < min_length_mm:
        extent = 0 if len(bins) < 2 else int(bins.max() - bins.min())
        raise InputError(
            f"The cord is visible over {extent} mm of height only: at least {min_length_mm:.0f} mm are needed to "
            "locate vertebral levels.",
            "Give a sagittal series with a larger field of view (at least 4 cm along the spine).",
        )
    degree = 3 if bins.max() - bins.min() > 120 else 2
    z = centres[:, 2]
    fit_x, fit_y = np.polyfit(z, centres[:, 0], degree), np.polyfit(z, centres[:, 1], degree)
    dense_z = np.linspace(z.max(), z.min(), int(4 * (z.max() - z.min())) + 1)
    dense = np.stack([np.polyval(fit_x, dense_z), np.polyval(fit_y, dense_z), dense_z], axis=1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    rows = np.arange(0.0, arc[-1] + 1e-6, 1.0)
    line = np.stack([np.interp(rows, arc, dense[:, axis]) for axis in range(3)], axis=1)
    tangents = np.gradient(line, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    front = np.array([0.0, -1.0, 0.0])  # anterior is -P
    anterior = front - (tangents @ front)[:, None] * tangents
    anterior[:, 0] = 0.0
    anterior /= np.linalg.norm(anterior, axis=1, keepdims=True)
    return Centreline(line, tangents, anterior)


def straightened_strip(image: Image, centreline: Centreline, columns_mm: np.ndarray = COLUMNS_MM) -> np.ndarray:
    """(rows, columns) mean intensity of 5 sagittal planes (1 mm apart) along the centreline; NaN outside."""
    from scipy import ndimage

    values = np.asarray(image.array_kji, dtype=np.float32)
    total = np.zeros((len(centreline.points), len(columns_mm)))
    left = np.array([1.0, 0.0, 0.0])
    for side in (-2.0, -1.0, 0.0, 1.0, 2.0):
        points = (
            centreline.points[:, None, :]
            + columns_mm[None, :, None] * centreline.anterior[:, None, :]
            + side * left[None, None, :]
        )
        index = image.lps_to_index(points.reshape(-1, 3)).reshape(points.shape)
        total += ndimage.map_coordinates(values, [index[..., 2], index[..., 1], index[..., 0]], order=1, cval=np.nan)
    return total / 5.0


def _band_profile(strip: np.ndarray, columns_mm: np.ndarray = COLUMNS_MM) -> np.ndarray:
    """The high-passed, contrast-normalised intensity (rows,) of the body-and-disc band in front of the cord."""
    from scipy import ndimage

    band = strip[:, (columns_mm >= BAND_MM[0]) & (columns_mm <= BAND_MM[1])]
    fill = np.nanmean(band) if np.isfinite(band).any() else 0.0
    profile = np.nan_to_num(band, nan=fill).mean(axis=1)
    high = profile - ndimage.gaussian_filter1d(profile, 6.0, mode="nearest")
    return high / (ndimage.gaussian_filter1d(np.abs(high), 10.0, mode="nearest") + 1e-6)


def _correlations(subject: np.ndarray, reference: np.ndarray) -> list[tuple[float, float, int]]:
    """(correlation, scale, offset) for every scale and whole-mm offset that keeps the subject in the template."""
    length = len(subject)
    centred = subject - subject.mean()
    norm = np.linalg.norm(centred) + 1e-9
    found = []
    for scale in SCALES:
        positions = np.arange(length) * scale
        last = len(reference) - 1 - positions[-1]
        for offset in range(0, int(last) + 1):
            values = np.interp(offset + positions, np.arange(len(reference)), reference)
            values = values - values.mean()
            found.append((float(centred @ values / (norm * (np.linalg.norm(values) + 1e-9))), float(scale), offset))
    return found


def _top_disc(discs: list[dict], offset: float, scale: float, length: int) -> str | None:
    """Name of the first template disc that falls inside the subject under this shift (the naming key)."""
    for disc in discs:
        row = (disc["row_mm"] - offset) / scale
        if -2.0 <= row <= length - 1:
            return disc["name"]
    return None


def match_atlas(image: Image, classes: Image, centreline: Centreline | None = None) -> AtlasMatch:
    """Locate and name discs along the cord of ``image`` (the sagittal series) by matching PAM50."""
    reference_strip, document = template()
    centreline = centreline or cord_centreline(classes)
    strip = straightened_strip(image, centreline)
    subject = _band_profile(strip)
    reference = _band_profile(reference_strip)
    length = len(subject)
    found = _correlations(subject, reference)
    found.sort(key=lambda item: -item[0])
    discs_doc = document["discs"]
    best_score, scale, offset = found[0]
    key = _top_disc(discs_doc, offset, scale, length)
    rival = next((item for item in found if _top_disc(discs_doc, item[2], item[1], length) != key), None)
    rival_score = rival[0] if rival else -1.0
    candidates, seen = [], set()
    for score, cand_scale, cand_offset in found:
        name = _top_disc(discs_doc, cand_offset, cand_scale, length)
        if name in seen:
            continue
        seen.add(name)
        candidates.append({"top_disc": name, "score": round(score, 3), "scale": round(cand_scale, 3)})
        if len(candidates) == 4:
            break
    margin = best_score - rival_score
    confidence = float(np.clip(best_score, 0, 1) * np.clip(margin / MARGIN_FULL, 0, 1))
    discs = []
    for disc in discs_doc:
        row = (disc["row_mm"] - offset) / scale
        if not 0.0 <= row <= length - 1:
            continue
        nearest_row = round(row)
        window = np.arange(max(0, nearest_row - 3), min(length, nearest_row + 4))
        row = float(window[np.argmax(subject[window])])
        point, tangent, anterior = centreline.at(row)
        back = (disc["posterior_edge_anterior_mm"] or 9.0) * scale
        posterior = point + back * anterior
        centre = posterior + DISC_DEPTH_MM * scale * anterior
        discs.append(
            AtlasDisc(
                disc["name"],
                round(row, 1),
                [round(float(v), 2) for v in centre],
                [round(float(v), 2) for v in posterior],
                [round(float(v), 4) for v in -tangent],
            )
        )
    reason = None
    if not discs:
        reason = "No disc of the template falls inside the cord's extent."
    elif confidence < MIN_CONFIDENCE:
        others = ", ".join(f"{c['top_disc']} ({c['score']:.2f})" for c in candidates[:3])
        reason = (
            f"The disc spacing along the cord fits the template at several levels about equally (top disc: {others}); "
            "without a recognised C2 the levels cannot be told apart."
        )
    return AtlasMatch(
        discs,
        best_score,
        rival_score,
        round(confidence, 3),
        scale,
        centreline,
        candidates,
        reason,
        body_depth_mm=DISC_DEPTH_MM * scale,
    )


def rename_discs(match: AtlasMatch, first_disc: str) -> list[AtlasDisc]:
    """The match's discs renamed so that the top one is ``first_disc`` (e.g. from an anchor), same positions."""
    names = [d["name"] for d in template()[1]["discs"]]
    if first_disc not in names:
        raise InputError(f"{first_disc!r} is not a disc of the template.", "Use names such as C2/3 or T1/T2.")
    start = names.index(first_disc)
    renamed = []
    for index, disc in enumerate(match.discs):
        if start + index >= len(names):
            break
        renamed.append(
            AtlasDisc(names[start + index], disc.row_mm, disc.center_lps, disc.posterior_lps, disc.normal_lps)
        )
    return renamed


def split_disc_name(name: str) -> tuple[str, str]:
    """``C3/4`` -> (C3, C4); ``C7/T1`` -> (C7, T1); ``T1/T2`` -> (T1, T2)."""
    upper, lower = name.split("/")
    return upper, lower if lower[0].isalpha() else upper[0] + lower


def label_from_atlas(classes: Image, discs: list[AtlasDisc], centreline: Centreline, scale: float) -> np.ndarray:
    """Level values (SPINE_LABELS) for body and disc voxels of ``classes`` named by the atlas discs' planes.

    A body voxel in front of the cord between the planes of two consecutive discs belongs to the vertebra
    between them (above the top disc, or below the bottom one, within one typical body height); a disc voxel
    within 3.5 mm of a disc plane belongs to that disc. Names outside the level map's range stay unnamed.
    """
    from .labels import DISCS, VERTEBRAE
    from .levels import CLASS_OF

    array = np.asarray(classes.array_kji)
    level = np.zeros(array.shape, dtype=np.uint8)
    if not discs:
        return level
    vertebra_value = {name: index + 1 for index, name in enumerate(VERTEBRAE)}
    disc_value = {name: index + 11 for index, name in enumerate(DISCS)}
    bodies = np.argwhere((array == CLASS_OF["C2"]) | (array == CLASS_OF["vertebra"]))
    disc_voxels = np.argwhere(array == CLASS_OF["disc"])
    spacing = 18.0 * scale

    def signed_heights(kji: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = classes.index_to_lps(kji[:, ::-1].astype(float))
        heights = np.stack([(points - np.asarray(d.posterior_lps)) @ np.asarray(d.normal_lps) for d in discs], 1)
        nearest = np.argmin(np.linalg.norm(points[:, None, :] - centreline.points[None, ::4, :], axis=2), axis=1)
        front = np.einsum("ij,ij->i", points - centreline.points[::4][nearest], centreline.anterior[::4][nearest])
        return heights, front

    if len(bodies):
        heights, front = signed_heights(bodies)
        names = np.full(len(bodies), "", dtype=object)
        for index, disc in enumerate(discs):
            upper, lower = split_disc_name(disc.name)
            below = heights[:, index] < 0
            above_next = heights[:, index + 1] > 0 if index + 1 < len(discs) else heights[:, index] > -spacing
            names[below & above_next] = lower
            if index == 0:
                names[(heights[:, 0] >= 0) & (heights[:, 0] < spacing)] = upper
        names[front < 3.0] = ""
        for name in set(names) - {""}:
            if name in vertebra_value:
                chosen = bodies[names == name]
                level[chosen[:, 0], chosen[:, 1], chosen[:, 2]] = vertebra_value[name]
    if len(disc_voxels):
        heights, front = signed_heights(disc_voxels)
        closest = np.argmin(np.abs(heights), axis=1)
        near = (np.abs(heights[np.arange(len(closest)), closest]) <= 3.5) & (front >= 3.0)
        for index, disc in enumerate(discs):
            if disc.name in disc_value:
                chosen = disc_voxels[near & (closest == index)]
                level[chosen[:, 0], chosen[:, 1], chosen[:, 2]] = disc_value[disc.name]
    return level
