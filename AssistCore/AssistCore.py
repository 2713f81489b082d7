"""AssistCore: a hidden module whose folder holds the `assistcore` and `AssistCoreLib` packages.

Slicer adds every scripted module's folder to ``sys.path`` when it loads the module, which makes both
packages importable for the RadAssist modules. Python dependencies are checked and installed at the point
of use (``AssistCoreLib.slicerDependencies.ensureRequirements``), never here at import.
"""

import os
import sys

from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModule


class AssistCore(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AssistCore")
        self.parent.categories = ["RadAssist"]
        self.parent.contributors = ["RadAssist contributors"]
        self.parent.helpText = _("Shared core of the RadAssist assistants (hidden).")
        self.parent.acknowledgementText = _("Part of the RadAssist extension.")
        self.parent.hidden = True
        moduleDirectory = os.path.dirname(os.path.abspath(__file__))
        if moduleDirectory not in sys.path:  # also when loaded from an additional module path
            sys.path.insert(0, moduleDirectory)
