"""A malignancy score per lesion box: a descriptor aid for the reader, never a diagnosis.

Ten features of the picture around a lesion box, in the spirit of the BI-RADS ultrasound lexicon: orientation
(taller than wide), size, echogenicity and heterogeneity inside, contrast to the tissue around, posterior
features (shadowing or enhancement below), margin sharpness, depth. A logistic regression on standardised
features (scikit-learn, fitted on the train part of the BUSI split) turns them into a 0..1 score; its
coefficients are stored as JSON beside the detector (``malignancy.json``; no pickles), so scoring needs only
NumPy and SciPy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FEATURES = (
    "taller_than_wide",
    "log_area_fraction",
    "inside_mean",
    "inside_std",
    "contrast_to_surround",
    "posterior_ratio",
    "margin_gradient",
    "inside_entropy",
    "relative_depth",
    "surround_std",
)
FILE_NAME = "malignancy.json"
NOTE = (
    "descriptor aid from the box's appearance (orientation, echo pattern, margins, posterior features); not a diagnosis"
)


def box_features(picture: np.ndarray, box_xy: Sequence[float]) -> np.ndarray:
    """The :data:`FEATURES` of one box (x0, y0, x1, y1) on a grey 0..1 picture."""
    from scipy import ndimage

    height, width = picture.shape
    x0, y0, x1, y1 = (int(np.round(v)) for v in box_xy)
    x0, x1 = max(0, min(x0, width - 1)), max(1, min(x1, width))
    y0, y1 = max(0, min(y0, height - 1)), max(1, min(y1, height))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    box_w, box_h = x1 - x0, y1 - y0
    inside = picture[y0:y1, x0:x1]
    pad_x, pad_y = max(2, box_w // 3), max(2, box_h // 3)
    ring = picture[max(0, y0 - pad_y) : min(height, y1 + pad_y), max(0, x0 - pad_x) : min(width, x1 + pad_x)].copy()
    ring_mask = np.ones(ring.shape, bool)
    ring_mask[
        y0 - max(0, y0 - pad_y) : y0 - max(0, y0 - pad_y) + box_h,
        x0 - max(0, x0 - pad_x) : x0 - max(0, x0 - pad_x) + box_w,
    ] = False
    surround = ring[ring_mask] if ring_mask.any() else inside.ravel()
    below = picture[y1 : min(height, y1 + box_h), x0:x1]
    gradient = np.hypot(*np.gradient(ndimage.gaussian_filter(picture, 1.0)))
    band = np.zeros(picture.shape, bool)
    band[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = True
    band[y0 + 2 : max(y0 + 2, y1 - 2), x0 + 2 : max(x0 + 2, x1 - 2)] = False
    histogram, _ = np.histogram(inside, bins=16, range=(0, 1))
    probabilities = histogram[histogram > 0] / histogram.sum()
    surround_mean = float(surround.mean()) if surround.size else float(inside.mean())
    return np.array(
        [
            np.log(box_h / box_w),
            np.log(box_w * box_h / (height * width)),
            float(inside.mean()),
            float(inside.std()),
            float(inside.mean()) - surround_mean,
            (float(below.mean()) if below.size else surround_mean) - surround_mean,
            float(gradient[band].mean()) if band.any() else 0.0,
            float(-(probabilities * np.log(probabilities)).sum()),
            (y0 + y1) / 2 / height,
            float(surround.std()) if surround.size else 0.0,
        ],
        np.float64,
    )


def fit_malignancy(features: np.ndarray, malignant: np.ndarray, seed: int = 0) -> dict:
    """Logistic regression (L2, C 1) on standardised features: the JSON-ready model."""
    from sklearn.linear_model import LogisticRegression

    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit((features - mean) / std, malignant)
    return {
        "features": list(FEATURES),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "coefficients": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
        "note": NOTE,
    }


def malignancy_score(model: dict, features: np.ndarray) -> np.ndarray:
    """0..1 scores for (N, len(FEATURES)) features."""
    z = (np.atleast_2d(features) - np.asarray(model["mean"])) / np.asarray(model["std"])
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(model["coefficients"]) + model["intercept"])))


def read_malignancy_model(folder: str | os.PathLike[str]) -> dict | None:
    """The model folder's ``malignancy.json``, or None when it has none."""
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return None
    model = json.loads(path.read_text(encoding="utf-8"))
    return model if model.get("features") == list(FEATURES) else None


def malignancy_from_split(pictures: Sequence, split: dict, seed: int = 0) -> dict:
    """Fit on the lesion boxes of the split's train part (benign 0, malignant 1); AUC (DeLong 95 % CI) on the
    lesion boxes of its validation and test parts. ``pictures``: :class:`~assistcore.breastus.busi.BusiPicture`."""
    from ..detectors.data import read_grey_picture
    from ..metrics import roc_analysis

    parts = {name: set(files) for name, files in split["files"].items()}
    rows: dict[str, tuple[list, list]] = {name: ([], []) for name in parts}
    for picture in pictures:
        if picture.label not in ("benign", "malignant") or not len(picture.boxes_xy):
            continue
        part = next(name for name, files in parts.items() if picture.relative in files)
        grey = read_grey_picture(picture.path)
        for box in picture.boxes_xy:
            rows[part][0].append(box_features(grey, box))
            rows[part][1].append(int(picture.label == "malignant"))
    features, labels = np.array(rows["train"][0]), np.array(rows["train"][1])
    model = fit_malignancy(features, labels, seed)
    model["trained_on"] = (
        f"{len(labels)} lesion boxes (radiologists' masks) of the BUSI train part, split seed {split['seed']}"
    )
    model["evaluation"] = {}
    for part in ("validation", "test"):
        scores = malignancy_score(model, np.array(rows[part][0]))
        result = roc_analysis(np.array(rows[part][1]), scores)
        model["evaluation"][part] = {
            "auc": round(float(result.auc), 4),
            "ci95": [round(float(v), 4) for v in result.ci],
            "lesions": len(scores),
            "malignant": int(np.sum(rows[part][1])),
            "boxes": "the radiologists' mask boxes (not the detector's)",
        }
    return model
