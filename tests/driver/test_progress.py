"""Progress of long compiles: on a terminal after 2 s, always when verbose, never otherwise."""

from __future__ import annotations

import io

from mirage_mlir.driver import progress as progress_module
from mirage_mlir.driver.progress import Progress
from mirage_mlir.passes.eqsat.graph import Constant, Graph, Input, tanh
from mirage_mlir.passes.eqsat.regions import (
    WHOLE_GRAPH,
    optimize_by_regions,
    region_progress,
)
from mirage_mlir.passes.eqsat.saturate import Limits


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_messages_once_the_compile_is_slow(monkeypatch) -> None:
    monkeypatch.delenv("MIRAGE_VERBOSE", raising=False)
    stream = Terminal()
    progress = Progress(None, stream)
    progress("import")
    assert stream.getvalue() == ""
    monkeypatch.setattr(progress_module, "DELAY_S", 0.0)
    progress.regions("optimize")(2, 5)
    assert "[mirage] optimize: region 2/5 searched" in stream.getvalue()


def test_a_pipe_sees_nothing_unless_verbose(monkeypatch) -> None:
    monkeypatch.delenv("MIRAGE_VERBOSE", raising=False)
    monkeypatch.setattr(progress_module, "DELAY_S", 0.0)
    quiet, loud = io.StringIO(), io.StringIO()
    Progress(None, quiet)("import")
    Progress(True, loud)("import")
    assert quiet.getvalue() == "" and "[mirage] import" in loud.getvalue()
    monkeypatch.setenv("MIRAGE_VERBOSE", "0")
    silenced = Terminal()
    Progress(None, silenced)("import")
    assert silenced.getvalue() == ""


def test_regions_report_each_distinct_region_searched() -> None:
    x = Input("x", (4, 16))
    y = x
    for layer in range(WHOLE_GRAPH // 3 + 20):
        y = tanh(y @ Constant(f"w{layer}", (16, 16))) + y
    heard: list[tuple[int, int]] = []
    with region_progress(lambda done, total: heard.append((done, total))):
        _, stats = optimize_by_regions(Graph.of(y), "h100", Limits(seconds=5))
    assert stats.regions > 1
    assert heard and heard[-1] == (stats.distinct, stats.distinct)
