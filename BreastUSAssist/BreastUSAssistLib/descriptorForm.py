"""The lesion descriptor form: one combo box per field of the lexicon (assistcore.breastus.descriptors), built
from DESCRIPTOR_FIELDS. Imports Qt: only imported inside the Slicer app.

Every combo box starts with an empty "not recorded" entry; yes/no findings are yes/no/blank combo boxes (a check
box could not say "not recorded"). Item data are the lexicon's values, so what the form gives is exactly what
LesionDescriptors checks.
"""

from __future__ import annotations

import qt
from slicer.i18n import tr as _

from assistcore.breastus.descriptors import DESCRIPTOR_FIELDS, DESCRIPTOR_LABELS, LesionDescriptors


def _choices(allowed) -> list[tuple[str, str]]:
    """(shown text, value) of one field; the value "" is "not recorded"."""
    if allowed is bool:
        return [(_("(not recorded)"), ""), (_("yes"), "yes"), (_("no"), "no")]
    return [(_("(not recorded)"), "")] + [(value.replace("_", " "), value) for value in allowed]


class DescriptorForm:
    """Combo boxes for every descriptor field, added as rows of ``formLayout`` (a QFormLayout)."""

    def __init__(self, formLayout) -> None:
        self.comboBoxes: dict[str, qt.QComboBox] = {}
        for name, allowed in DESCRIPTOR_FIELDS.items():
            comboBox = qt.QComboBox()
            for text, value in _choices(allowed):
                comboBox.addItem(text, value)
            comboBox.toolTip = _("Leave at (not recorded) when the finding was not assessed")
            formLayout.addRow(_(DESCRIPTOR_LABELS[name]) + ":", comboBox)
            self.comboBoxes[name] = comboBox

    def show(self, descriptors: LesionDescriptors | None) -> None:
        """Show a detection's record (None or an empty record: every field blank)."""
        values = descriptors.values if descriptors is not None else {}
        for name, comboBox in self.comboBoxes.items():
            value = values.get(name)
            if isinstance(value, bool):
                value = "yes" if value else "no"
            index = comboBox.findData(value or "")
            comboBox.setCurrentIndex(max(index, 0))

    def values(self) -> dict[str, str | None]:
        """{field: value or None} as chosen (yes/no as text; LesionDescriptors turns them into booleans)."""
        return {name: (comboBox.currentData or None) for name, comboBox in self.comboBoxes.items()}

    def setEnabled(self, enabled: bool) -> None:
        for comboBox in self.comboBoxes.values():
            comboBox.setEnabled(enabled)
