"""AssistCore: a hidden module whose folder holds the `assistcore` and `AssistCoreLib` packages.

Slicer makes both packages importable for the RadAssist modules: when it registers a scripted module that
is not built into Slicer (an installed extension, or a folder in Application Settings > Modules >
Additional module paths), it appends the module's folder to ``sys.path`` (``ctkFactoryScriptedItem::load``
in Base/QTGUI/qSlicerScriptedLoadableModuleFactory.cxx). Registration happens for every module before any
module class is instantiated, so ``CRMAssist.py`` can import ``AssistCoreLib`` at its top whatever the
order. In the built extension all scripted modules share one qt-scripted-modules folder anyway. The check
below only matters when this file is executed without that registration (a script or a test runner).

Python dependencies are checked and installed at the point of use, after asking
(``AssistCoreLib.slicerDependencies.ensureRequirements``, called by each module's Run button), never here at
import.
"""

import os
import sys

from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModule

MODULE_DIRECTORY = os.path.dirname(os.path.abspath(__file__))
if MODULE_DIRECTORY not in sys.path:
    sys.path.append(MODULE_DIRECTORY)  # append, as Slicer does: never shadow an installed package


class AssistCore(ScriptedLoadableModule):
    def __init__(self, parent):
        from assistcore.models.onnx_runtime import set_gui_host
        from AssistCoreLib.dependencies import REQUIREMENTS

        # Slicer draws with OpenGL in this process: networks run with ONNX Runtime only, never with torch,
        # whose torchvision/MONAI imports pull in triton, which crashes a process holding a GL context.
        set_gui_host(True)
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("AssistCore")
        self.parent.categories = ["RadAssist"]
        self.parent.contributors = ["RadAssist contributors"]
        self.parent.helpText = _(
            "Shared core of the RadAssist assistants (CRMAssist, SpineAssist, BrainTumorLabel, BreastUSAssist); it "
            "has no panel. The assistants run their networks with ONNX Runtime (no PyTorch needed; for an NVIDIA "
            "GPU install onnxruntime-gpu) and need these Python packages: {packages}. The first time you press "
            "Run, an assistant offers to install the "
            "missing ones; to install them yourself, run in the Python console: "
            "slicer.util.pip_install({requirements})"
        ).format(packages=", ".join(REQUIREMENTS.values()), requirements=list(REQUIREMENTS.values()))
        self.parent.acknowledgementText = _("Part of the RadAssist extension.")
        self.parent.hidden = True
