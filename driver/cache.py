"""The compile cache on disk: compiled artifacts keyed by what determines them.

Two tables live under the cache directory (`$MIRAGE_CACHE_DIR`, else
`~/.cache/mirage-mlir`, or the `cache_dir` a caller passes):

* `artifacts/<key>/`: a saved `CompiledModule` (the format of `CompiledModule.save`),
  where key = sha256 of the imported MLIR, the target, the options and the
  project's version;
* `models/<fingerprint>.json`: which artifact key a model maps to, where the
  fingerprint hashes the model's class source, its parameters and buffers,
  its training mode and the example inputs' shapes and dtypes.  This lets a
  second `compile` of the same model skip the import (torch.export plus
  torch-mlir) as well as optimisation, lowering and Triton.

Writes go to a temporary name first and are renamed into place, so readers
never see half an entry.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    """`$MIRAGE_CACHE_DIR` if set, else the user's cache folder ~/.cache/mirage-mlir."""
    configured = os.environ.get("MIRAGE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mirage-mlir"


def artifact_key(mlir_text: str, target: str, options: dict[str, Any]) -> str:
    """The cache key of an artifact: MLIR, target, options and the project's version."""
    from mirage_mlir import __version__

    digest = hashlib.sha256()
    for part in (mlir_text, target, json.dumps(options, sort_keys=True, default=str), __version__):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def model_fingerprint(model: Any, example_inputs: tuple, target: str, options: dict) -> str:
    """A hash of everything the import of `model` on these inputs depends on."""
    from mirage_mlir import __version__

    digest = hashlib.sha256()
    for klass in type(model).__mro__:
        if klass.__module__.startswith("torch."):
            break
        try:
            digest.update(inspect.getsource(klass).encode())
        except (OSError, TypeError):
            digest.update(klass.__qualname__.encode())
    for module_name, module in model.named_modules():
        digest.update(f"{module_name}:{type(module).__qualname__}:{module.training}".encode())
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=_byte_dtype()).numpy())
    for tensor in example_inputs:
        digest.update(f"{tuple(tensor.shape)}:{tensor.dtype}".encode())
    digest.update(f"{target}:{json.dumps(options, sort_keys=True, default=str)}:{__version__}".encode())
    return digest.hexdigest()


def _byte_dtype() -> Any:
    import torch

    return torch.uint8


class CompileCache:
    """The cache under one directory (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        """Use `directory`, or the default cache directory."""
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def artifact_dir(self, key: str) -> Path:
        """Where the artifact with this key lives (it may not exist)."""
        return self.directory / "artifacts" / key

    def lookup_model(self, fingerprint: str) -> Path | None:
        """The artifact folder a model fingerprint maps to, if both are present."""
        entry = self.directory / "models" / f"{fingerprint}.json"
        try:
            key = json.loads(entry.read_text())["artifact"]
        except (OSError, ValueError, KeyError):
            return None
        folder = self.artifact_dir(key)
        return folder if (folder / "metadata.json").is_file() else None

    def store(self, key: str, fingerprint: str | None, save: Any) -> Path:
        """Save an artifact with `save(folder)` under `key`; map `fingerprint` to it."""
        folder = self.artifact_dir(key)
        if not (folder / "metadata.json").is_file():
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder.parent))
            save(staging)
            try:
                staging.rename(folder)
            except OSError:  # another process stored the same key first
                shutil.rmtree(staging, ignore_errors=True)
        if fingerprint is not None:
            models = self.directory / "models"
            models.mkdir(parents=True, exist_ok=True)
            temporary = models / f".{fingerprint}.{os.getpid()}.tmp"
            temporary.write_text(json.dumps({"artifact": key}))
            temporary.replace(models / f"{fingerprint}.json")
        return folder
