"""How a `CompiledModule` gets its CPU-runtime program, three ways.

* After a compile, from the optimised MLIR text: the weights' hex is decoded
  once (`driver.weights.split_resources`) and only the module's ops are parsed.
* From a saved artifact (`mirage_mlir.load`): the weights come from
  `weights.bin` and the module's ops are parsed.
* From the compile cache: the weights come from `weights.bin` and the
  module is rebuilt from its snapshot (`driver.ir_snapshot`), with no parsing.

```python
runtime = load_runtime(text)                        # .program runs it
entry = write_snapshot(runtime, folder)             # for the cache's metadata
runtime = load_runtime(text, weights=stored, snapshot=read_snapshot(folder, entry))
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SNAPSHOT_FILE", "RuntimeModule", "load_runtime", "read_snapshot", "write_snapshot"]

#: The file of a cache entry that holds its module's snapshot.
SNAPSHOT_FILE = "module.snapshot"


@dataclass(frozen=True)
class RuntimeModule:
    """The CPU runtime's program, and what a snapshot of its module needs.

    `module` and `resource_names` (each `dense_resource` handle of the module
    -> its name in `weights`) are None when the module's weights live in
    xDSL's resource table instead (a resources section `weights` does not read).
    """

    program: Any
    weights: Any
    module: Any
    resource_names: dict[str, str] | None


def load_runtime(
    mlir: str | None,
    *,
    pinned: list[Any] | None = None,
    weights: Any = None,
    snapshot: tuple[Any, dict[str, str]] | None = None,
    verify: bool = True,
) -> RuntimeModule:
    """The CPU-runtime program of `mlir` (see the module docstring).

    `weights` are the module's stored weights (`driver.weights.StoredWeights`),
    whose text then stands for `mlir`; without them they are split from
    `mlir`.  `snapshot` is a rebuilt module and its resource names.  `verify`
    checks a parsed module (an artifact's module was verified when it was
    compiled).
    """
    from mirage_mlir.dialects.context import parse_mlir
    from mirage_mlir.driver.torch_executor import TorchProgram
    from mirage_mlir.driver.weights import parse_stored, split_resources

    if weights is None:
        assert mlir is not None, "load_runtime needs the text or the stored weights"
        weights = split_resources(mlir)
    if snapshot is not None:
        module, names = snapshot
    elif weights is not None:
        module, names = parse_stored(weights, verify=verify)
    else:
        module = parse_mlir(mlir, verify=verify)
        # Without a readable resources section, xDSL's table holds any weights.
        names = None if "dense_resource<" in mlir else {}
    resources = None
    if names is not None:
        blobs = weights.blobs if weights is not None else {}
        missing = sorted(set(names.values()) - set(blobs))
        if missing:
            from mirage_mlir.driver.torch_generic import TorchExecutorError

            raise TorchExecutorError(f"weights {', '.join(missing)} are not stored")
        resources = {handle: blobs[name] for handle, name in names.items()}
    program = TorchProgram(module, pinned=pinned, resources=resources)
    return RuntimeModule(program, weights, module if names is not None else None, names)


def write_snapshot(runtime: RuntimeModule, folder: Path) -> dict[str, Any] | None:
    """Write the snapshot of the runtime's module to `folder`; return its metadata entry.

    None (and nothing written) when the module has no snapshot.
    """
    from mirage_mlir.driver.ir_snapshot import dump_snapshot

    if runtime.module is None:
        return None
    data = dump_snapshot(runtime.module)
    if data is None:
        return None
    (folder / SNAPSHOT_FILE).write_bytes(data)
    return {"file": SNAPSHOT_FILE, "resources": runtime.resource_names}


def read_snapshot(folder: Path, entry: dict[str, Any]) -> tuple[Any, dict[str, str]] | None:
    """The module and resource names a snapshot entry describes; None if it is unreadable.

    Read only from the compile cache (see `driver.ir_snapshot` on trust).
    """
    from mirage_mlir.driver.ir_snapshot import SnapshotError, load_snapshot

    try:
        module = load_snapshot((folder / entry["file"]).read_bytes())
        names = dict(entry["resources"])
    except (OSError, KeyError, TypeError, ValueError, SnapshotError):
        return None
    return module, names
