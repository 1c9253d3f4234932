"""Hypothesis strategies for well-typed term graphs (passes/eqsat/graph.py).

Three families, each a strategy of `Graph`s whose values stay in ranges where float64
evaluation is well conditioned:

* `chain_graphs`: matrix chains (optionally batched) with transposed operands, scalars on
  operands, a second output sharing a prefix of the chain, and an elementwise epilogue
  (bias, tanh, relu, softmax);
* `einsum_graphs`: einsum networks of 2 to 5 operands over up to 7 indices, of any sizes,
  summed or kept in any order, sometimes feeding a second contraction;
* `elementwise_graphs`: elementwise DAGs with broadcasting, row reductions kept as size-1
  axes, and softmax.
"""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from mirage_mlir.passes.eqsat.graph import (
    Contract,
    Graph,
    GraphError,
    Input,
    Node,
    Transpose,
    elementwise,
    reduce,
    softmax,
    swap_last_two,
)

UNARY = ("neg", "abs", "tanh", "sigmoid", "relu", "exp", "sin", "cos")
BINARY = ("add", "sub", "mul", "max", "min")
SCALARS = (0.5, 2.0, -3.0, 0.125)


@st.composite
def chain_graphs(draw) -> Graph:
    """A product of 2 to 6 matrices with transposes, scalars, sharing and an epilogue."""
    count = draw(st.integers(2, 6))
    batch = draw(st.sampled_from([(), (), (2,), (3, 2)]))
    dims = draw(st.lists(st.integers(1, 12), min_size=count + 1, max_size=count + 1))
    inputs: list[Input] = []
    factors: list[Node] = []
    for i in range(count):
        rows, cols = dims[i], dims[i + 1]
        transposed = draw(st.booleans())
        shape = batch + ((cols, rows) if transposed else (rows, cols))
        matrix = Input(f"m{i}", shape)
        inputs.append(matrix)
        factor: Node = matrix.mT if transposed else matrix
        scale = draw(st.sampled_from((None,) * 4 + SCALARS))
        if scale is not None:
            factor = factor * scale
        factors.append(factor)
    product = factors[0]
    prefixes = []
    for factor in factors[1:]:
        product = product @ factor
        prefixes.append(product)
    outputs: list[Node] = [product]
    epilogue = draw(st.sampled_from(["none", "none", "bias", "tanh", "relu", "softmax", "transpose"]))
    if epilogue == "bias":
        bias = Input("bias", (dims[-1],))
        inputs.append(bias)
        outputs[0] = product + bias
    elif epilogue in ("tanh", "relu"):
        outputs[0] = elementwise(epilogue, product)
    elif epilogue == "softmax":
        outputs[0] = softmax(product, -1)
    elif epilogue == "transpose":
        outputs[0] = Transpose(product, swap_last_two(len(product.shape)))
    if len(prefixes) > 1 and draw(st.booleans()):
        outputs.append(prefixes[draw(st.integers(0, len(prefixes) - 2))])
    return Graph(tuple(inputs), tuple(outputs))


@st.composite
def einsum_specs(draw, max_operands: int = 5) -> tuple[str, dict[str, int]]:
    """An einsum spec of 2 to `max_operands` operands and the size of each index."""
    letters = "abcdefg"[: draw(st.integers(2, 7))]
    sizes = {letter: draw(st.integers(1, 5)) for letter in letters}
    count = draw(st.integers(2, max_operands))
    terms = []
    for _ in range(count):
        term = draw(st.lists(st.sampled_from(letters), min_size=1, max_size=3, unique=True))
        terms.append("".join(term))
    used = sorted(set("".join(terms)))
    kept = draw(st.lists(st.sampled_from(used), max_size=len(used), unique=True))
    if not kept:
        kept = [used[0]]
    return ",".join(terms) + "->" + "".join(kept), {k: sizes[k] for k in used}


@st.composite
def einsum_graphs(draw) -> Graph:
    """An einsum network, sometimes scaled and fed into a second contraction."""
    spec, sizes = draw(einsum_specs())
    terms, output = spec.split("->")
    inputs = [
        Input(f"t{i}", tuple(sizes[c] for c in term)) for i, term in enumerate(terms.split(","))
    ]
    try:
        value: Node = Contract(tuple(inputs), spec)
    except GraphError:
        assume(False)
    if draw(st.booleans()):
        value = value * draw(st.sampled_from(SCALARS))
    if draw(st.booleans()):
        # A second contraction over the first one's result and one more input.
        other_letter = draw(st.sampled_from(sorted(output)))
        extra = Input("w", (sizes[other_letter], 3))
        inputs.append(extra)
        keep = output.replace(other_letter, "") + "z"
        value = Contract((value, extra), f"{output},{other_letter}z->{keep}")
    return Graph(tuple(inputs), (value,))


@st.composite
def elementwise_graphs(draw) -> Graph:
    """An elementwise DAG with broadcasting, keepdims reductions and softmax."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    inputs = []
    for i in range(draw(st.integers(1, 3))):
        # Each input is broadcast-compatible with `shape`: a suffix, some axes of size 1.
        rank = draw(st.integers(1, len(shape))) if i else len(shape)
        own = tuple(
            1 if draw(st.integers(0, 3)) == 0 else size for size in shape[len(shape) - rank :]
        )
        inputs.append(Input(f"x{i}", own))
    pool: list[Node] = list(inputs)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "scale", "reduce", "softmax"]))
        a = pool[draw(st.integers(0, len(pool) - 1))]
        if kind == "unary":
            value = elementwise(draw(st.sampled_from(UNARY)), a)
        elif kind == "binary":
            b = pool[draw(st.integers(0, len(pool) - 1))]
            value = elementwise(draw(st.sampled_from(BINARY)), a, b)
        elif kind == "scale":
            value = a * draw(st.sampled_from(SCALARS))
        elif kind == "reduce":
            op = draw(st.sampled_from(["sum", "max", "mean"]))
            axis = draw(st.integers(0, len(a.shape) - 1))
            value = reduce(a, op, (axis,), keepdims=True)
        else:
            value = softmax(a, draw(st.integers(-len(a.shape), len(a.shape) - 1)))
        pool.append(value)
    outputs = [pool[-1]]
    if len(pool) > len(inputs) + 1 and draw(st.booleans()):
        outputs.append(pool[draw(st.integers(len(inputs), len(pool) - 2))])
    used = Graph.of(*outputs).inputs
    return Graph(used, tuple(outputs))
