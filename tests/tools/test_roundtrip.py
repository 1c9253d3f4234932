"""Round trips of imported models through the project's parser and printer.

For every `examples/*.mlir` (the mission's examples, imported by torch-mlir)
and every torch-mlir module under tests/filecheck/tools/mirage-mlir-opt/Inputs/,
`print_mlir(parse_mlir(text))` must give text that MLIR's own parser accepts,
that MLIR prints exactly as it prints the original, and whose
`dialect_resources` blobs (the weights) are byte-identical to the original's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mirage_mlir.dialects.context import parse_mlir, print_mlir

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [
        *(REPO / "examples").glob("*.mlir"),
        *(REPO / "tests/filecheck/tools/mirage-mlir-opt/Inputs").glob("*.mlir"),
    ]
)
IDS = [str(path.relative_to(REPO)) for path in SOURCES]

RESOURCE_USE = re.compile(r"dense_resource<([^>]+)>")
RESOURCE_ENTRY = re.compile(r'([\w.$-]+): "(0x[0-9A-Fa-f]*)"')


def resource_blobs_in_use_order(text: str) -> list[bytes]:
    """The blob of each `dense_resource` reference, in the order of the references.

    Names may differ between two printings (a name taken by an earlier module
    in the process is renamed), so blobs are compared through their uses.
    """
    body, _, section = text.partition("{-#")
    blobs = {
        name: bytes.fromhex(blob[2:]) for name, blob in RESOURCE_ENTRY.findall(section)
    }
    return [blobs[name] for name in RESOURCE_USE.findall(body)]


def canonical_resource_names(text: str) -> str:
    """`text` with each resource named by its content: the order of first use of its blob.

    Resources live in one table per process, so a name may be renamed when an earlier
    module took it, and two names holding the same bytes may be printed as one (the parser
    gives a renamed blob back the earlier name of identical bytes). Naming by content makes
    the comparison independent of what the process parsed before, while every use still
    has to read the same bytes.
    """
    body, marker, section = text.partition("{-#")
    blobs = dict(RESOURCE_ENTRY.findall(section))
    by_content: dict[str, str] = {}
    names: dict[str, str] = {}
    for name in RESOURCE_USE.findall(body):
        content = blobs.get(name, name)
        names.setdefault(name, by_content.setdefault(content, f"resource_{len(by_content)}"))
    rename = lambda match: names.get(match.group(0), match.group(0))  # noqa: E731
    pattern = re.compile(
        "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "(?!)"
    )
    body = pattern.sub(rename, body)
    entries = sorted({f"{names.get(name, name)}: {blob}" for name, blob in blobs.items()})
    return body + marker + "\n".join(entries)


def mlir_print(text: str) -> str:
    """MLIR's own print of `text`, parsed in a fresh context."""
    ir = pytest.importorskip("torch_mlir.ir")
    with ir.Context():
        return str(ir.Module.parse(text))


def test_there_are_modules_to_round_trip():
    assert any("Inputs" in str(path) for path in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_round_trip_is_accepted_by_mlir(path: Path):
    original = path.read_text()
    printed = print_mlir(parse_mlir(original, str(path)))
    assert canonical_resource_names(mlir_print(printed)) == canonical_resource_names(
        mlir_print(original)
    )


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_round_trip_keeps_resource_blobs_byte_identical(path: Path):
    original = path.read_text()
    printed = print_mlir(parse_mlir(original, str(path)))
    assert resource_blobs_in_use_order(printed) == resource_blobs_in_use_order(original)
    assert len(RESOURCE_USE.findall(printed)) == len(RESOURCE_USE.findall(original))


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_printing_is_a_fixed_point(path: Path):
    printed = print_mlir(parse_mlir(path.read_text(), str(path)))
    assert print_mlir(parse_mlir(printed)) == printed
