"""The spine vocabulary has one home (assistcore.spine.labels, read from data/spine_labels.json) and inference
does not load the phantom generator."""

from __future__ import annotations

import subprocess
import sys

from assistcore.labels import load_label_table
from assistcore.spine import labels


def test_level_names_and_values_match_the_packaged_label_table():
    table = {label.value: label.name for label in load_label_table("spine_labels")}
    for name, value in labels.VERTEBRA_VALUE.items():
        assert table[value] == name
    for name, value in labels.DISC_VALUE.items():
        assert table[value] == f"{name} disc"
    assert {labels.DURAL_SAC, labels.CORD, labels.PLL, labels.LF} <= set(table)
    # every value the pipeline writes is in the table; the two phantom-only values are not
    written = set(labels.SPINE_LABELS) - {0, labels.POSTERIOR_ELEMENTS, labels.SOFT_TISSUE}
    assert written == set(table)


def test_label_map_values_are_those_the_models_were_trained_on():
    assert labels.VERTEBRAE == ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3")
    assert labels.DISCS == ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7", "C7/T1", "T1/T2", "T2/T3")
    assert [labels.LABEL_OF[name] for name in ("C1", "T3", "C2/3", "T2/T3")] == [1, 10, 11, 18]
    assert (labels.DURAL_SAC, labels.CORD, labels.PLL, labels.LF) == (19, 20, 21, 22)
    assert list(labels.SPINE_LABELS) == list(range(25))


def test_disc_name_joins_two_vertebra_names_as_the_report_writes_them():
    assert labels.disc_name("C5", "C6") == "C5/6"
    assert labels.disc_name("C7", "T1") == "C7/T1"
    assert labels.disc_name("T1", "T2") == "T1/T2"
    assert all(labels.disc_name(a, b) in labels.DISCS for a, b in zip(labels.VERTEBRAE[1:], labels.VERTEBRAE[2:]))


def test_the_phantom_generator_shares_the_vocabulary_objects():
    from assistcore.phantoms import spine as phantoms

    assert phantoms.SPINE_LABELS is labels.SPINE_LABELS
    assert phantoms.HERNIATION_TYPES is labels.HERNIATION_TYPES
    assert phantoms.LABEL_COLORS_RGB is labels.LABEL_COLORS_RGB


def test_importing_the_spine_pipeline_does_not_import_the_phantom_generator():
    code = (
        "import sys, assistcore.pipelines.spine, assistcore.spine.evaluation, assistcore.spine.pictures;"
        "loaded = sorted(m for m in sys.modules if m.startswith('assistcore.phantoms'));"
        "print(','.join(loaded)); sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"inference imported {done.stdout.strip()} {done.stderr[-400:]}"
