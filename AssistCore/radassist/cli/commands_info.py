"""`radassist info`: versions and the compute device found."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata

from assistcore import __version__

PACKAGES = (
    "numpy",
    "SimpleITK",
    "pydicom",
    "nibabel",
    "scipy",
    "scikit-learn",
    "torch",
    "torchvision",
    "monai",
    "slicer-core",
    "trame-slicer",
)


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("info", parents=[common], help="versions, device and paths")
    parser.add_argument("--device", default="auto", help="device preference to resolve (auto, cuda, mps, cpu)")
    parser.set_defaults(handler=run_info)


def package_versions() -> dict[str, str | None]:
    """Installed versions from package metadata (no import, so this is fast)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_info(args: argparse.Namespace) -> int:
    from assistcore.models.device import select_device
    from assistcore.models.registry import ModelRegistry
    from assistcore.paths import sample_data_dir

    from .main import emit

    versions = package_versions()
    device = {"device": None, "reason": "torch is not installed"}
    if versions["torch"]:
        choice = select_device(args.device)
        device = {"device": choice.device, "reason": choice.reason}
    registry = ModelRegistry()
    info = {
        "radassist": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "device": device,
        "model_search_paths": [str(path) for path in registry.search_paths],
        "sample_data": str(sample_data_dir()),
        "sample_data_found": sample_data_dir().is_dir(),
    }
    lines = [f"radassist {__version__} (Python {info['python']}, {info['platform']})"]
    lines += [f"  {name:<14} {version or 'not installed'}" for name, version in versions.items()]
    lines.append(f"device: {device['device']} ({device['reason']})")
    lines.append("model folders: " + ", ".join(info["model_search_paths"]))
    lines.append(f"sample data: {info['sample_data']} ({'found' if info['sample_data_found'] else 'missing'})")
    emit(args, info, "\n".join(lines))
    return 0
