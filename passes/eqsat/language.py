"""The egglog encoding of the tensor algebra, and the conversion of a Graph into an e-graph.

Sorts:

- `Tensor`: a tensor-valued term. One constructor per node kind of the graph, except that a
  transpose of the two innermost axes is `Tensor.mt` (rank-agnostic, so the rules about
  products and transposes need no shapes) and any other transpose is `Tensor.permute` with the
  permutation packed into an i64 (4 bits per axis) and its rank. An n-ary einsum is
  `Tensor.einsum` over a `Net`; a binary one is `Tensor.contract`.
- `Args`: an operand list (cons/nil) for elementwise and opaque ops.
- `Idx`: an index layout. Layouts are canonical, so that equal layouts are equal terms: a layout
  whose letters are distinct and in `LETTERS` order is `Idx.sorted(mask)` (one bit per letter),
  any other is `Idx.order(letters)`. Contraction rules only ever create sorted layouts.
- `Net`: the factors of an einsum network, a cons list of (tensor, layout) in operand order.

Shapes are not facts in the e-graph: every rule is shape-agnostic (contractions reason about
index masks, transposes about "the two innermost axes"), and the types of all e-classes are
inferred after saturation from the leaves' types (see `serialized.py`), which also checks that
every e-class holds values of one type.

Analyses (i64-valued functions filled by rules): `idx_mask(Idx)` and `net_mask(Net)`, the set
of letters of a layout or a network. Relations: `part(L, A, B)` for every split of list L into
sub-lists A and B (keeping order), `split(L, A, B)` for those with L's first factor in A,
`is_output(t, i)` marking the e-class of the graph's i-th output, and `causal_masked`,
`repeat_heads`: facts that depend on shapes, recorded once at encoding (language_nn.py).

The structured kinds (reductions, softmax, attention, norms, layout ops) are constructors of
`Tensor` too; their encoding, and the equalities that only shapes can justify (a reshape that
merely restores a reduction's kept axis, a mean as a sum times 1/n, ...), are in
language_nn.py. Rules whose side conditions are about shapes (attention's head counts, a norm's
weight shape) are written shape-agnostically and checked when e-classes are typed: see
`GUARDED_KINDS` in serialized.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from egglog import (
    EGraph,
    Expr,
    StringLike,
    f64Like,
    i64,
    i64Like,
    function,
    relation,
    set_,
    union,
)

from mirage_mlir.passes.eqsat.contraction_seed import matmul_chain_tree, seed_trees
from mirage_mlir.passes.eqsat.kinds import KINDS
from mirage_mlir.passes.eqsat.graph import (
    LETTERS,
    Graph,
    GraphError,
    Node,
    TensorType,
    parse_spec,
)

#: Transposes of higher rank than this are not packed into an i64.
MAX_PERMUTE_RANK = 15


class Tensor(Expr):
    """A tensor-valued term of the algebra (see the module docstring)."""

    @classmethod
    def input(cls, name: StringLike) -> Tensor:
        """A function argument; its type is in the encoding's leaf table."""

    @classmethod
    def constant(cls, name: StringLike) -> Tensor:
        """An opaque named tensor (a weight)."""

    @classmethod
    def full(cls, value: f64Like, shape: StringLike, dtype: StringLike) -> Tensor:
        """A splat constant; shape is "2x3" ("" for a scalar)."""

    @classmethod
    def matmul(cls, a: Tensor, b: Tensor) -> Tensor:
        """numpy.matmul with broadcast batch dimensions."""

    @classmethod
    def mt(cls, x: Tensor) -> Tensor:
        """The transpose of the two innermost axes."""

    @classmethod
    def permute(cls, x: Tensor, perm: i64Like, rank: i64Like) -> Tensor:
        """numpy.transpose(x, perm), perm packed 4 bits per axis (axis 0 lowest)."""

    @classmethod
    def reshape(cls, x: Tensor, shape: StringLike) -> Tensor:
        """A row-major reshape to "2x3"."""

    @classmethod
    def scale(cls, x: Tensor, s: f64Like) -> Tensor:
        """x times the scalar s."""

    @classmethod
    def contract(cls, a: Tensor, la: Idx, b: Tensor, lb: Idx, out: Idx) -> Tensor:
        """The binary einsum la,lb->out."""

    @classmethod
    def einsum(cls, factors: Net, out: Idx) -> Tensor:
        """The n-ary einsum of a network, evaluated as one loop nest."""

    @classmethod
    def elementwise(cls, op: StringLike, args: Args) -> Tensor:
        """An elementwise op with broadcasting."""

    @classmethod
    def opaque(cls, name: StringLike, args: Args) -> Tensor:
        """An op the algebra does not model; its type is in the leaf table."""

    @classmethod
    def causal_mask(
        cls, form: StringLike, queries: i64Like, keys: i64Like, dtype: StringLike
    ) -> Tensor:
        """A causal mask of one of kinds/masks.py's forms over a [queries, keys] grid."""

    # The structured kinds (kinds/layout.py, kinds/neural.py). Axes are counted from the end (-1 is the last
    # axis, bit k of an axis mask is axis -(k + 1)), so that "the last axis" is one term
    # whatever the rank: the rules for softmax, attention and norms need no shapes.

    @classmethod
    def reduce(
        cls, x: Tensor, op: StringLike, axes: i64Like, keepdims: i64Like
    ) -> Tensor:
        """A reduction (sum, max, min, mean) over the axes of a mask, keepdims 0 or 1."""

    @classmethod
    def broadcast(cls, x: Tensor, shape: StringLike) -> Tensor:
        """numpy.broadcast_to(x, shape), materialised."""

    @classmethod
    def concat(cls, args: Args, axis: i64Like) -> Tensor:
        """numpy.concatenate along a negative axis."""

    @classmethod
    def slice(
        cls, x: Tensor, offsets: StringLike, sizes: StringLike, strides: StringLike
    ) -> Tensor:
        """A static strided slice; offsets, sizes and strides as "1x2x3"."""

    @classmethod
    def take(cls, x: Tensor, index: i64Like, pieces: Args, axis: i64Like) -> Tensor:
        """Piece `index` of x, when x is laid out as the concatenation of `pieces` along axis.

        Only the pieces' types matter (not their values): once types are known this is a
        slice of x, which is how it is decoded.
        """

    @classmethod
    def cast(cls, x: Tensor, dtype: StringLike) -> Tensor:
        """Element type conversion."""

    @classmethod
    def softmax(cls, x: Tensor, axis: i64Like) -> Tensor:
        """The numerically stable softmax along a negative axis."""

    @classmethod
    def attention(
        cls, q: Tensor, k: Tensor, v: Tensor, scale: f64Like, causal: i64Like
    ) -> Tensor:
        """softmax(scale * q @ k^T, causal) @ v with grouped KV heads."""

    @classmethod
    def attention_masked(
        cls,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor,
        scale: f64Like,
        causal: i64Like,
    ) -> Tensor:
        """attention with an additive mask on the scaled scores."""

    @classmethod
    def rms_norm(cls, x: Tensor, weight: Tensor, eps: f64Like) -> Tensor:
        """RMSNorm over the last axis."""

    @classmethod
    def layer_norm(
        cls, x: Tensor, weight: Tensor, bias: Tensor, eps: f64Like
    ) -> Tensor:
        """LayerNorm over the last axis."""

    @classmethod
    def batch_norm(cls, x: Tensor, gamma: Tensor, beta: Tensor, eps: f64Like) -> Tensor:
        """BatchNorm of x [N, C] with the training statistics."""


class Args(Expr):
    """An operand list."""

    @classmethod
    def nil(cls) -> Args:
        """The empty list."""

    @classmethod
    def cons(cls, head: Tensor, tail: Args) -> Args:
        """head followed by tail."""


class Idx(Expr):
    """A canonical index layout (see the module docstring)."""

    @classmethod
    def sorted(cls, mask: i64Like) -> Idx:
        """The letters of mask, in LETTERS order."""

    @classmethod
    def order(cls, letters: StringLike) -> Idx:
        """Any layout that is not sorted (or repeats a letter)."""


class Net(Expr):
    """The factors of an einsum network."""

    @classmethod
    def nil(cls) -> Net:
        """No factors."""

    @classmethod
    def cons(cls, x: Tensor, layout: Idx, rest: Net) -> Net:
        """Factor x with layout, then rest."""


@function
def idx_mask(layout: Idx) -> i64:
    """The set of letters of a layout, one bit per letter."""


@function
def net_mask(net: Net) -> i64:
    """The set of letters of all factors of a network."""


part = relation("part", Net, Net, Net)
split = relation("split", Net, Net, Net)
is_output = relation("is_output", Tensor, i64)
#: causal_masked(m, s): m is the scores s with every key after its query set to -inf
#: (top-left aligned, on the two innermost axes); recorded at encoding, where shapes are known.
causal_masked = relation("causal_masked", Tensor, Tensor)
#: repeat_heads(r, x): r is x [..., H, S, D] with each head repeated consecutively
#: (torch.repeat_interleave on the heads axis); recorded at encoding.
repeat_heads = relation("repeat_heads", Tensor, Tensor)
#: weight(w): w is a plain weight (a constant or argument, or its transpose); see
#: rules_shared_input.py.
weight = relation("weight", Tensor)


# --------------------------------------------------------------------------------------------
# Layout and permutation codes, shared with the decoder


def letter_mask(letters: str) -> int:
    """The bit mask of a set of einsum letters."""
    mask = 0
    for letter in letters:
        mask |= 1 << LETTERS.index(letter)
    return mask


def mask_letters(mask: int) -> str:
    """The letters of a bit mask, in LETTERS order."""
    return "".join(letter for bit, letter in enumerate(LETTERS) if mask >> bit & 1)


def is_sorted_layout(letters: str) -> bool:
    """Whether a layout is its own canonical sorted form."""
    return mask_letters(letter_mask(letters)) == letters


def pack_perm(perm: tuple[int, ...]) -> int:
    """A permutation as an i64, 4 bits per axis."""
    return sum(p << (4 * i) for i, p in enumerate(perm))


def unpack_perm(code: int, rank: int) -> tuple[int, ...]:
    """The inverse of pack_perm."""
    return tuple(code >> (4 * i) & 15 for i in range(rank))


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape as an e-graph string: "2x3", "" for a scalar."""
    return "x".join(str(d) for d in shape)


def parse_shape_text(text: str) -> tuple[int, ...]:
    """The inverse of shape_text."""
    return tuple(int(d) for d in text.split("x")) if text else ()


def layout_term(letters: str) -> Idx:
    """The canonical Idx term of a layout."""
    if is_sorted_layout(letters):
        return Idx.sorted(letter_mask(letters))
    return Idx.order(letters)


# --------------------------------------------------------------------------------------------
# Graph -> e-graph


@dataclass
class Encoding:
    """An e-graph holding a graph: its output terms and the types of its leaves.

    `leaves` maps ("input" | "constant" | "opaque", name) to the TensorType the e-graph does
    not record.
    """

    egraph: EGraph
    outputs: tuple[Tensor, ...]
    leaves: dict[tuple[str, str], TensorType] = field(default_factory=dict)


def encode(
    graph: Graph, egraph: EGraph | None = None, seed_contractions: bool = True
) -> Encoding:
    """Insert `graph` into an e-graph (a new one by default); shared nodes stay shared.

    seed_contractions: also put cheaply found contraction orders beside every einsum of three
    or more operands and every maximal chain of matmuls (contraction_seed); off where a test
    must see what the rules alone prove.
    """
    egraph = egraph or EGraph()
    leaves: dict[tuple[str, str], TensorType] = {}
    terms: dict[int, Tensor] = {}
    facts: list = []
    in_chain = {
        id(o) for n in graph.nodes() if KINDS[n.kind].matrix_chain for o in n.operands
    }
    names = _LetNames(egraph)
    for node in graph.nodes():
        term = _encode_node(node, [terms[id(o)] for o in node.operands], leaves, facts)
        # Each node's term is bound to a name, so that every later term and fact refers to
        # its operands by name: egglog's Python front end converts a fact's term as a tree,
        # and a graph's terms nested in full grow with the graph's depth times its sharing
        # (a 2-layer Llama took minutes and gigabytes before saturation began).
        terms[id(node)] = egraph.let(names.next(), term)
        kind = KINDS[node.kind]
        if seed_contractions and kind.contraction and len(node.operands) > 2:
            _seed_contraction_order(node, seed_trees(node), terms, leaves, facts)
        if seed_contractions and kind.matrix_chain and id(node) not in in_chain:
            tree = matmul_chain_tree(node)
            _seed_contraction_order(node, [tree] if tree else [], terms, leaves, facts)
    from mirage_mlir.passes.eqsat.language_nn import shape_facts

    facts.extend(shape_facts(graph, terms))
    outputs = tuple(terms[id(o)] for o in graph.outputs)
    facts.extend(is_output(term, i) for i, term in enumerate(outputs))
    egraph.register(*facts)
    return Encoding(egraph, outputs, leaves)


def _seed_contraction_order(
    node: Node, trees: list[Node], terms: dict, leaves: dict, facts: list
) -> None:
    """Put `trees`, other orders of the contraction `node` (contraction_seed), in its e-class."""
    for tree in trees:
        for part in Graph.of(tree).nodes():
            if id(part) not in terms:
                terms[id(part)] = _encode_node(
                    part, [terms[id(o)] for o in part.operands], leaves, facts
                )
        facts.append(union(terms[id(node)]).with_(terms[id(tree)]))


class _LetNames:
    """Names for the let bindings of one e-graph's encoded nodes, unique in that e-graph.

    The count is kept in the e-graph object itself, so a graph encoded into a fresh e-graph
    always gets the same names, whatever the process encoded before.
    """

    _ATTRIBUTE = "_mirage_let_count"

    def __init__(self, egraph: EGraph) -> None:
        self.state = vars(egraph)

    def next(self) -> str:
        count = self.state.get(self._ATTRIBUTE, 0)
        self.state[self._ATTRIBUTE] = count + 1
        return f"$mirage_node_{count}"


class _EncodeContext:
    """The leaf types and extra facts that encoding records beside the terms."""

    def __init__(self, leaves: dict, facts: list) -> None:
        self.leaves = leaves
        self.facts = facts

    def record_leaf(self, kind: str, name: str, ty: TensorType) -> None:
        known = self.leaves.setdefault((kind, name), ty)
        if known != ty:
            raise GraphError(
                f"{kind} {name!r} appears with two types, {known} and {ty}"
            )

    def add_fact(self, fact) -> None:
        self.facts.append(fact)


def args_term(terms: list[Tensor]) -> Args:
    """The Args list term of `terms`, in order."""
    args = Args.nil()
    for term in reversed(terms):
        args = Args.cons(term, args)
    return args


def encode_layout(letters: str, context: _EncodeContext) -> Idx:
    """The Idx term of a layout, recording the letter mask of an ordered one."""
    term = layout_term(letters)
    if not is_sorted_layout(letters):
        # The mask of a sorted layout follows from a rule; an ordered one's is recorded here.
        context.add_fact(set_(idx_mask(term)).to(letter_mask(letters)))
    return term


def _encode_node(
    node: Node, operands: list[Tensor], leaves: dict, facts: list
) -> Tensor:
    """The Tensor term of `node`, its operands' terms given (each kind's `encode`)."""
    from mirage_mlir.passes.eqsat.kinds import kind_named

    return kind_named(node.kind).encode(node, operands, _EncodeContext(leaves, facts))
