"""Integer min/max reductions written as compare-and-select run as one torch reduction.

torch-mlir writes `all` over a row (scaled_dot_product_attention's check for fully masked
rows) as `select(cmpi ult, x, acc)` on i1. The CPU runtime folds such a body into
`torch.amin`/`amax` instead of stepping through the reduced loop; the results must be those
of the loop itself.
"""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from mirage_mlir.driver.torch_executor import TorchProgram  # noqa: E402
from mirage_mlir.driver.torch_generic import StructuredOpRunner  # noqa: E402

BODY = """
func.func @main(%x: tensor<3x5xTYPE>, %init: tensor<3x1xTYPE>) -> tensor<3x1xTYPE> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> (d0, 0)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x5xTYPE>) outs(%init : tensor<3x1xTYPE>) {
  ^bb0(%in: TYPE, %acc: TYPE):
    %c = arith.cmpi PRED, LHS, RHS : TYPE
    %s = arith.select %c, PICK : TYPE
    linalg.yield %s : TYPE
  } -> tensor<3x1xTYPE>
  func.return %r : tensor<3x1xTYPE>
}
"""


def _program(
    element: str, predicate: str, lhs_first: bool, pick_in: bool
) -> TorchProgram:
    lhs, rhs = ("%in", "%acc") if lhs_first else ("%acc", "%in")
    pick = "%in, %acc" if pick_in else "%acc, %in"
    text = (
        BODY.replace("TYPE", element)
        .replace("PRED", predicate)
        .replace("LHS", lhs)
        .replace("RHS", rhs)
        .replace("PICK", pick)
    )
    return TorchProgram.from_text(text)


def _loop(x, init, predicate: str, lhs_first: bool, pick_in: bool):
    """The generic's meaning, element by element."""
    compare = {
        "slt": int.__lt__,
        "sle": int.__le__,
        "sgt": int.__gt__,
        "sge": int.__ge__,
        "ult": int.__lt__,
        "ule": int.__le__,
        "ugt": int.__gt__,
        "uge": int.__ge__,
    }
    out = init.clone()
    for row in range(x.shape[0]):
        acc = int(out[row, 0])
        for col in range(x.shape[1]):
            value = int(x[row, col])
            a, b = (value, acc) if lhs_first else (acc, value)
            chosen = compare[predicate](a, b)
            acc = (value if chosen else acc) if pick_in else (acc if chosen else value)
        out[row, 0] = acc
    return out


ORIENTATIONS = list(itertools.product([True, False], [True, False]))


@pytest.mark.parametrize("predicate", ["slt", "sle", "sgt", "sge"])
@pytest.mark.parametrize("lhs_first, pick_in", ORIENTATIONS)
def test_i64_select_reductions_fold_and_match_the_loop(predicate, lhs_first, pick_in):
    program = _program("i64", predicate, lhs_first, pick_in)
    x = torch.randint(-50, 50, (3, 5), generator=torch.Generator().manual_seed(0))
    init = torch.tensor([[7], [-100], [100]])
    (got,) = program(x, init)
    assert torch.equal(got, _loop(x, init, predicate, lhs_first, pick_in))


@pytest.mark.parametrize("predicate", ["ult", "ule", "ugt", "uge"])
@pytest.mark.parametrize("lhs_first, pick_in", ORIENTATIONS)
def test_i1_all_and_any_fold_and_match_the_loop(predicate, lhs_first, pick_in):
    program = _program("i1", predicate, lhs_first, pick_in)
    x = torch.tensor([[True] * 5, [True, False, True, True, True], [False] * 5])
    for init in (
        torch.ones(3, 1, dtype=torch.bool),
        torch.zeros(3, 1, dtype=torch.bool),
    ):
        (got,) = program(x, init)
        want = _loop(x.long(), init.long(), predicate, lhs_first, pick_in).bool()
        assert torch.equal(got, want)


def test_the_fold_is_taken_not_the_stepped_loop(monkeypatch):
    def refuse(*_):
        raise AssertionError("stepped through the reduced loop")

    monkeypatch.setattr(StructuredOpRunner, "_stepped", refuse)
    program = _program("i1", "ult", True, True)  # torch-mlir's own spelling of `all`
    x = torch.tensor([[True] * 5, [True, False, True, True, True], [False] * 5])
    (got,) = program(x, torch.ones(3, 1, dtype=torch.bool))
    assert got.flatten().tolist() == [True, False, False]


def test_unsigned_compares_on_wide_integers_are_not_folded(monkeypatch):
    stepped = []
    original = StructuredOpRunner._stepped

    def record(self, *args):
        stepped.append(True)
        return original(self, *args)

    monkeypatch.setattr(StructuredOpRunner, "_stepped", record)
    program = _program("i64", "ult", True, True)
    x = torch.tensor([[1, 2, 3, 4, 5]] * 3)
    (got,) = program(x, torch.full((3, 1), 9))
    assert stepped and got.flatten().tolist() == [1, 1, 1]
