"""Where models are found, and importing new ones (folders, zips, MONAI bundles), all offline.

Search order: the bundled ``Resources/Models/`` of the extension (``$RADASSIST_BUNDLED_MODELS`` overrides),
the per-user model folder (``$RADASSIST_USER_MODELS`` overrides the platform default), then every folder in
``$RADASSIST_MODELS_PATH`` (separated by ``os.pathsep``). Each model is a folder ``<location>/<any name>/``
holding ``model_card.json``. When two locations hold the same model id the later one is used (a user's
retrained model replaces the bundled demo), never silently: the entry records what it replaced and
:attr:`ModelRegistry.shadowed` lists the hidden ones. A MONAI bundle gets its card from
:mod:`.monai_bundle`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_directory
from ..errors import ChecksumError, ModelError
from ..paths import REPOSITORY_ROOT
from .card import CARD_FILE_NAME, ModelCard, load_model_card
from .monai_bundle import monai_bundle_to_card
from .weights import verify_components, verify_exported_program, verify_weights

#: Where a model was found, in search order; later sources win over earlier ones.
SOURCES = ("bundled", "user", "env")


def bundled_models_dir() -> Path:
    """``Resources/Models`` of the extension (AssistCore/assistcore -> ../../Resources/Models)."""
    return Path(os.environ.get("RADASSIST_BUNDLED_MODELS") or REPOSITORY_ROOT / "Resources" / "Models")


def user_models_dir() -> Path:
    """The per-user model folder (``$RADASSIST_USER_MODELS``, else platformdirs' user data dir)."""
    configured = os.environ.get("RADASSIST_USER_MODELS")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_data_dir("radassist", appauthor=False)) / "models"


def env_models_dirs() -> list[Path]:
    """The folders named in ``$RADASSIST_MODELS_PATH`` (``os.pathsep``-separated), in order."""
    return [Path(part) for part in os.environ.get("RADASSIST_MODELS_PATH", "").split(os.pathsep) if part.strip()]


@dataclass(frozen=True)
class ModelEntry:
    """A model found by the registry."""

    card: ModelCard
    source: str  # bundled | user | env
    folder: Path
    shadows: str = ""  # "<source>:<folder>" of an entry with the same id that this one replaces


@dataclass(frozen=True)
class VerifyResult:
    """One weights file checked against its card: ``expected``/``actual`` are hex sha256 ("" if unread)."""

    id: str
    ok: bool
    expected: str
    actual: str
    path: Path
    message: str


class ModelRegistry:
    """Model cards found in the search paths (read when constructed; :meth:`refresh` reads them again).

    :param search_paths: (source, folder) pairs in search order; default: bundled, user, then
        ``$RADASSIST_MODELS_PATH``.
    """

    def __init__(self, search_paths: list[tuple[str, Path]] | None = None) -> None:
        if search_paths is None:
            search_paths = [("bundled", bundled_models_dir()), ("user", user_models_dir())]
            search_paths += [("env", path) for path in env_models_dirs()]
        self._locations = [(source, Path(path)) for source, path in search_paths]
        self.refresh()

    @property
    def search_paths(self) -> list[Path]:
        return [path for _, path in self._locations]

    def refresh(self) -> None:
        """Read every card again. Broken cards are skipped and described in :attr:`problems`."""
        entries: dict[str, ModelEntry] = {}
        self.problems: list[str] = []
        self.shadowed: list[ModelEntry] = []
        for source, location in self._locations:
            if not location.is_dir():
                continue
            for card_path in sorted(location.glob(f"*/{CARD_FILE_NAME}")):
                if card_path.parent.name.startswith("."):
                    continue  # staging folders of an import or training in progress, or left by a crash
                try:
                    card = load_model_card(card_path)
                except ModelError as error:  # one broken card must not hide the others
                    self.problems.append(str(error))
                    continue
                previous = entries.get(card.id)
                if previous is not None:
                    self.shadowed.append(previous)
                shadows = f"{previous.source}:{previous.folder}" if previous else ""
                entries[card.id] = ModelEntry(card, source, card_path.parent, shadows)
        self._entries = entries

    def list(self) -> list[ModelEntry]:
        """Models in use, sorted by assistant then id (shadowed duplicates are in :attr:`shadowed`)."""
        return sorted(self._entries.values(), key=lambda entry: (entry.card.assistant, entry.card.id))

    def get(self, model_id: str) -> ModelEntry:
        """:raises ModelError: unknown id; the message lists the known ids."""
        try:
            return self._entries[model_id]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ModelError(
                f"Unknown model {model_id!r}. Known models: {known}.",
                "List them with `radassist models list`; import new ones with `radassist models import PATH`.",
            ) from None

    def default_for(self, assistant: str, accepts: Callable[[Any], bool] | None = None) -> ModelEntry:
        """The model for an assistant: a site's (env) or user's model before the bundled demo,
        a model trained on real data before a synthetic demo, then the smallest id.

        :param accepts: only cards for which it returns True (e.g. a brain model for extra-axial tumours).
        """
        candidates = [
            entry
            for entry in self._entries.values()
            if entry.card.assistant == assistant and (accepts is None or accepts(entry.card))
        ]
        if not candidates:
            raise ModelError(
                f"No model for the {assistant} assistant in {', '.join(map(str, self.search_paths))}.",
                "Import one with `radassist models import PATH` or train one with the assistant's train command.",
            )
        preference = {"env": 0, "user": 1, "bundled": 2}
        return min(
            candidates,
            key=lambda entry: (preference.get(entry.source, 3), entry.card.is_synthetic_demo, entry.card.id),
        )

    def verify(self, model_id: str | None = None) -> list[VerifyResult]:
        """Check weights against their sha256 (one model, or all); failures are results, not exceptions."""
        entries = [self.get(model_id)] if model_id else self.list()
        results = []
        for entry in entries:
            card = entry.card
            try:
                verify_weights(card)
                verify_exported_program(card)
                verify_components(card)
            except ChecksumError as error:
                # the error names the failing file: the weights or the exported program
                results.append(
                    VerifyResult(
                        card.id,
                        False,
                        getattr(error, "expected", card.weights_sha256),
                        getattr(error, "actual", ""),
                        getattr(error, "path", card.weights_path),
                        str(error),
                    )
                )
            except ModelError as error:
                results.append(VerifyResult(card.id, False, card.weights_sha256, "", card.weights_path, str(error)))
            else:
                results.append(
                    VerifyResult(
                        card.id, True, card.weights_sha256, card.weights_sha256, card.weights_path, "sha256 matches"
                    )
                )
        return results

    def import_model(
        self, path: str | os.PathLike[str], destination: str | os.PathLike[str] | None = None, overwrite: bool = False
    ) -> ModelEntry:
        """Copy a model folder, a .zip of one, or a MONAI bundle (folder or .zip) into the user model folder.

        Works offline. The weights are verified against the card (or, for a MONAI bundle, hashed into a
        new card kept beside the bundle's own files) before anything is written; the model folder
        ``<destination>/<model id>`` then appears whole or not at all.

        :param destination: folder to import into (default: the per-user model folder).
        :param overwrite: replace a model already imported under the same id.
        :raises ModelError: not found, not a model, unsafe zip, id already imported without ``overwrite``.
        :raises ChecksumError: the weights do not match the card.
        """
        path = Path(path)
        if not path.exists():
            raise ModelError(f"Model to import not found: {path}.", "Give a model folder, a .zip, or a MONAI bundle.")
        destination = Path(destination or user_models_dir())
        with tempfile.TemporaryDirectory(prefix="radassist-import-") as scratch:
            if path.is_file():
                folder = _find_model_root(_extract_zip(path, Path(scratch) / path.stem))
            else:
                folder = _find_model_root(path)
            if (folder / CARD_FILE_NAME).is_file():
                card = load_model_card(folder)
                verify_weights(card)
                verify_exported_program(card)
                card_data = card.data
            else:
                card_data = monai_bundle_to_card(folder, source=path)
            target = destination / card_data["id"]
            if target.exists() and not overwrite:
                raise ModelError(
                    f"A model {card_data['id']} already exists in {target}.",
                    "Pass --overwrite (overwrite=True) to replace it.",
                )
            with atomic_directory(target) as staging:
                shutil.copytree(folder, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*.tmp"))
                (staging / CARD_FILE_NAME).write_text(json.dumps(card_data, indent=2) + "\n", encoding="utf-8")
                verify_weights(load_model_card(staging))  # the copy, before it becomes visible
        if destination.resolve() not in {location.resolve() for location in self.search_paths}:
            self._locations.append(("user", destination))
        self.refresh()
        return self.get(card_data["id"])


def _extract_zip(path: Path, scratch: Path) -> Path:
    """Extract ``path`` into ``scratch`` after checking that no member escapes it (zip slip)."""
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is neither a folder nor a zip file.", "Give a model folder or a .zip of one.")
    scratch.mkdir(parents=True, exist_ok=True)
    root = scratch.resolve()
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            name = member.filename
            target = (root / name).resolve()
            unsafe = name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in re.split(r"[/\\]", name)
            if unsafe or (target != root and root not in target.parents):
                raise ModelError(
                    f"Zip {path} holds an unsafe path {name!r} (outside the archive folder); nothing was extracted.",
                    "Re-create the zip from the model folder (`zip -r model.zip MODEL_FOLDER`).",
                )
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise ModelError(
                    f"Zip {path} holds a symbolic link {name!r}; nothing was extracted.",
                    "Re-create the zip with the files themselves.",
                )
        archive.extractall(root)
    return root


def _find_model_root(folder: Path) -> Path:
    """The folder holding model_card.json or configs/metadata.json (the top, or one level down)."""
    candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))]
    for candidate in candidates:
        if (candidate / CARD_FILE_NAME).is_file() or (candidate / "configs" / "metadata.json").is_file():
            return candidate
    raise ModelError(
        f"No model_card.json or MONAI bundle (configs/metadata.json) in {folder}.",
        "Import the folder that holds the model card or the bundle (or a zip of it).",
    )


def load_card_and_network(
    assistant: str, model_id: str | None, device: str, accepts: Callable[[Any], bool] | None = None
) -> tuple[ModelCard, Any, Any]:
    """The card of ``model_id`` (else the assistant's default model that ``accepts``), its verified network on
    the device :func:`~assistcore.models.device.select_device` chooses for ``device``, and that choice.

    :raises ModelError: no such model, or no model for ``assistant``; see :func:`~.loader.load_network`.
    """
    from .device import select_device
    from .loader import load_network

    registry = ModelRegistry()
    entry = registry.get(model_id) if model_id else registry.default_for(assistant, accepts)
    choice = select_device(device)
    return entry.card, load_network(entry.card, choice.device), choice
