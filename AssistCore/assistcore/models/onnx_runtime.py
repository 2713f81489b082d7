"""Running ONNX exports (:mod:`.exporting`) with ONNX Runtime, and one call that runs any loaded network.

Nothing here imports torch: in a process that renders with VTK OpenGL (3D Slicer) torch's optional imports
(``torch._dynamo``, triton) can kill the process, and torch costs seconds and 0.7 GB to import.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

#: Set by hosts that render with OpenGL in this process (the Slicer modules): networks then run with ONNX
#: Runtime only, never with torch. See :func:`set_gui_host`.
_gui_host = threading.Event()


def set_gui_host(enabled: bool = True) -> None:
    """Declare that this process renders with OpenGL (3D Slicer): only ONNX Runtime may run networks here.

    A model without an ONNX export is then refused with a clear error instead of importing torch, whose
    torchvision/MONAI imports pull in triton and crash such a process.
    """
    if enabled:
        _gui_host.set()
    else:
        _gui_host.clear()


def is_gui_host() -> bool:
    """Whether :func:`set_gui_host` declared this process an OpenGL host."""
    return _gui_host.is_set()


_cpu_threads: int | None = None


def set_cpu_threads(threads: int | None) -> None:
    """CPU threads of every ONNX Runtime session built from now on (``None``: ONNX Runtime's default, one per
    core). Processes sharing a machine (``radassist batch`` workers) each take their share instead of all."""
    global _cpu_threads
    _cpu_threads = None if threads is None else max(1, int(threads))


def onnx_providers(device: str) -> tuple[list[str], str]:
    """ONNX Runtime execution providers for ``device`` ("cpu", "cuda", "cuda:N") and the device they give.

    CUDA needs the ``onnxruntime-gpu`` package; without it the CPU is used and the returned device says so.
    """
    import onnxruntime

    if str(device).startswith("cuda") and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], str(device)
    return ["CPUExecutionProvider"], "cpu"


class OnnxNetwork:
    """A network exported to ONNX, called with numpy arrays.

    ``network(array)`` returns the single output as an array, or a tuple of arrays for several outputs
    (detectors: boxes, scores). Thread-safe: ONNX Runtime sessions may be run from several threads.
    """

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu", entry: dict | None = None) -> None:
        import onnxruntime

        self.path = Path(path)
        self.entry = dict(entry or {})
        providers, self.device = onnx_providers(device)
        options = onnxruntime.SessionOptions()
        # one graph optimisation pass at load; the log of unused initialisers is noise for users
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # idle worker threads sleep instead of spinning between runs: a detector runs frame by frame with Python in
        # between, and spinning threads take the CPU from that Python and from other processes (the scene writer's
        # helper) without changing any output; measured on 2 busy cores: 30 frames in 2.6 s instead of 4.5 s
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if _cpu_threads:
            options.intra_op_num_threads = _cpu_threads
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:  # ONNX Runtime raises its own error types for unreadable graphs
            raise ModelError(
                f"Cannot load the ONNX program {self.path} ({str(error).strip().splitlines()[0]}).",
                "Export the model again with `radassist models export MODEL_ID`.",
            ) from error
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.output_names = [item.name for item in self.session.get_outputs()]
        self.training = False

    def __call__(self, *arrays: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        feeds = {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in zip(self.input_names, arrays)}
        outputs = self.session.run(None, feeds)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def eval(self) -> OnnxNetwork:
        return self

    def __repr__(self) -> str:
        return f"OnnxNetwork({self.path.name}, device={self.device})"


def run_network(network: Any, array: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Run a loaded network (:class:`OnnxNetwork` or a torch module) on one float32 array, return numpy.

    The one way pipelines call networks: with ONNX Runtime no torch is imported; with a torch module (GPUs,
    models without an ONNX export) the array goes to ``device`` under ``torch.inference_mode``.

    :param array: the network's input, e.g. (batch, channels, *spatial) float32.
    :returns: the first output as float32 numpy.
    """
    if isinstance(network, OnnxNetwork):
        output = network(array)
        return np.asarray(output[0] if isinstance(output, tuple) else output, dtype=np.float32)
    import torch

    with torch.inference_mode():
        output = network(torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device))
    return output.float().cpu().numpy()


def softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    """Softmax of ``logits`` along ``axis`` (float32, numerically stable)."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted.astype(np.float32, copy=False)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Logistic function of ``logits`` (float32)."""
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32, copy=False)
