"""The assistants hosted the way 3D Slicer hosts them, to prove they cannot crash it and to time its stalls.

One process does what Slicer does when a RadAssist module runs: a VTK OpenGL window renders on the main
thread every 50 ms (Slicer's views), the process is declared an OpenGL host (``AssistCore.py`` does that in
Slicer), and each assistant runs in a worker thread through the modules' own entry points
(``AssistCoreLib.pipelines.startPipeline`` on MRML volume nodes, ``AssistCoreLib.breastUs.startCinePipeline``
on the cine), polled from the main loop as ``RunController`` does. Inputs are the real samples in
``../shared/data``; models are the defaults.

Run ``python -m radassist.desktop_host --assistants brain,crm,spine,breast-us`` (with a ``DISPLAY``: under
Xvfb here); it prints one JSON document. ``--runtime torch --no-window`` times torch on the CPU instead (no
GL context: torch's imports would crash one). The test (``Testing/test_desktop_host.py``) and
``radassist bench desktop`` run it in fresh processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: Slicer's views repaint at most this often while the user interacts; the loop renders at this period.
FRAME_PERIOD_S = 0.05
ASSISTANTS = ("brain", "crm", "spine", "breast-us")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _window(enabled: bool):
    """A VTK render window with a cone (an OpenGL context on this thread), or None."""
    if not enabled:
        return None
    import vtk

    renderer = vtk.vtkRenderer()
    cone = vtk.vtkConeSource()
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputConnection(cone.GetOutputPort())
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    renderer.AddActor(actor)
    window = vtk.vtkRenderWindow()
    window.SetSize(320, 240)
    window.AddRenderer(renderer)
    window.Render()
    window.camera_actor = actor  # keep a handle to spin the cone each frame
    return window


def _inputs(data: Path) -> dict[str, Callable[[Any], tuple[Any, Callable[[Any], dict]]]]:
    """Per assistant: a starter ``(scene) -> (RunHandle, check(result) -> shape summary)``."""
    from assistcore.image_io import read_image
    from AssistCoreLib.volumes import imageToVolumeNode

    brain_folder = next((data / "brain_tcga" / "TCGA-DU-7294").rglob("raw_bet"))
    prostate = next((data / "pelvis_prostatex_dicom" / "ProstateX-0000").rglob("*t2tsetra*"))

    def brain(scene):
        from AssistCoreLib.pipelines import startPipeline

        suffixes = {"t1": "t1", "t1c": "t1c", "t2": "t2", "flair": "fla"}
        images = {
            role: read_image(next(brain_folder.glob(f"*_{suffix}_bet.nii.gz")), as_scan=True)
            for role, suffix in suffixes.items()
        }
        nodes = {role: imageToVolumeNode(scene, image, f"brain_{role}") for role, image in images.items()}
        handle = startPipeline("brain_tumor", nodes, ["t1c", "flair"], {"device": "auto"})

        def check(result) -> dict:
            assert result.labels_kji.shape == images["flair"].shape_kji, "labels off the FLAIR grid"
            return {"labels_kji": list(result.labels_kji.shape), "tumour_voxels": int((result.labels_kji > 0).sum())}

        return handle, check

    def crm(scene):
        from AssistCoreLib.pipelines import startPipeline

        image = read_image(prostate, as_scan=True)
        handle = startPipeline("crm", {"t2": imageToVolumeNode(scene, image, "crm_t2")}, ["t2"], {"device": "auto"})

        def check(result) -> dict:
            slices = image.shape_kji[0]
            assert all(0 <= box.slice_index < slices for box in result.boxes), "a box off the series"
            return {"slices": slices, "boxes": len(result.boxes), "verdict_regions": len(result.regions)}

        return handle, check

    def spine(scene):
        from AssistCoreLib.pipelines import startPipeline

        sagittal = read_image(data / "spine_sct_cervical/t2/t2.nii.gz", as_scan=True)
        axial = read_image(data / "spine_sct_axial/t2_axial_cervical.nii.gz", as_scan=True)
        nodes = {
            "sag_t2": imageToVolumeNode(scene, sagittal, "sag_t2"),
            "ax_t2": [imageToVolumeNode(scene, axial, "ax_t2")],
        }
        handle = startPipeline("spine", nodes, ["sag_t2"], {"device": "auto"})

        def check(result) -> dict:
            assert result.level_map.shape_kji == sagittal.shape_kji, "level map off the sagittal grid"
            return {"level_map_kji": list(result.level_map.shape_kji), "levels": [v.name for v in result.vertebrae]}

        return handle, check

    def breast(scene):
        from AssistCoreLib.breastUs import startCinePipeline

        cine_path = data / "us_cine_dicom" / "examples_ybr_color.dcm"
        handle = startCinePipeline(str(cine_path), {"device": "auto"})

        def check(result) -> dict:
            frames = len(result.cine.frames)
            assert len(result.frames) <= frames and all(0 <= f.index < frames for f in result.frames)
            return {"frames": frames, "fused_lesions": len(result.fused)}

        return handle, check

    return {"brain": brain, "crm": crm, "spine": spine, "breast-us": breast}


def run_hosted(assistants: list[str], data: Path, window_enabled: bool, repeats: int) -> dict:
    """Run each assistant ``repeats`` times in a worker thread while the main thread renders; see the module."""
    started = time.perf_counter()
    runtime_import_s = _import_runtime()
    window = _window(window_enabled)
    from AssistCoreLib.headless import createHeadlessScene

    scene, _logics = createHeadlessScene()
    starters = _inputs(data)
    runs = []
    for name in assistants:
        for repeat in range(repeats):
            began = time.perf_counter()
            handle, check = starters[name](scene)
            longest_gap_s, frames = _render_until_done(window, handle)
            result = handle.result()  # re-raises the worker's error
            runs.append(
                {
                    "assistant": name,
                    "case": "first" if repeat == 0 else "second",
                    "seconds": round(time.perf_counter() - began, 3),
                    "longest_main_thread_gap_s": round(longest_gap_s, 3),
                    "frames_rendered": frames,
                    "result": check(result),
                    "files_run": [f["file"] for f in _provenance(result).get("files_run", [])],
                    "device": _provenance(result).get("device"),
                }
            )
    return {
        "window": type(window).__name__ if window is not None else None,
        "runtime_import_s": round(runtime_import_s, 3),
        "runs": runs,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "total_s": round(time.perf_counter() - started, 3),
        "torch_imported": "torch" in sys.modules,
        "triton_imported": "triton" in sys.modules,
        "dynamo_imported": "torch._dynamo" in sys.modules,
    }


def _provenance(result) -> dict:
    return getattr(result, "provenance", {}) or {}


def _import_runtime() -> float:
    """Seconds to import what runs the networks: ONNX Runtime, or torch with torchvision and MONAI."""
    began = time.perf_counter()
    if os.environ.get("RADASSIST_CPU_RUNTIME", "onnx") == "torch":
        import monai.networks.nets  # noqa: F401
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    else:
        import onnxruntime  # noqa: F401
    return time.perf_counter() - began


def _render_until_done(window, handle) -> tuple[float, int]:
    """Render every :data:`FRAME_PERIOD_S` and drain progress until ``handle`` is done; return the longest
    gap between two frames (s) and the number of frames."""
    last = time.perf_counter()
    longest, frames = 0.0, 0
    while not handle.done:
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
        if window is not None:
            window.camera_actor.RotateY(3.0)
            window.Render()
        handle.poll()  # as RunController does: the GUI shows progress events
        frames += 1
        time.sleep(max(0.0, FRAME_PERIOD_S - (time.perf_counter() - now)))
    return longest, frames


@contextlib.contextmanager
def virtual_display() -> Iterator[dict[str, str]]:
    """The environment for a child process with an X display: this one's ``DISPLAY``, else a fresh Xvfb.

    :raises RuntimeError: no ``DISPLAY`` and no ``Xvfb`` (Debian package ``xvfb``; ``make test`` installs it).
    """
    environment = dict(os.environ)
    if environment.get("DISPLAY"):
        yield environment
        return
    if shutil.which("Xvfb") is None:
        raise RuntimeError("No DISPLAY and no Xvfb: install Debian's xvfb (make desktop-tools).")
    read_end, write_end = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it when it is ready to accept clients
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        environment["DISPLAY"] = f":{number}"
        yield environment
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_in_fresh_process(arguments: list[str], environment: dict[str, str], timeout_s: float = 900) -> dict:
    """``python -m radassist.desktop_host ARGUMENTS`` in a new process; its JSON report, with ``returncode``
    (a negative code is the signal that killed it, e.g. -11 for a segmentation fault) and ``stderr``."""
    completed = subprocess.run(
        [sys.executable, "-m", "radassist.desktop_host", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    report.update(returncode=completed.returncode, stderr=completed.stderr[-4000:])
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assistants", default=",".join(ASSISTANTS), help="comma-separated: " + ", ".join(ASSISTANTS))
    parser.add_argument("--data", default=None, help="sample data folder (default: $RADASSIST_DATA or ../shared/data)")
    parser.add_argument("--runtime", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--no-window", action="store_true", help="no OpenGL window (needed with --runtime torch)")
    parser.add_argument("--repeats", type=int, default=1, help="cases per assistant in this process (2: second case)")
    args = parser.parse_args(argv)
    from assistcore.models.onnx_runtime import set_gui_host
    from assistcore.paths import require_sample_data_dir

    if args.runtime == "torch":
        if not args.no_window:
            parser.error("--runtime torch needs --no-window: torch's imports crash a process with a GL context")
        os.environ["RADASSIST_CPU_RUNTIME"] = "torch"
    else:
        set_gui_host(True)  # what AssistCore.py does in Slicer
    data = Path(args.data) if args.data else require_sample_data_dir()
    assistants = [name.strip() for name in args.assistants.split(",") if name.strip()]
    unknown = sorted(set(assistants) - set(ASSISTANTS))
    if unknown:
        parser.error(f"unknown assistants {unknown}; choose from {', '.join(ASSISTANTS)}")
    report = run_hosted(assistants, data, not args.no_window, args.repeats)
    report["runtime"] = args.runtime
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
