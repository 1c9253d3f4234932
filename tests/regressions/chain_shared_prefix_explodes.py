"""Found by test_fuzz_graph_chains: a batched 4-matrix chain with scalars, transposes and a
shared prefix output. Under the default limits (timeout 10 s, 200,000 e-nodes) one saturation
iteration grows the e-graph to 364,921 e-nodes (stop reason "enodes"), saturation takes 15 s,
the export 17 s and extraction 7 s: 40 s in all for 13 nodes, the result correct. Fixed by
stopping saturation before an iteration that would pass the e-node or time limit at the last
iteration's growth rate (passes/eqsat/saturate.py): now about 7 s, stopped at 119k e-nodes."""

from mirage_mlir.passes.eqsat.graph import Graph, Input, make_node

TARGET = "flops"
LIMITS = {}
# The default timeout is 10 s: allow 5 s for everything after saturation.
MAX_SECONDS = 15.0
# Set to None once fixed (the replay is xfail(strict=True) while this is set).
XFAIL = None


def build() -> Graph:
    """The minimal slow graph."""
    n0 = Input('m0', (2, 2, 2), 'f32')
    n1 = make_node('transpose', ((0, 2, 1),), (n0,))
    n2 = make_node('scale', (2.0,), (n1,))
    n3 = Input('m1', (2, 2, 2), 'f32')
    n4 = make_node('scale', (-3.0,), (n3,))
    n5 = make_node('matmul', (), (n2, n4,))
    n6 = Input('m2', (2, 9, 2), 'f32')
    n7 = make_node('transpose', ((0, 2, 1),), (n6,))
    n8 = make_node('scale', (0.5,), (n7,))
    n9 = make_node('matmul', (), (n5, n8,))
    n10 = Input('m3', (2, 9, 10), 'f32')
    n11 = make_node('matmul', (), (n9, n10,))
    n12 = make_node('transpose', ((0, 2, 1),), (n11,))
    return Graph((n0, n3, n6, n10,), (n12, n9,))
