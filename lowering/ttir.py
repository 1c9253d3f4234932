"""TTIR as text: printing `tt` modules for Triton and reading Triton's TTIR back.

`print_ttir` prints a module of `tt.func` kernels in MLIR's generic form,
which Triton's parser accepts for every op (xDSL's custom forms of `arith`
and `scf` are not always MLIR's).  `strip_locations` removes the `loc(...)`
annotations and `#loc` aliases that Triton prints, which xDSL cannot read, so
that `parse_ttir` can turn Triton's own TTIR into `tt` ops.
"""

from __future__ import annotations

import re

from xdsl.dialects.builtin import ModuleOp

_LOC_ALIAS = re.compile(r"^#loc[\w.$-]*\s*=.*$\n?", re.MULTILINE)


def strip_locations(text: str) -> str:
    """Remove every `loc(...)` (with nested parentheses) and `#loc` alias line."""
    text = _LOC_ALIAS.sub("", text)
    out: list[str] = []
    i = 0
    while True:
        j = text.find("loc(", i)
        # `loc(` inside an identifier (e.g. `%alloc(`) is not a location.
        while j > 0 and (text[j - 1].isalnum() or text[j - 1] in "_.$%#@"):
            j = text.find("loc(", j + 1)
        if j < 0:
            out.append(text[i:])
            break
        start = j
        while start > i and text[start - 1] == " ":
            start -= 1
        out.append(text[i:start])
        depth, k, in_string = 0, j + 3, False
        while k < len(text):
            ch = text[k]
            if in_string:
                if ch == "\\":
                    k += 1
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        i = k + 1
    return "".join(out)


def print_ttir(module: ModuleOp) -> str:
    """The module as TTIR text for `triton.compile`: MLIR's generic op form."""
    from mirage_mlir.dialects.context import print_mlir

    return print_mlir(module, generic=True)


def parse_ttir(text: str, source_name: str = "<ttir>") -> ModuleOp:
    """Parse TTIR (as Triton prints it, locations and all) into `tt` ops."""
    from mirage_mlir.dialects.context import parse_mlir

    return parse_mlir(strip_locations(text), source_name)
