"""The phantom generators give the same samples for the same seed as the code the bundled models were trained on.

The stored hashes (``Testing/data/phantom_hashes.json``) were written by ``Testing/phantom_hash_cases.py``
before the generators were split into packages; a mismatch means a refactor changed what a seed draws, so
the model cards' numbers would no longer describe these phantoms.
"""

from __future__ import annotations

import json

import pytest
from phantom_hash_cases import CASES, HASH_FILE, compute

STORED = json.loads(HASH_FILE.read_text())


def test_every_case_has_stored_hashes():
    assert sorted(STORED) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_generator_gives_the_stored_sample_for_the_seed(case):
    [(_, hashes)] = list(compute([case]))
    expected = STORED[case]
    assert sorted(hashes) == sorted(expected), f"{case}: different set of arrays"
    changed = [name for name in hashes if hashes[name] != expected[name]]
    assert not changed, f"{case}: {', '.join(changed)} differ from {HASH_FILE.name}"
