"""`radassist spine evaluate` (and the numbers in the model card): the whole pipeline on fresh phantoms against
their truth.

Per case the pipeline runs exactly as on a patient (sagittal T2 plus the axial blocks). Scored:

- level naming: a truth vertebra C2..C7 in the field of view counts as found when the vertebra of the same
  name lies within :data:`LEVEL_TOLERANCE_MM` of its centre; disc centre error (mm) and normal angle (degrees);
- axial mapping: each axial block's slices that are mapped should map to the block's disc (accuracy = right /
  mapped); unmapped slices are counted apart ("missed": the outer slices of a block may lie in the bodies);
- segmentation: Dice of vertebral bodies, discs, dural sac and cord on the sagittal grid;
- findings, the study's table (accuracy, sensitivity, specificity, PPV, NPV, PLR, NLR, F1, AUC with 95 % CI):
  osteophytes per vertebra, herniation (central/paracentral/foraminal against normal/bulge) per disc with an
  axial slice, spondylolisthesis (grade >= 1) per disc, PLL and LF thickening (> 2 mm) per disc; plus the
  5-class disc accuracy and its confusion matrix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..diagnostic_rows import DIAGNOSTIC_COLUMNS, diagnostic_row
from .labels import HERNIATION_TYPES
from .levels import CLASS_OF, level_map_to_classes

LEVEL_TOLERANCE_MM = 5.0
CERVICAL = ("C2", "C3", "C4", "C5", "C6", "C7")
FINDINGS = ("osteophyte", "herniation", "listhesis", "pll_thickened", "lf_thickened")
#: the study's table columns after finding and n
STUDY_COLUMNS = DIAGNOSTIC_COLUMNS


def _dice(a: np.ndarray, b: np.ndarray) -> float | None:
    total = int(a.sum() + b.sum())
    return None if total == 0 else 2.0 * float((a & b).sum()) / total


def evaluate_case(phantom, result) -> dict[str, Any]:
    """Scores of one pipeline result against its phantom's truth (see the module docstring)."""
    found = {v.name: np.asarray(v.center_lps) for v in result.vertebrae}
    levels = []
    for truth in phantom.vertebrae:
        if truth.name not in CERVICAL or not truth.visible:
            continue
        distance = float(np.linalg.norm(found[truth.name] - truth.center_lps)) if truth.name in found else None
        levels.append(
            {
                "vertebra": truth.name,
                "distance_mm": distance,
                "correct": distance is not None and distance <= LEVEL_TOLERANCE_MM,
            }
        )
    discs = []
    predicted_discs = {d.name: d for d in result.discs}
    for truth in phantom.levels:
        if truth.name in predicted_discs and truth.visible:
            disc = predicted_discs[truth.name]
            cosine = abs(float(np.dot(disc.normal_lps, truth.disc_normal_lps)))
            discs.append(
                {
                    "disc": truth.name,
                    "center_error_mm": float(np.linalg.norm(np.subtract(disc.center_lps, truth.disc_center_lps))),
                    "normal_error_deg": float(np.degrees(np.arccos(min(1.0, cosine)))),
                }
            )
    mapping = {"right": 0, "wrong": 0, "missed": 0}
    for series, level_name in zip(result.axial, phantom.axial_block_levels):
        for item in series.slices:
            key = "missed" if item.level is None else "right" if item.level == level_name else "wrong"
            mapping[key] += 1
    truth_classes = level_map_to_classes(phantom.sagittal_labels.array_kji)
    predicted_classes = level_map_to_classes(result.level_map.array_kji)
    dice = {}
    for name, members in (
        ("vertebrae", ("C2", "vertebra")),
        ("discs", ("disc",)),
        ("dural_sac", ("dural_sac",)),
        ("cord", ("cord",)),
    ):
        values = [CLASS_OF[m] for m in members]
        dice[name] = _dice(np.isin(predicted_classes, values), np.isin(truth_classes, values))
    findings, disc_classes = _finding_pairs(phantom, result)
    return {
        "levels": levels,
        "discs": discs,
        "mapping": mapping,
        "dice": dice,
        "findings": findings,
        "disc_classes": disc_classes,
        "labelling": result.labelling.method,
    }


def _finding_pairs(phantom, result) -> tuple[dict[str, list[tuple[int, float]]], list[tuple[int, int]]]:
    """Per finding, (truth 0/1, score) pairs of the cervical vertebrae and discs the pipeline read; and
    (truth, predicted) indices of :data:`HERNIATION_TYPES` for every disc with an axial slice."""
    findings: dict[str, list[tuple[int, float]]] = {name: [] for name in FINDINGS}
    disc_classes: list[tuple[int, int]] = []
    for truth in phantom.vertebrae:
        item = result.findings.get(truth.name)
        if item and truth.name in CERVICAL and truth.visible:
            findings["osteophyte"].append((int(truth.osteophyte), item["osteophyte"]["probability"]))
    for truth in phantom.levels:
        item = result.findings.get(truth.name)
        if not item or truth.name not in ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7"):
            continue
        if item["listhesis"]["fraction"] is not None:
            findings["listhesis"].append(
                (
                    int(truth.listhesis_grade > 0),
                    float(item["listhesis"]["fraction"])
                    if item["listhesis"]["grade"]
                    else min(float(item["listhesis"]["fraction"]), 0.079),
                )
            )
        if item.get("disc"):
            probabilities = item["disc"]["probabilities"]
            herniated = truth.herniation in ("central", "paracentral", "foraminal")
            score = sum(probabilities[k] for k in ("central", "paracentral", "foraminal"))
            findings["herniation"].append((int(herniated), score))
            disc_classes.append(
                (HERNIATION_TYPES.index(truth.herniation), HERNIATION_TYPES.index(item["disc"]["value"]))
            )
        if item.get("pll") and "probability" in item["pll"]:
            findings["pll_thickened"].append((int(truth.pll_thickened), item["pll"]["probability"]))
            findings["lf_thickened"].append((int(truth.lf_thickened), item["lf"]["probability"]))
    return findings, disc_classes


def _finding_table(pairs: list[tuple[int, float]], threshold: float) -> dict[str, Any]:
    from ..metrics import diagnostic_table_from_scores, roc_analysis

    if not pairs:
        return {"n": 0}
    truth = [t for t, _ in pairs]
    scores = [s for _, s in pairs]
    table = diagnostic_table_from_scores(truth, scores, threshold).to_dict()
    if 0 < sum(truth) < len(truth):
        roc = roc_analysis(truth, scores)
        table.update(auc=roc.auc, auc_ci95=list(roc.ci))
    else:
        table.update(auc=None, auc_ci95=None)
    table["threshold"] = threshold
    return table


def summarise(cases: list[dict], thresholds: dict[str, float]) -> dict[str, Any]:
    """Pooled metrics over evaluated cases."""
    levels = [item for case in cases for item in case["levels"]]
    discs = [item for case in cases for item in case["discs"]]
    mapping = {key: sum(case["mapping"][key] for case in cases) for key in ("right", "wrong", "missed")}
    mapped = mapping["right"] + mapping["wrong"]  # "missed": outer block slices through bodies, not the disc
    summary: dict[str, Any] = {
        "n_cases": len(cases),
        "level_accuracy": float(np.mean([item["correct"] for item in levels])) if levels else None,
        "cases_all_levels_right": float(np.mean([all(i["correct"] for i in case["levels"]) for case in cases])),
        "disc_center_error_mm": float(np.median([d["center_error_mm"] for d in discs])) if discs else None,
        "disc_normal_error_deg": float(np.median([d["normal_error_deg"] for d in discs])) if discs else None,
        "axial_mapping": {**mapping, "accuracy": mapping["right"] / mapped if mapped else None},
        "dice": {name: _mean([case["dice"][name] for case in cases]) for name in cases[0]["dice"]} if cases else {},
    }
    summary["findings"] = {
        name: _finding_table(
            [p for case in cases for p in case["findings"][name]],
            0.08 if name == "listhesis" else thresholds.get(name, 0.5),
        )
        for name in FINDINGS
    }
    pairs = [p for case in cases for p in case["disc_classes"]]
    confusion = np.zeros((len(HERNIATION_TYPES),) * 2, dtype=int)
    for truth, predicted in pairs:
        confusion[truth, predicted] += 1
    summary["disc_5class"] = {
        "accuracy": float(np.trace(confusion) / confusion.sum()) if pairs else None,
        "classes": list(HERNIATION_TYPES),
        "confusion": confusion.tolist(),
    }
    return summary


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def evaluate_on_phantoms(
    model_folder: Path, n_cases: int, first_seed: int, device: str = "cpu", keep_cases: bool = False
) -> dict[str, Any]:
    """Run the pipeline with the model in ``model_folder`` on ``n_cases`` fresh phantoms (seeds from
    ``first_seed``) and score it."""
    from ..models.card import load_model_card
    from ..phantoms.spine import generate_spine_phantom
    from ..pipelines.spine import run

    card = load_model_card(Path(model_folder))
    cases = []
    for index in range(n_cases):
        phantom = generate_spine_phantom(first_seed + index, with_t1=False)
        result = run(
            {"sag_t2": phantom.sagittal_t2, "ax_t2": phantom.axial_t2_blocks}, {"model_card": card, "device": device}
        )
        case = evaluate_case(phantom, result)
        case["seed"] = first_seed + index
        cases.append(case)
    summary = summarise(cases, card.data.get("operating_thresholds", {}))
    if keep_cases:
        summary["cases"] = cases
    return summary


def tuned_thresholds(cases: list[dict]) -> dict[str, float]:
    """Operating thresholds of the classifier findings (osteophyte, herniation, PLL and LF thickened) that
    maximise Youden's J (sensitivity + specificity - 1) on evaluated ``cases``; findings without both classes
    keep no entry. Tune on phantoms other than the validation ones."""
    tuned = {}
    for name in ("osteophyte", "herniation", "pll_thickened", "lf_thickened"):
        pairs = [p for case in cases for p in case["findings"][name]]
        truth = np.array([t for t, _ in pairs], dtype=bool)
        scores = np.array([s for _, s in pairs], dtype=float)
        if not len(pairs) or truth.all() or not truth.any():
            continue
        best, best_j = 0.5, -1.0
        for threshold in np.unique(scores):
            called = scores >= threshold
            j = called[truth].mean() + (~called[~truth]).mean() - 1.0
            if j > best_j:
                best, best_j = float(threshold), float(j)
        tuned[name] = round(best, 4)
    return tuned


def validation_entries(summary: dict[str, Any], n_cases: int) -> list[dict]:
    """The card's ``validation`` list from :func:`evaluate_on_phantoms`' summary."""
    dataset = f"{n_cases} fresh synthetic cervical phantoms (seeds not used in training)"
    entries = [
        ("level_accuracy", summary["level_accuracy"]),
        ("cases_all_levels_right", summary["cases_all_levels_right"]),
        ("disc_center_error_mm_median", summary["disc_center_error_mm"]),
        ("disc_normal_error_deg_median", summary["disc_normal_error_deg"]),
        ("axial_mapping_accuracy", summary["axial_mapping"]["accuracy"]),
        *[(f"dice_{name}", value) for name, value in summary["dice"].items()],
        *[(f"{name}_auc", table.get("auc")) for name, table in summary["findings"].items()],
        *[(f"{name}_accuracy", table.get("accuracy")) for name, table in summary["findings"].items()],
        ("disc_5class_accuracy", summary["disc_5class"]["accuracy"]),
    ]
    return [
        {"dataset": dataset, "metric": name, "value": None if value is None else round(float(value), 3), "n": n_cases}
        for name, value in entries
    ]


def study_rows(summary: dict[str, Any]) -> list[dict]:
    """One row per finding with the study's columns."""
    rows = []
    for name, table in summary["findings"].items():
        if not table.get("n"):
            rows.append({"finding": name, "n": 0, **dict.fromkeys(STUDY_COLUMNS)})
            continue
        rows.append(diagnostic_row("finding", name, table, STUDY_COLUMNS))
    return rows


def _plot_confusion(summary: dict[str, Any], path: Path) -> None:
    from ..metrics import _figure, _save_figure

    confusion = np.asarray(summary["disc_5class"]["confusion"])
    figure = _figure()
    axes = figure.add_subplot(1, 1, 1)
    axes.imshow(confusion, cmap="Blues")
    classes = summary["disc_5class"]["classes"]
    axes.set(
        xticks=range(len(classes)),
        yticks=range(len(classes)),
        xlabel="predicted",
        ylabel="truth",
        title="Disc findings (axial classifier)",
    )
    axes.set_xticklabels(classes, rotation=30, fontsize=8)
    axes.set_yticklabels(classes, fontsize=8)
    for (row, column), count in np.ndenumerate(confusion):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=9)
    _save_figure(figure, path)


def evaluate_to_folder(
    model_folder: Path, n_cases: int, first_seed: int, out: Path, device: str = "auto", overwrite: bool = False
) -> tuple[dict, str]:
    """Evaluate and write metrics.json, metrics.csv (the study's table), levels.csv, confusion.png and one
    ROC PNG per finding with both classes present; returns the summary and the printed table."""
    from ..atomic import check_output_folder, result_directory, write_csv_atomic, write_text_atomic
    from ..metrics import format_table, plot_roc, roc_analysis
    from ..models.device import select_device

    check_output_folder(out, "spine evaluate", overwrite)  # refuse before minutes of evaluation
    summary = evaluate_on_phantoms(model_folder, n_cases, first_seed, select_device(device).device, keep_cases=True)
    rows = study_rows(summary)
    with result_directory(out, "spine evaluate", overwrite) as staging:
        write_text_atomic(staging / "metrics.json", json.dumps(summary, indent=2, default=float))
        for name, records, fields in (
            ("metrics.csv", rows, ["finding", "n", *STUDY_COLUMNS]),
            (
                "levels.csv",
                [dict(seed=c["seed"], **lv) for c in summary["cases"] for lv in c["levels"]],
                ["seed", "vertebra", "distance_mm", "correct"],
            ),
        ):
            write_csv_atomic(staging / name, records, fields)
        _plot_confusion(summary, staging / "confusion.png")
        for name in FINDINGS:
            pairs = [p for case in summary["cases"] for p in case["findings"][name]]
            truth = [t for t, _ in pairs]
            if pairs and 0 < sum(truth) < len(truth):
                plot_roc(roc_analysis(truth, [s for _, s in pairs]), staging / f"roc_{name}.png", title=name)
    lines = [
        format_table(rows),
        f"level accuracy {summary['level_accuracy']}, all levels right in "
        f"{summary['cases_all_levels_right']:.2f} of cases; disc centre error {summary['disc_center_error_mm']}"
        f" mm; axial mapping accuracy {summary['axial_mapping']['accuracy']}; Dice {summary['dice']}; "
        f"5-class disc accuracy {summary['disc_5class']['accuracy']}",
    ]
    return summary, "\n".join(lines)
