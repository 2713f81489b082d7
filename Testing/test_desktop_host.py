"""The assistants inside a process that renders with VTK OpenGL, as 3D Slicer hosts them (issue 15).

Under Xvfb one fresh process creates a ``vtkXOpenGLRenderWindow``, renders on its main thread every 50 ms
and runs each of the four assistants in a worker thread through the modules' own entry points, on the real
samples, with the default models. Before ONNX Runtime this process died: ``import torchvision`` (or a
``torch.export`` program) imports triton, which segfaults once a GL context exists. Stalls are numbers for
``radassist bench desktop``, not assertions here.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.desktop, pytest.mark.realdata, pytest.mark.models, pytest.mark.slow]


def test_all_four_assistants_finish_beside_an_opengl_window_without_importing_torch(real_data_dir):
    from radassist.desktop_host import ASSISTANTS, run_in_fresh_process, virtual_display

    with virtual_display() as environment:
        report = run_in_fresh_process(["--assistants", ",".join(ASSISTANTS), "--data", str(real_data_dir)], environment)
    assert report["returncode"] == 0, f"the host process failed (code {report['returncode']}):\n{report['stderr']}"
    assert report["window"] == "vtkXOpenGLRenderWindow", "the test must hold a real X OpenGL context"
    runs = {run["assistant"]: run for run in report["runs"]}
    assert set(runs) == set(ASSISTANTS)
    assert not report["torch_imported"] and not report["triton_imported"] and not report["dynamo_imported"]
    assert runs["brain"]["result"]["labels_kji"] == [155, 240, 240] and runs["brain"]["result"]["tumour_voxels"] > 0
    assert runs["crm"]["result"]["slices"] == 19
    assert runs["spine"]["result"]["level_map_kji"] == [52, 55, 60]
    assert runs["breast-us"]["result"]["frames"] == 30
    for run in runs.values():
        assert all(name.endswith(".onnx") for name in run["files_run"]), run
        assert run["frames_rendered"] > 0
    print({name: run["longest_main_thread_gap_s"] for name, run in runs.items()}, "s longest main-thread gap")
