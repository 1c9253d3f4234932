"""The compile cache on disk: compiled artifacts keyed by what determines them.

Two tables live under the cache directory (`$MIRAGE_CACHE_DIR`, else
`~/.cache/mirage-mlir`, or the `cache_dir` a caller passes):

* `artifacts/<key>/`: a saved `CompiledModule` (the format of `CompiledModule.save`),
  where key = sha256 of the imported MLIR (weights included), the target, the
  options and the code version (`code_version`).  Whatever model imports to
  the same MLIR shares the artifact.
* `models/<fingerprint>.json`: which artifact key a model maps to, and the
  model's call signature (models of different signatures, such as one
  returning a tensor and one a 1-tuple, can share an artifact).  The
  fingerprint (`model_fingerprint`) hashes, before anything is imported, all
  that the import depends on: the source files of the model's classes (and the
  user files they import names from), a `GraphModule`'s generated code, every
  submodule's training mode and plain attributes, the parameters' and buffers'
  names, shapes, dtypes and bytes, the example inputs' shapes and dtypes, the
  target, the options, and the code version.  A second `compile` of the same
  model finds its artifact here and skips the import (torch.export plus
  torch-mlir) as well as optimisation, lowering and Triton.

Plain Python objects among the attributes (a Hugging Face config) are read as
their class's source file and their own attributes.  A model whose state the
fingerprint cannot read (a forward hook, an attribute of an unknown type, a
class without source) has no fingerprint: it is
imported, and a hit is then found by the MLIR key alone.  Code the model
reaches only through two levels of imports is not part of its fingerprint;
changing it and recompiling in place reuses the artifact of the old code
until the cache directory is cleared.

A third, `regions/<key>.pickle`, holds the optimiser's results for regions of models
(passes/eqsat/regions.py): a new model whose layers match a layer compiled before is not
searched again.

Writes go to a temporary name first and are renamed into place, so readers
never see half an entry.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import json
import marshal
import os
import shutil
import sys
import sysconfig
import tempfile
import types
from pathlib import Path
from typing import Any

__all__ = [
    "CompileCache",
    "artifact_key",
    "code_version",
    "default_cache_dir",
    "model_fingerprint",
]

# The sub-packages whose code decides what a compile produces.
_COMPILER_PACKAGES = ("dialects", "passes", "driver", "lowering", "interpreters")

# The dependencies whose versions decide it too (the import, rewriting, kernels).
_DEPENDENCIES = ("torch", "torch-mlir", "xdsl", "egglog", "triton")

# Nested attribute values deeper than this make a model unfingerprintable.
_MAX_DEPTH = 8


def default_cache_dir() -> Path:
    """`$MIRAGE_CACHE_DIR` if set, else the user's cache folder ~/.cache/mirage-mlir."""
    configured = os.environ.get("MIRAGE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mirage-mlir"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The project's version string, a digest of its compiler's source files, and
    the versions of the dependencies that shape a compile.

    An edited checkout (an editable install keeps its version string) thus
    never reuses an artifact that older code compiled.  Computed once per
    process.
    """
    from importlib.metadata import PackageNotFoundError, version

    import mirage_mlir

    root = Path(mirage_mlir.__file__).resolve().parent
    digest = hashlib.sha256(mirage_mlir.__version__.encode())
    for name in _DEPENDENCIES:
        try:
            digest.update(f"{name}=={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name} absent\0".encode())
    files = sorted(root.glob("*.py"))
    for package in _COMPILER_PACKAGES:
        files.extend(sorted((root / package).rglob("*.py")))
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return f"{mirage_mlir.__version__}+{digest.hexdigest()[:16]}"


def artifact_key(mlir_text: str, target: str, options: dict[str, Any]) -> str:
    """The cache key of an artifact: MLIR, target, options and the code version."""
    digest = hashlib.sha256()
    for part in (
        mlir_text,
        target,
        json.dumps(options, sort_keys=True, default=str),
        code_version(),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def model_fingerprint(
    model: Any, example_inputs: tuple, target: str, options: dict
) -> str | None:
    """A hash of everything the import of `model` on these inputs depends on.

    None when some of it cannot be read reliably (see the module docstring).
    """
    try:
        return _fingerprint(model, example_inputs, target, options)
    except (RuntimeError, TypeError, ValueError, AttributeError, OSError):
        # A tensor that has no plain bytes (sparse, quantised, on a meta device), an
        # attribute that fails to read: no fingerprint, so the import decides.
        return None


def _fingerprint(
    model: Any, example_inputs: tuple, target: str, options: dict
) -> str | None:
    import torch

    digest = hashlib.sha256()
    if _has_global_hooks():
        return None
    for name, module in model.named_modules():
        digest.update(
            f"module {name}:{type(module).__qualname__}:{module.training}\0".encode()
        )
        if not _hash_module_code(digest, module) or not _hash_module_state(
            digest, module
        ):
            return None
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        digest.update(f"tensor {name}\0".encode())
        _hash_tensor(digest, tensor)
    for tensor in example_inputs:
        if not isinstance(tensor, torch.Tensor):
            return None
        digest.update(f"input {tuple(tensor.shape)}:{tensor.dtype}\0".encode())
    digest.update(
        f"{target}:{json.dumps(options, sort_keys=True, default=str)}:"
        f"{code_version()}".encode()
    )
    return digest.hexdigest()


def _hash_tensor(digest: Any, tensor: Any) -> None:
    import torch

    digest.update(f"{tuple(tensor.shape)}:{tensor.dtype}\0".encode())
    data = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(data.view(torch.uint8).numpy() if data.numel() else b"")


def _has_global_hooks() -> bool:
    """Whether hooks registered for every module could change what a forward computes."""
    from torch.nn.modules import module as module_hooks

    return any(
        getattr(module_hooks, name, None)
        for name in ("_global_forward_hooks", "_global_forward_pre_hooks")
    )


def _hash_module_code(digest: Any, module: Any) -> bool:
    """Add the code `module`'s forward runs; False when it is not available."""
    import torch

    if isinstance(module, torch.fx.GraphModule):
        # Its class is generated per instance; the code it runs is this text.
        digest.update(module.code.encode())
        return True
    for klass in type(module).__mro__:
        if klass.__module__.startswith("torch.") or klass is object:
            break
        path = _source_file(klass)
        if path is None:
            return False
        digest.update(_file_digest(path).encode())
        for imported in _user_files_imported_by(klass.__module__):
            digest.update(_file_digest(imported).encode())
    return True


@functools.lru_cache(maxsize=1)
def _module_internals() -> frozenset[str]:
    """The attributes every `nn.Module` has: its tables, hooks and training flag."""
    import torch

    return frozenset(vars(torch.nn.Module()))


def _hash_module_state(digest: Any, module: Any) -> bool:
    """Add a module's plain attributes (eps, head counts, stored tensors); False if unknown."""
    import torch

    hooks = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_forward_hooks_with_kwargs",
        "_forward_pre_hooks_with_kwargs",
    )
    if any(getattr(module, name, None) for name in hooks):
        return False
    if isinstance(module, torch.fx.GraphModule):
        owned = {name for name, _ in module.named_parameters()} | {
            name for name, _ in module.named_buffers()
        }
        for node in module.graph.nodes:
            if node.op == "get_attr" and node.target not in owned:
                value = _attribute(module, node.target)
                if isinstance(value, torch.nn.Module):
                    continue  # walked by named_modules
                digest.update(f"attr {node.target}\0".encode())
                if not _hash_value(digest, value, 0):
                    return False
        return True
    internals = _module_internals()
    for name, value in sorted(vars(module).items()):
        if name in internals:
            continue
        digest.update(f"attr {name}\0".encode())
        if not _hash_value(digest, value, 0):
            return False
    return True


def _attribute(module: Any, target: str) -> Any:
    value = module
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _hash_value(digest: Any, value: Any, depth: int) -> bool:
    """Add one attribute value; False for a value whose meaning a hash cannot capture."""
    import torch

    if depth > _MAX_DEPTH:
        return False
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        digest.update(f"{type(value).__name__}:{value!r}\0".encode())
        return True
    if isinstance(
        value,
        (
            torch.dtype,
            torch.device,
            torch.Size,
            torch.layout,
            torch.memory_format,
            enum.Enum,
        ),
    ):
        digest.update(f"{type(value).__qualname__}:{value!r}\0".encode())
        return True
    if isinstance(value, torch.Tensor):
        _hash_tensor(digest, value)
        return True
    if isinstance(value, (tuple, list)):
        digest.update(f"{type(value).__name__}[{len(value)}\0".encode())
        return all(_hash_value(digest, item, depth + 1) for item in value)
    if isinstance(value, dict):
        digest.update(f"dict[{len(value)}\0".encode())
        try:
            items = sorted(value.items(), key=lambda item: repr(item[0]))
        except Exception:  # noqa: BLE001 - keys whose repr fails are unknown values
            return False
        return all(
            _hash_value(digest, k, depth + 1) and _hash_value(digest, v, depth + 1)
            for k, v in items
        )
    if isinstance(value, (set, frozenset)):
        return _hash_value(digest, sorted(value, key=repr), depth + 1)
    if isinstance(value, types.MethodType):
        return _hash_value(digest, value.__func__, depth + 1)
    if isinstance(value, types.FunctionType):
        return _hash_function(digest, value, depth)
    if isinstance(value, functools.partial):
        return (
            _hash_value(digest, value.func, depth + 1)
            and _hash_value(digest, value.args, depth + 1)
            and _hash_value(digest, value.keywords, depth + 1)
        )
    if isinstance(value, (types.BuiltinFunctionType, type)):
        digest.update(
            f"{getattr(value, '__module__', '')}.{value.__qualname__}\0".encode()
        )
        return True
    if isinstance(value, torch.nn.Module):
        # A module kept in a plain attribute (a dict of helper modules): not a submodule,
        # so named_modules does not reach it; its code, state and tensors are read here.
        digest.update(
            f"held module {type(value).__qualname__}:{value.training}\0".encode()
        )
        if not _hash_module_code(digest, value) or not _hash_module_state(
            digest, value
        ):
            return False
        for name, tensor in (*value.named_parameters(), *value.named_buffers()):
            digest.update(f"held tensor {name}\0".encode())
            _hash_tensor(digest, tensor)
        return True
    return _hash_object(digest, value, depth)


def _hash_object(digest: Any, value: Any, depth: int) -> bool:
    """A plain Python object (a model's config): its class's source and its attributes.

    Only objects whose whole state is their `__dict__` (no slots, no state kept in C) and
    whose class has a source file qualify."""
    klass = type(value)
    bases = [k for k in klass.__mro__ if k is not object]
    if not hasattr(value, "__dict__") or any("__slots__" in vars(k) for k in bases):
        return False
    if not all(_has_python_source(k) for k in bases):
        return False  # a class written in C may keep state outside __dict__
    path = _source_file(klass)
    if path is None:
        return False
    digest.update(f"object {klass.__module__}.{klass.__qualname__}\0".encode())
    digest.update(_file_digest(path).encode())
    return _hash_value(digest, dict(vars(value)), depth + 1)


def _hash_function(digest: Any, function: types.FunctionType, depth: int) -> bool:
    """A Python function stored as an attribute: its bytecode, defaults and closure."""
    digest.update(f"function {function.__module__}.{function.__qualname__}\0".encode())
    digest.update(marshal.dumps(function.__code__))
    cells = [cell.cell_contents for cell in function.__closure__ or ()]
    return (
        _hash_value(digest, function.__defaults__, depth + 1)
        and _hash_value(digest, function.__kwdefaults__, depth + 1)
        and _hash_value(digest, cells, depth + 1)
    )


@functools.lru_cache(maxsize=None)
def _has_python_source(klass: type) -> bool:
    """Whether the class statement of `klass` can be found in a Python file."""
    try:
        inspect.getsourcelines(klass)
    except (OSError, TypeError):
        return False
    return True


def _source_file(thing: Any) -> str | None:
    try:
        path = inspect.getsourcefile(thing)
    except (OSError, TypeError):
        return None
    return path if path and os.path.isfile(path) else None


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    """Folders of installed packages and the standard library (not the user's code)."""
    paths = sysconfig.get_paths()
    roots = {
        paths[name]
        for name in ("stdlib", "platstdlib", "purelib", "platlib")
        if name in paths
    }
    return tuple(sorted(os.path.realpath(root) + os.sep for root in roots))


def _user_files_imported_by(module_name: str) -> list[str]:
    """Source files of the user's own modules whose names `module_name`'s file imports.

    One level deep: a helper defined in a sibling file is covered, a helper
    of that helper is not.
    """
    module = sys.modules.get(module_name)
    if module is None:
        return []
    files = set()
    for value in list(vars(module).values()):
        if isinstance(value, types.ModuleType):
            path = getattr(value, "__file__", None)
        elif isinstance(value, (types.FunctionType, type)):
            home = sys.modules.get(getattr(value, "__module__", "") or "")
            path = getattr(home, "__file__", None)
        else:
            continue
        if path and path.endswith(".py") and os.path.isfile(path):
            real = os.path.realpath(path)
            if not real.startswith(_library_roots()):
                files.add(real)
    return sorted(files)


def _file_digest(path: str) -> str:
    stat = os.stat(path)
    return _file_digest_at(os.path.realpath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _file_digest_at(path: str, mtime_ns: int, size: int) -> str:
    """A file's sha256, remembered while its modification time and size stay the same."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class CompileCache:
    """The cache under one directory (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        """Use `directory`, or the default cache directory."""
        self.directory = (
            Path(directory) if directory is not None else default_cache_dir()
        )

    def artifact_dir(self, key: str) -> Path:
        """Where the artifact with this key lives (it may not exist)."""
        return self.directory / "artifacts" / key

    def lookup_artifact(self, key: str) -> Path | None:
        """The artifact folder of `key`, if it is present."""
        folder = self.artifact_dir(key)
        return folder if (folder / "metadata.json").is_file() else None

    def lookup_model(self, fingerprint: str) -> tuple[Path, dict[str, Any]] | None:
        """The artifact folder a model fingerprint maps to and the model's signature,
        if both are present."""
        entry = self.directory / "models" / f"{fingerprint}.json"
        try:
            record = json.loads(entry.read_text())
            key, signature = str(record["artifact"]), record["signature"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        folder = self.lookup_artifact(key)
        return (
            (folder, signature)
            if folder is not None and isinstance(signature, dict)
            else None
        )

    def discard(self, folder: Path) -> None:
        """Remove an artifact that could not be loaded, so that it is compiled again."""
        shutil.rmtree(folder, ignore_errors=True)

    def store(
        self, key: str, fingerprint: str | None, save: Any, signature: dict[str, Any]
    ) -> Path:
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
        self.map_model(fingerprint, key, signature)
        return folder

    def map_model(
        self, fingerprint: str | None, key: str, signature: dict[str, Any]
    ) -> None:
        """Record that the model with `fingerprint` and `signature` compiles to `key`."""
        if fingerprint is None:
            return
        models = self.directory / "models"
        models.mkdir(parents=True, exist_ok=True)
        temporary = models / f".{fingerprint}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps({"artifact": key, "signature": signature}))
        temporary.replace(models / f"{fingerprint}.json")
