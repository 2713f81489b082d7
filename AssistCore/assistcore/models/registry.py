"""Where models are found, and importing new ones (folders, zips, MONAI bundles), all offline.

Search order: the bundled ``Resources/Models/`` of the extension (``$RADASSIST_BUNDLED_MODELS`` overrides),
the per-user model folder (``$RADASSIST_USER_MODELS`` overrides the platform default), then every folder in
``$RADASSIST_MODELS_PATH`` (separated by ``os.pathsep``). A later location with the same model id wins
(a user's retrained model replaces the bundled demo), and the listing says where each came from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_directory
from ..errors import ChecksumError, ModelError
from ..paths import REPOSITORY_ROOT
from .card import CARD_FILE_NAME, ModelCard, load_model_card, validate_card_data
from .weights import sha256_of, verify_weights


def bundled_models_dir() -> Path:
    return Path(os.environ.get("RADASSIST_BUNDLED_MODELS", REPOSITORY_ROOT / "Resources" / "Models"))


def user_models_dir() -> Path:
    configured = os.environ.get("RADASSIST_USER_MODELS")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_data_dir("radassist", appauthor=False)) / "models"


@dataclass(frozen=True)
class ModelEntry:
    card: ModelCard
    source: str  # bundled | user | env
    folder: Path
    shadows: str = ""  # where an entry with the same id was found and replaced by this one


@dataclass(frozen=True)
class VerifyResult:
    id: str
    ok: bool
    path: Path
    expected: str
    actual: str
    message: str


class ModelRegistry:
    """Model cards found in the search paths (read when constructed; call :meth:`refresh` after imports)."""

    def __init__(self, search_paths: list[tuple[str, Path]] | None = None) -> None:
        if search_paths is None:
            search_paths = [("bundled", bundled_models_dir()), ("user", user_models_dir())]
            search_paths += [
                ("env", Path(part)) for part in os.environ.get("RADASSIST_MODELS_PATH", "").split(os.pathsep) if part
            ]
        self._locations = [(source, Path(path)) for source, path in search_paths]
        self.refresh()

    @property
    def search_paths(self) -> list[Path]:
        return [path for _, path in self._locations]

    def refresh(self) -> None:
        entries: dict[str, ModelEntry] = {}
        self.problems: list[str] = []
        for source, location in self._locations:
            if not location.is_dir():
                continue
            for card_path in sorted(location.glob(f"*/{CARD_FILE_NAME}")):
                try:
                    card = load_model_card(card_path)
                except ModelError as error:  # one broken card must not hide the others
                    self.problems.append(str(error))
                    continue
                previous = entries.get(card.id)
                shadows = f"{previous.source}:{previous.folder}" if previous else ""
                entries[card.id] = ModelEntry(card, source, card_path.parent, shadows)
        self._entries = entries

    def list(self) -> list[ModelEntry]:
        return sorted(self._entries.values(), key=lambda entry: (entry.card.assistant, entry.card.id))

    def get(self, model_id: str) -> ModelEntry:
        try:
            return self._entries[model_id]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ModelError(
                f"Unknown model {model_id!r}. Known models: {known}.",
                "List them with `radassist models list`; import new ones with `radassist models import`.",
            ) from None

    def default_for(self, assistant: str) -> ModelEntry:
        """The model for an assistant: a user's or site's model before the bundled demo."""
        candidates = [entry for entry in self.list() if entry.card.assistant == assistant]
        if not candidates:
            raise ModelError(
                f"No model for the {assistant} assistant in {', '.join(map(str, self.search_paths))}.",
                "Import one with `radassist models import PATH` or train one with the assistant's train command.",
            )
        preference = {"env": 0, "user": 1, "bundled": 2}
        return sorted(candidates, key=lambda entry: (preference.get(entry.source, 3), entry.card.id))[0]

    def verify(self, model_id: str | None = None) -> list[VerifyResult]:
        entries = [self.get(model_id)] if model_id else self.list()
        results = []
        for entry in entries:
            card = entry.card
            try:
                verify_weights(card)
                results.append(
                    VerifyResult(
                        card.id, True, card.weights_path, card.weights_sha256, card.weights_sha256, "sha256 matches"
                    )
                )
            except ChecksumError as error:
                actual = sha256_of(card.weights_path)
                results.append(
                    VerifyResult(card.id, False, card.weights_path, card.weights_sha256, actual, error.message)
                )
            except ModelError as error:
                results.append(VerifyResult(card.id, False, card.weights_path, card.weights_sha256, "", error.message))
        return results

    def import_model(
        self, path: str | os.PathLike[str], destination: Path | None = None, overwrite: bool = False
    ) -> ModelEntry:
        """Copy a model folder, a .zip of one, or a MONAI bundle into the user model folder (offline).

        The weights are verified (or, for MONAI bundles, hashed into a new card) before anything is written;
        the model folder appears whole or not at all.
        """
        path = Path(path)
        if not path.exists():
            raise ModelError(f"Model to import not found: {path}.")
        destination = Path(destination or user_models_dir())
        with tempfile.TemporaryDirectory(prefix="radassist-import-") as scratch:
            folder = _extract_zip(path, Path(scratch)) if path.is_file() else path
            folder = _find_model_root(folder)
            if (folder / CARD_FILE_NAME).is_file():
                card = load_model_card(folder)
                verify_weights(card)
                card_data = card.data
            else:
                card_data = monai_bundle_to_card(folder)
            target = destination / card_data["id"]
            if target.exists() and not overwrite:
                raise ModelError(
                    f"A model {card_data['id']} already exists in {target}.", "Pass --overwrite to replace it."
                )
            with atomic_directory(target) as staging:
                shutil.copytree(folder, staging, dirs_exist_ok=True)
                (staging / CARD_FILE_NAME).write_text(json.dumps(card_data, indent=2), encoding="utf-8")
        if destination not in self.search_paths:
            self._locations.append(("user", destination))
        self.refresh()
        entry = self.get(card_data["id"])
        verify_weights(entry.card)
        return entry


def _extract_zip(path: Path, scratch: Path) -> Path:
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is neither a folder nor a zip file.", "Give a model folder or a .zip of one.")
    with zipfile.ZipFile(path) as archive:
        root = scratch.resolve()
        for member in archive.namelist():
            target = (scratch / member).resolve()
            if root != target and root not in target.parents:
                raise ModelError(
                    f"Zip {path} holds an unsafe path {member!r} (outside the archive folder).",
                    "Refusing to extract it; re-create the zip from the model folder.",
                )
        archive.extractall(scratch)
    return scratch


def _find_model_root(folder: Path) -> Path:
    """The folder holding model_card.json or configs/metadata.json (the top, or one level down)."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if (candidate / CARD_FILE_NAME).is_file() or (candidate / "configs" / "metadata.json").is_file():
            return candidate
    raise ModelError(
        f"No model_card.json or MONAI bundle (configs/metadata.json) in {folder}.",
        "Import the folder that holds the model card or the bundle.",
    )


#: Known output/input channel names of tumour bundles -> (display name, colour, SNOMED type code, meaning)
_KNOWN_CHANNELS = {
    "tc": ("Tumor core", "#ff0000", "108369006", "Neoplasm"),
    "wt": ("Whole tumor", "#ffff00", "108369006", "Neoplasm"),
    "et": ("Enhancing tumor", "#a020f0", "108369006", "Neoplasm"),
}


def monai_bundle_to_card(folder: Path) -> dict:
    """A RadAssist card for a MONAI bundle folder (configs/metadata.json, configs/inference.json, models/model.pt)."""
    metadata_path = folder / "configs" / "metadata.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    inference_path = folder / "configs" / "inference.json"
    inference = json.loads(inference_path.read_text(encoding="utf-8")) if inference_path.is_file() else {}
    if "network_def" not in inference:
        raise ModelError(
            f"MONAI bundle {folder} has no network_def in configs/inference.json.",
            "Only bundles whose network can be built from their config can be imported.",
        )
    weights = next(
        (folder / "models" / name for name in ("model.pt", "model.ts") if (folder / "models" / name).is_file()), None
    )
    if weights is None:
        raise ModelError(f"MONAI bundle {folder} has no models/model.pt or models/model.ts.")
    data_format = metadata.get("network_data_format", {})
    inputs = next(iter(data_format.get("inputs", {}).values()), {})
    outputs = next(iter(data_format.get("outputs", {}).values()), {})
    input_names = [
        inputs.get("channel_def", {}).get(str(i), f"channel{i}") for i in range(int(inputs.get("num_channels", 1)))
    ]
    output_names = [
        outputs.get("channel_def", {}).get(str(i), f"output{i}") for i in range(int(outputs.get("num_channels", 1)))
    ]
    labels = []
    for index, name in enumerate(output_names):
        known = _KNOWN_CHANNELS.get(name.lower())
        display, color, code, meaning = known or (name, "#00c000", "85756007", "Tissue")
        labels.append(
            {
                "value": index + 1,
                "name": display,
                "color": color,
                "snomed": {
                    "category": {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"}
                    if known
                    else {"code": "85756007", "scheme": "SCT", "meaning": "Tissue"},
                    "type": {"code": code, "scheme": "SCT", "meaning": meaning},
                },
            }
        )
    inferer = inference.get("inferer", {})
    bundle_id = re.sub(r"[^a-z0-9_.-]+", "_", (metadata.get("name") or folder.name).lower()).strip("_") or "bundle"
    card = {
        "id": bundle_id,
        "name": metadata.get("name", folder.name),
        "version": str(metadata.get("version", "0")),
        "assistant": "brain_tumor" if {"tc", "wt", "et"} & {n.lower() for n in output_names} else "generic",
        **{
            key: metadata[key]
            for key in (
                "monai_version",
                "pytorch_version",
                "numpy_version",
                "required_packages_version",
                "copyright",
                "data_source",
                "data_type",
                "image_classes",
                "label_classes",
                "pred_classes",
                "eval_metrics",
                "references",
            )
            if key in metadata
        },
        "task": metadata.get("task", ""),
        "description": metadata.get("description", ""),
        "authors": metadata.get("authors", "unknown"),
        "intended_use": metadata.get("intended_use", "Imported MONAI bundle; see its documentation."),
        "synthetic_training_data": False,
        "network_data_format": data_format or {"inputs": {}, "outputs": {}},
        "network": inference["network_def"],
        "input_channels": [{"name": name, "role": name.lower()} for name in input_names],
        "preprocessing": [{"step": "monai_bundle", "config": "configs/inference.json"}],
        "postprocessing": [{"step": "sigmoid_threshold", "threshold": 0.5, "channels": output_names}]
        if outputs.get("activation", "sigmoid") != "softmax"
        else [{"step": "softmax_argmax"}],
        "inference": {
            "mode": "sliding_window",
            "roi_size": list(inferer.get("roi_size", [96, 96, 96])),
            "overlap": float(inferer.get("overlap", 0.25)),
            "sw_batch_size": int(inferer.get("sw_batch_size", 1)),
        },
        "labels": labels,
        "weights": {
            "file": str(weights.relative_to(folder)),
            "sha256": sha256_of(weights),
            "format": "torchscript" if weights.suffix == ".ts" else "state_dict",
            "size_bytes": weights.stat().st_size,
        },
        "training": {"command": "imported MONAI bundle (trained elsewhere)", "source": str(folder)},
        "validation": [
            {"dataset": "as reported by the bundle", "metric": name, "value": float(value)}
            for name, value in metadata.get("eval_metrics", {}).items()
            if isinstance(value, int | float)
        ],
    }
    validate_card_data(card, f"converted from MONAI bundle {folder}")
    return card
