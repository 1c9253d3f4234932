"""An artifact's weights as raw bytes, so that loading it never re-reads them as hex text.

torch-mlir puts a model's parameters in the module's `{-# dialect_resources #-}`
section, as `dense_resource` blobs printed in hexadecimal: an E7-sized model
carries 5 MB of hex, and parsing and decoding it dominated loading a compiled
artifact.  `CompiledModule.save` therefore also writes each blob's bytes to
`weights.bin`, with an index in `metadata.json`:

```json
"weights": {"file": "weights.bin", "body_bytes": 4583,
            "section": ["\n{-#\n  dialect_resources: {\n    builtin: {\n      w: \"0x",
                        "\"\n    }\n  }\n#-}\n"],
            "blobs": [{"name": "w", "offset": 0, "size": 2048, "alignment": 4}]}
```

`body_bytes` is where the module's text ends and its resources section begins
in `optimized.mlir` (which stays complete, for people and for `mirage-mlir-opt`);
`section` is the text of that section around the blobs' hex digits, so that
`join_resources` rebuilds the whole text exactly.  A loader reads only the
module's text, parses it (`parse_stored`) and takes each `dense_resource`
from `weights.bin` through `blob_tensor`, which views the bytes as a tensor
without copying them.  Each blob's payload starts at a 64-byte boundary;
`alignment` is the value of the 4-byte header MLIR writes before a blob's data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_FILE", "StoredWeights", "blob_tensor", "join_resources", "parse_stored",
           "read_weights", "split_resources", "write_weights"]

#: The file beside `optimized.mlir` that holds the blobs' bytes.
WEIGHTS_FILE = "weights.bin"

# Payload offsets in the file are multiples of this, so every dtype can be viewed in place.
_PAYLOAD_ALIGNMENT = 64

# The section as MLIR and xDSL print it after the module (MLIR puts each blob on its
# own line, xDSL all on one): builtin blobs only.  Anything else (other dialects'
# resources, external resources) keeps the text path.
_BLOB = r"[A-Za-z_][\w.$-]*: \"0x[0-9A-Fa-f]*\""
_SECTION = re.compile(
    r"\n\{-#\n  dialect_resources: \{\n    builtin: \{\n\s*"
    rf"({_BLOB}(?:,\s*{_BLOB})*)"
    r"\s*\}\n  \}\n#-\}\n*\Z"
)
_ENTRY = re.compile(r"([A-Za-z_][\w.$-]*): \"0x([0-9A-Fa-f]*)\"")

# Opens a stand-in blob (see `parse_stored`).  A real blob opens with its alignment,
# which MLIR never writes as 0.
_STAND_IN = "0x00000000"


@dataclass(frozen=True)
class StoredWeights:
    """A module's text without its resources section, and each blob's payload bytes.

    `blobs` maps a resource name to its data (the bytes after the alignment
    header), in the order of the section; `alignments` maps it to the header's
    value; `section` is the section's text around the blobs' hex digits.
    """

    body: str
    blobs: dict[str, Any]
    alignments: dict[str, int]
    section: tuple[str, ...]


def split_resources(text: str) -> StoredWeights | None:
    """Split MLIR text into its module and its `builtin` resource blobs.

    Returns None when the text has no resources section, or one this module
    does not read exactly (the caller then keeps the whole text).
    """
    start = text.rfind("\n{-#")
    if start < 0:
        return None
    match = _SECTION.match(text, start)
    if match is None:
        return None
    blobs: dict[str, Any] = {}
    alignments: dict[str, int] = {}
    section = []
    done = start
    for entry in _ENTRY.finditer(text, match.start(1), match.end(1)):
        name, digits = entry.group(1), entry.group(2)
        data = bytes.fromhex(digits)
        if len(data) < 4 or name in blobs:
            return None
        alignments[name] = int.from_bytes(data[:4], "little")
        blobs[name] = data[4:]
        section.append(text[done:entry.start(2)])
        done = entry.end(2)
    section.append(text[done:])
    return StoredWeights(text[:start], blobs, alignments, tuple(section))


def join_resources(weights: StoredWeights) -> str:
    """The text `weights` was split from: the module, then its resources section."""
    parts = [weights.body, weights.section[0]]
    for (name, payload), after in zip(weights.blobs.items(), weights.section[1:]):
        header = weights.alignments[name].to_bytes(4, "little")
        parts.append((header + bytes(payload)).hex().upper())
        parts.append(after)
    return "".join(parts)


def write_weights(weights: StoredWeights, folder: Path) -> dict[str, Any]:
    """Write the blobs to `folder/weights.bin`; return the index `read_weights` takes."""
    entries = []
    offset = 0
    with open(folder / WEIGHTS_FILE, "wb") as stream:
        for name, payload in weights.blobs.items():
            padding = -offset % _PAYLOAD_ALIGNMENT
            stream.write(b"\0" * padding)
            offset += padding
            stream.write(payload)
            entries.append({"name": name, "offset": offset, "size": len(payload),
                            "alignment": weights.alignments[name]})
            offset += len(payload)
    return {"file": WEIGHTS_FILE, "body_bytes": len(weights.body.encode()),
            "section": list(weights.section), "blobs": entries}


def read_weights(folder: Path, index: dict[str, Any], mlir_path: Path) -> StoredWeights:
    """The weights `write_weights` stored in `folder`, and the module part of `mlir_path`.

    Raises ValueError when a file is shorter than its index says.
    """
    with open(mlir_path, "rb") as stream:
        body = stream.read(index["body_bytes"])
    if len(body) != index["body_bytes"]:
        raise ValueError(f"{mlir_path} holds {len(body)} bytes, not {index['body_bytes']}")
    data = bytearray((folder / index["file"]).read_bytes())
    view = memoryview(data)
    blobs: dict[str, Any] = {}
    alignments: dict[str, int] = {}
    for entry in index["blobs"]:
        end = entry["offset"] + entry["size"]
        if end > len(data):
            raise ValueError(f"{folder / index['file']} holds {len(data)} bytes; "
                             f"blob {entry['name']} ends at byte {end}")
        blobs[entry["name"]] = view[entry["offset"]:end]
        alignments[entry["name"]] = entry["alignment"]
    return StoredWeights(body.decode(), blobs, alignments, tuple(index["section"]))


def parse_stored(
    weights: StoredWeights, source_name: str = "optimized.mlir", verify: bool = False
) -> tuple[Any, dict[str, str]]:
    """Parse the module of `weights`; return it and, for each `dense_resource` handle
    in it, the name of its blob in `weights`.

    xDSL keeps resource blobs in one table per process and gives a reference
    a fresh name when an earlier module took its name (the project's parser
    keeps each renamed reference paired with the blob its module declares).
    So the module is parsed with a small stand-in blob per resource, whose
    value names the stored payload: whatever handle a reference ends up with,
    its stand-in leads to the right bytes.
    """
    from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
    from xdsl.dialects.builtin import Builtin, DenseResourceAttr

    from mirage_mlir.dialects.context import parse_mlir

    stand_ins = ",\n".join(f'      {name}: "{_STAND_IN}{name.encode().hex()}"'
                           for name in weights.blobs)
    text = weights.body
    if stand_ins:
        text += ("\n{-#\n  dialect_resources: {\n    builtin: {\n" + stand_ins
                 + "\n    }\n  }\n#-}\n")
    module = parse_mlir(text, source_name, verify=verify)
    interface = Builtin.get_interface(OpAsmDialectInterface)
    names: dict[str, str] = {}
    for op in module.walk():
        for attr in (*op.properties.values(), *op.attributes.values()):
            if not isinstance(attr, DenseResourceAttr):
                continue
            handle = attr.resource_handle.data
            stand_in = interface.lookup(handle) if interface is not None else None
            if stand_in and stand_in.startswith(_STAND_IN):
                names[handle] = bytes.fromhex(stand_in[len(_STAND_IN):]).decode()
    return module, names


def blob_tensor(payload: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """View a blob's payload as a torch tensor of `shape` and torch `dtype`, without a copy.

    MLIR stores i1 elements one byte each.  Raises ValueError when the payload
    does not hold exactly the elements of `shape`.
    """
    import torch

    stored = torch.uint8 if dtype == torch.bool else dtype
    count = 1
    for size in shape:
        count *= size
    itemsize = torch.empty((), dtype=stored).element_size()
    if len(payload) != count * itemsize:
        raise ValueError(f"the blob holds {len(payload)} bytes; {'x'.join(map(str, shape))} "
                         f"elements of {dtype} take {count * itemsize}")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    if memoryview(payload).readonly:
        # torch may not view read-only memory (tensors are writable).
        payload = bytearray(payload)
    tensor = torch.frombuffer(payload, dtype=stored, count=count).reshape(shape)
    return tensor != 0 if dtype == torch.bool else tensor
