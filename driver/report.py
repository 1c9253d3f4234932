"""The compile report: the optimiser's figures, stage times and kernels, as a table.

`CompileReport` is a dict (so it serialises as JSON unchanged) with keys
`optimizer` (the `eqsat-optimize` report), `stages` (seconds per stage:
import, optimize, lower, compile, load), `kernels` (one entry per kernel:
name, template, status, error), `runtime` (which executor runs the module),
`target`, `cache` ("hit" or "miss") and `notes`.  `str(report)` is a
readable table.
"""

from __future__ import annotations

from typing import Any


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class CompileReport(dict):
    """A compile report (see the module docstring); prints as a table."""

    def table(self) -> str:
        """The report as aligned text: functions, stages, kernels."""
        lines = [f"target {self.get('target')}   runtime {self.get('runtime')}   "
                 f"cache {self.get('cache')}"]
        rows = [("function", "cost before", "cost after", "FLOPs before", "FLOPs after",
                 "bytes before", "bytes after", "kernels", "e-classes", "e-nodes", "saturated")]
        for entry in (self.get("optimizer") or {}).get("functions", []):
            rows.append((
                entry.get("name"), _number(entry.get("cost_before_s")),
                _number(entry.get("cost_after_s")), _number(entry.get("flops_before")),
                _number(entry.get("flops_after")), _number(entry.get("bytes_before")),
                _number(entry.get("bytes_after")),
                f"{_number(entry.get('kernels_before'))} -> {_number(entry.get('kernels_after'))}",
                _number(entry.get("eclasses")), _number(entry.get("enodes")),
                _number(entry.get("saturated")),
            ))
        lines.extend(_aligned(rows))
        stages = self.get("stages") or {}
        if stages:
            lines.append("stages: " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()))
        for kernel in self.get("kernels") or []:
            detail = kernel.get("error") or ""
            lines.append(f"kernel {kernel.get('name')}: {kernel.get('status')} {detail}".rstrip())
        for note in self.get("notes") or []:
            lines.append(f"note: {note}")
        return "\n".join(lines)

    def __str__(self) -> str:
        """The table form."""
        return self.table()


def _aligned(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).rjust(w) for c, w in zip(row, widths)) for row in rows]
