"""The `attention` ruleset: softmax(s·QKᵀ [+ mask]) V = attention(Q, K, V, s[, mask]).

- attention: softmax(s·(q @ kᵀ), -1) @ v = attention(q, k, v, s), and without a scale
  (s = 1). Where the scale sits does not matter: the linear-algebra ruleset puts s·(QKᵀ),
  (sQ)Kᵀ, Q(sKᵀ) and torch-mlir SDPA's split (√s·Q)(√s·Kᵀ) in one e-class, and this rule
  matches that e-class. attention's semantics scale q, so extraction never pays for the
  seq x seq scaling.
- causal: softmax(m, -1) @ v = attention(q, k, v, s, causal) when `causal_masked(m, s·q@kᵀ)`:
  m is the scores with keys after their query at -inf, a fact recorded at encoding for the
  mask forms of language_nn.py (where(tril, scores, -inf), masked_fill(triu, -inf), and an
  additive 0/-inf mask), whose shape must be the scores' two innermost axes there.
- additive mask: softmax(s·q@kᵀ + mask, -1) @ v = attention(q, k, v, mask, s).
- SDPA's guard: where(all_-1(m == -inf), 0, softmax(m, -1)) = softmax(m, -1) when no row of m
  is entirely -inf: m causally masked (the diagonal is always allowed) or unmasked scores
  s·q@kᵀ, both for finite q and k. The all-reduction of i1 values is a `min` reduction; the
  comparison may be on m cast to another float type (torch-mlir compares in f64).
  With an additive mask any row may be all -inf, so the guard stays; the whole guarded form
  is attention(q, k, v, mask, s), whose semantics zero such rows too (`sdpa-guard-*-mask`).
- widened softmax: the attention, causal and additive-mask rules also match the softmax
  computed in a wider type w (f32 or f64), cast(softmax(cast(m, w), -1), n) @ v, which is how
  torch-mlir writes f16 and bf16 attention (the scores widened to f32, the softmax in f32, the
  probabilities narrowed back). Up to rounding the casts are the identity, so both sides are
  equal; attention in the narrow type keeps its scores, softmax statistics and accumulators
  in f32 (kinds/neural.py, and the lowering's template), so it rounds less than the left side,
  which rounds the scores, the scaled scores and the probabilities. No type condition is
  needed: matmul's operands share one element type, so P's type n is v's, and attention's
  type rule then asks q and k to be of type n too, which makes the new e-node the matched
  e-class's type or drops it (a guarded kind). w is never narrow: a softmax deliberately
  computed in f16 between f32 tensors is not replaced by a more precise one.
- keys passed transposed: each of the rules above also matches scores s·(q @ kt) with kt
  any tensor, and builds attention on the key mt(kt) (the `attention-kt-*` rules): a program
  handed Kᵀ (or computing it another way) writes no transpose for the q @ kᵀ pattern to match,
  and q @ kt = q @ mt(mt(kt)) holds for every kt. Rewriting q @ x to q @ mt(mt(x)) everywhere
  instead would add a transpose to every matmul's e-class; these rules add one mt only where
  the whole attention pattern matched. On a q @ mt(k) both families fire, and the second
  builds attention(q, mt(mt(k)), v), the same e-node once transpose-transpose has run. The
  lowering reads the key through that transpose as a strided view inside the attention
  kernel (lowering/template_attention_views.py), so Kᵀ is never copied.
- GQA: attention(q, r(k), r(v), ...) = attention(q, k, v, ...) when r repeats each KV head
  consecutively (`repeat_heads`, recorded at encoding): attention's grouped heads read KV head
  h // (Hq / Hkv), which is what repeat_interleave materialises.

Attention is a guarded kind (serialized.py): where q, k and v do not fit attention's type
rule (different ranks, batch axes that matmul would broadcast) the new e-node is dropped;
wherever it does fit, both sides compute the same values.
"""

from __future__ import annotations

import math
from functools import cache
from types import SimpleNamespace

from egglog import String, eq, f64, i64, rule, union, vars_

from mirage_mlir.passes.eqsat.graph import (
    Full,
    Graph,
    Input,
    Reshape,
    Scale,
    attention,
    broadcast,
    cast,
    elementwise,
    reduce,
    softmax,
)
from mirage_mlir.passes.eqsat.language import Tensor, causal_masked, repeat_heads
from mirage_mlir.passes.eqsat.language_nn import causal_mask_leaf
from mirage_mlir.passes.eqsat.rules_elementwise import ew
from mirage_mlir.passes.eqsat.rulesets import RewriteRule


@cache
def _vars() -> SimpleNamespace:
    """The pattern variables, by name (built once, on first use)."""
    names = SimpleNamespace()
    for sort, spec in (
        (Tensor, "top q k kt v kr vr m s p mask g"),
        (f64, "sc"),
        (i64, "c"),
        (String, "d d2 d3 n"),
    ):
        for name, variable in zip(spec.split(), vars_(spec, sort)):
            setattr(names, name, variable)
    return names


#: The types a widened softmax is computed in.
WIDE_FLOATS = ("f32", "f64")


def _probabilities(m, widened: bool) -> list:
    """[softmax(m, -1)], or the same computed in each wide type w: cast(softmax(cast(m, w)), n)."""
    v = _vars()
    if not widened:
        return [Tensor.softmax(m, -1)]
    return [
        Tensor.cast(Tensor.softmax(Tensor.cast(m, w), -1), v.n) for w in WIDE_FLOATS
    ]


def _scores(scaled: bool, transposed: bool = False):
    """(the scores pattern, its scale, the key attention reads).

    The scores are s·(q @ kᵀ), or s·(q @ kt) with the keys passed already transposed
    (`transposed`): then the key is mt(kt), which the lowering reads through the transpose.
    """
    v = _vars()
    if transposed:
        product, key = Tensor.matmul(v.q, v.kt), Tensor.mt(v.kt)
    else:
        product, key = Tensor.matmul(v.q, Tensor.mt(v.k)), v.k
    if scaled:
        return Tensor.scale(product, v.sc), v.sc, key
    return product, f64(1.0), key


# --------------------------------------------------------------------------------------------
# Examples: q, k, v [2, 6, 4] (seq 6, head 4); 4-D for grouped heads.


def _qkv(heads: tuple[int, int] | None = None):
    if heads is None:
        return Input("Q", (2, 6, 4)), Input("K", (2, 5, 4)), Input("V", (2, 5, 3))
    hq, hkv = heads
    return (
        Input("Q", (2, hq, 6, 4)),
        Input("K", (2, hkv, 6, 4)),
        Input("V", (2, hkv, 6, 3)),
    )


def _narrow(x, dtype: str):
    """An Input of x's name and shape with element type `dtype`."""
    return Input(x.name, x.shape, dtype)


def _softmax_in(m, wide: str | None):
    """softmax(m, -1), computed in `wide` and cast back to m's type when `wide` is given."""
    if wide is None:
        return softmax(m, -1)
    return cast(softmax(cast(m, wide), -1), m.dtype)


def _keys(k, transposed: bool):
    """(kᵀ as the scores read it, k as attention reads it).

    With `transposed` the program holds Kᵀ itself (an Input "KT" of shape [..., d, n]), and
    attention reads it transposed back.
    """
    if not transposed:
        return k.mT, k
    kt = Input("KT", k.shape[:-2] + k.shape[-2:][::-1], k.dtype)
    return kt, kt.mT


def _attention_example(
    scaled: bool, wide: str | None = None, dtype: str = "f16", transposed: bool = False
):
    def example():
        q, k, v = _qkv()
        if wide is not None:
            q, k, v = (_narrow(x, dtype) for x in (q, k, v))
        kt, k = _keys(k, transposed)
        scores = Scale(q @ kt, 0.5) if scaled else q @ kt
        return Graph.of(_softmax_in(scores, wide) @ v), Graph.of(
            attention(q, k, v, 0.5 if scaled else 1.0)
        )

    return example


def _causal_scores(
    form: str, scaled: bool, dtype: str = "f32", transposed: bool = False
):
    q, k, v = _qkv((2, 2))
    if dtype != "f32":
        q, k, v = (_narrow(x, dtype) for x in (q, k, v))
    kt, k = _keys(k, transposed)
    scores = Scale(q @ kt, 0.5) if scaled else q @ kt
    mask = causal_mask_leaf(form, 6, 6, dtype if form == "causal_additive" else None)
    minus_inf = Full(-math.inf, (), dtype)
    if form == "causal_allowed":
        masked = elementwise("where", mask, scores, minus_inf)
    elif form == "causal_future":
        masked = elementwise("where", mask, minus_inf, scores)
    else:
        masked = scores + mask
    return q, k, v, masked


def _causal_example(scaled: bool, wide: str | None = None, transposed: bool = False):
    def example():
        dtype = "f32" if wide is None else "f16"
        q, k, v, masked = _causal_scores("causal_allowed", scaled, dtype, transposed)
        return Graph.of(_softmax_in(masked, wide) @ v), Graph.of(
            attention(q, k, v, 0.5 if scaled else 1.0, True)
        )

    return example


def _causal_form_example(
    form: str, wide: str | None = None, dtype: str = "f32", transposed: bool = False
):
    def example():
        q, k, v, masked = _causal_scores(form, True, dtype, transposed)
        return Graph.of(_softmax_in(masked, wide) @ v), Graph.of(
            attention(q, k, v, 0.5, True)
        )

    return example


def _additive_mask_example(
    wide: str | None = None, dtype: str = "f32", transposed: bool = False
):
    def example():
        q, k, v = _qkv()
        mask = Input("M", (6, 5), dtype)
        if dtype != "f32":
            q, k, v = (_narrow(x, dtype) for x in (q, k, v))
        kt, k = _keys(k, transposed)
        scores = Scale(q @ kt, 0.5) + mask
        return Graph.of(_softmax_in(scores, wide) @ v), Graph.of(
            attention(q, k, v, 0.5, mask=mask)
        )

    return example


def _guard(masked, widen: bool = False):
    minus_inf = Full(-math.inf, (), "f64" if widen else "f32")
    compared = cast(masked, "f64") if widen else masked
    everywhere = reduce(elementwise("eq", compared, minus_inf), "min", (-1,), True)
    p = softmax(masked, -1)
    return elementwise("where", everywhere, Full(0.0, (), "f32"), p), p


def _guard_causal_example():
    _, _, _, masked = _causal_scores("causal_allowed", True)
    guarded, p = _guard(masked)
    return Graph.of(guarded), Graph.of(p)


def _guard_unmasked_example(widen: bool = False, transposed: bool = False):
    def example():
        q, k, _ = _qkv()
        kt, _ = _keys(k, transposed)
        guarded, p = _guard(Scale(q @ kt, 0.5), widen)
        return Graph.of(guarded), Graph.of(p)

    return example


def _guard_causal_widened_example():
    _, _, _, masked = _causal_scores("causal_additive", True)
    guarded, p = _guard(masked, True)
    return Graph.of(guarded), Graph.of(p)


def _guarded_additive_example(
    widen: bool = False, wide: str | None = None, transposed: bool = False
):
    """SDPA with an additive mask as torch-mlir decomposes it: the guard zeroes rows whose
    scores are all -inf, as attention's own semantics do."""

    def example():
        dtype = "f32" if wide is None else "f16"
        q, k, v = (_narrow(x, dtype) for x in _qkv())
        mask = Input("M", (6, 5), dtype)
        kt, k = _keys(k, transposed)
        masked = Scale(q @ kt, 0.5) + mask
        minus_inf = Full(-math.inf, (), "f64" if widen else dtype)
        compared = cast(masked, "f64") if widen else masked
        everywhere = reduce(elementwise("eq", compared, minus_inf), "min", (-1,), True)
        p = _softmax_in(masked, wide)
        guarded = elementwise("where", everywhere, Full(0.0, (), dtype), p)
        return Graph.of(guarded @ v), Graph.of(attention(q, k, v, 0.5, mask=mask))

    return example


def _repeat(x, group: int):
    b, h, s, d = x.shape
    return Reshape(
        broadcast(Reshape(x, (b, h, 1, s, d)), (b, h, group, s, d)),
        (b, h * group, s, d),
    )


def _gqa_example():
    q, k, v = _qkv((4, 2))
    return Graph.of(attention(q, _repeat(k, 2), _repeat(v, 2), 0.5, True)), Graph.of(
        attention(q, k, v, 0.5, True)
    )


# --------------------------------------------------------------------------------------------
# Rewrites


def _attention(scaled: bool, widened: bool = False, transposed: bool = False):
    def build():
        v = _vars()
        scores, scale, key = _scores(scaled, transposed)
        return [
            rule(eq(v.top).to(Tensor.matmul(p, v.v))).then(
                union(v.top).with_(Tensor.attention(v.q, key, v.v, scale, 0))
            )
            for p in _probabilities(scores, widened)
        ]

    return build


def _causal(scaled: bool, widened: bool = False, transposed: bool = False):
    def build():
        v = _vars()
        scores, scale, key = _scores(scaled, transposed)
        return [
            rule(
                eq(v.top).to(Tensor.matmul(p, v.v)),
                causal_masked(v.m, v.s),
                eq(v.s).to(scores),
            ).then(union(v.top).with_(Tensor.attention(v.q, key, v.v, scale, 1)))
            for p in _probabilities(v.m, widened)
        ]

    return build


def _additive_mask(widened: bool = False, transposed: bool = False):
    def build():
        v = _vars()
        scores, scale, key = _scores(True, transposed)
        return [
            rule(eq(v.top).to(Tensor.matmul(p, v.v))).then(
                union(v.top).with_(
                    Tensor.attention_masked(v.q, key, v.v, v.mask, scale, 0)
                )
            )
            for p in _probabilities(ew("add", scores, v.mask), widened)
        ]

    return build


def _guard_patterns():
    """The guard, comparing m itself or m widened (torch-mlir compares in f64)."""
    v = _vars()
    patterns = []
    for compared in (v.m, Tensor.cast(v.m, v.d3)):
        everywhere = Tensor.reduce(
            ew("eq", compared, Tensor.full(-math.inf, "", v.d)), "min", 1, 1
        )
        patterns.append(ew("where", everywhere, Tensor.full(0.0, "", v.d2), v.p))
    return patterns


def _guard_causal():
    v = _vars()
    return [
        rule(
            eq(v.top).to(pattern),
            eq(v.p).to(Tensor.softmax(v.m, -1)),
            causal_masked(v.m, v.s),
        ).then(union(v.top).with_(v.p))
        for pattern in _guard_patterns()
    ]


def _guard_unmasked():
    """The guard dropped over unmasked scores s·(q @ kt), whatever kt is (kᵀ, or keys passed
    transposed): no row of them is all -inf for finite q and kt."""
    v = _vars()
    scores, _, _ = _scores(True, transposed=True)
    return [
        rule(
            eq(v.top).to(pattern),
            eq(v.p).to(Tensor.softmax(v.m, -1)),
            eq(v.m).to(scores),
        ).then(union(v.top).with_(v.p))
        for pattern in _guard_patterns()
    ]


def _guard_additive_mask(widened: bool = False, transposed: bool = False):
    """where(all_-1(m == -inf), 0, P) @ v = attention(q, k, v, mask, s) for m = s·q@kᵀ + mask
    and P = softmax(m) (or computed widened): exact, fully masked rows included, since
    attention yields zeros for a row whose scores are all -inf."""

    def build():
        v = _vars()
        scores, scale, key = _scores(True, transposed)
        return [
            rule(
                eq(v.top).to(Tensor.matmul(pattern, v.v)),
                eq(v.p).to(p),
                eq(v.m).to(ew("add", scores, v.mask)),
            ).then(
                union(v.top).with_(
                    Tensor.attention_masked(v.q, key, v.v, v.mask, scale, 0)
                )
            )
            for pattern in _guard_patterns()
            for p in _probabilities(v.m, widened)
        ]

    return build


def _gqa():
    v = _vars()
    return [
        rule(
            eq(v.top).to(Tensor.attention(v.q, v.kr, v.vr, v.sc, v.c)),
            repeat_heads(v.kr, v.k),
            repeat_heads(v.vr, v.v),
        ).then(union(v.top).with_(Tensor.attention(v.q, v.k, v.v, v.sc, v.c))),
        rule(
            eq(v.top).to(Tensor.attention_masked(v.q, v.kr, v.vr, v.mask, v.sc, v.c)),
            repeat_heads(v.kr, v.k),
            repeat_heads(v.vr, v.v),
        ).then(
            union(v.top).with_(
                Tensor.attention_masked(v.q, v.k, v.v, v.mask, v.sc, v.c)
            )
        ),
    ]


def _layout_rules(transposed: bool) -> tuple[RewriteRule, ...]:
    """The attention rules of one key layout: K as given (scores s·(q @ kᵀ)), or K passed
    already transposed (scores s·(q @ kt), attention on K = mt(kt)); each scaled or not,
    causal or with an additive mask, and in the widened f16/bf16 forms."""
    prefix = "attention-kt-" if transposed else "attention-"
    t = {"transposed": True} if transposed else {}
    return (
        RewriteRule(
            f"{prefix}scaled", _attention(True, **t), _attention_example(True, **t)
        ),
        RewriteRule(
            f"{prefix}unscaled", _attention(False, **t), _attention_example(False, **t)
        ),
        RewriteRule(
            f"{prefix}causal-scaled", _causal(True, **t), _causal_example(True, **t)
        ),
        RewriteRule(
            f"{prefix}causal-unscaled", _causal(False, **t), _causal_example(False, **t)
        ),
        RewriteRule(
            f"{prefix}additive-mask", _additive_mask(**t), _additive_mask_example(**t)
        ),
        RewriteRule(
            f"{prefix}widened-scaled",
            _attention(True, True, **t),
            _attention_example(True, "f32", **t),
        ),
        RewriteRule(
            f"{prefix}widened-unscaled",
            _attention(False, True, **t),
            _attention_example(False, "f32", **t),
        ),
        RewriteRule(
            f"{prefix}widened-causal-scaled",
            _causal(True, True, **t),
            _causal_example(True, "f32", **t),
        ),
        RewriteRule(
            f"{prefix}widened-causal-unscaled",
            _causal(False, True, **t),
            _causal_example(False, "f32", **t),
        ),
        RewriteRule(
            f"{prefix}widened-additive-mask",
            _additive_mask(True, **t),
            _additive_mask_example("f32", "f16", **t),
        ),
    )


DECLARATIONS = (
    *_layout_rules(transposed=False),
    RewriteRule("sdpa-guard-causal", _guard_causal, _guard_causal_example),
    RewriteRule("sdpa-guard-unmasked", _guard_unmasked, _guard_unmasked_example()),
    RewriteRule(
        "sdpa-guard-additive-mask",
        _guard_additive_mask(),
        _guarded_additive_example(),
    ),
    RewriteRule(
        "sdpa-guard-widened-additive-mask",
        _guard_additive_mask(True),
        _guarded_additive_example(True, "f32"),
    ),
    RewriteRule(
        "sdpa-guard-kt-additive-mask",
        _guard_additive_mask(transposed=True),
        _guarded_additive_example(transposed=True),
    ),
    RewriteRule(
        "sdpa-guard-kt-widened-additive-mask",
        _guard_additive_mask(True, transposed=True),
        _guarded_additive_example(True, "f32", transposed=True),
    ),
    RewriteRule("attention-gqa", _gqa, _gqa_example),
    *_layout_rules(transposed=True),
)

#: Further examples a rule must also prove: the other two causal mask forms, and bf16 scores
#: (and f64 statistics) for the widened forms.
EXTRA_EXAMPLES = {
    "attention-causal-scaled": (
        _causal_form_example("causal_future"),
        _causal_form_example("causal_additive"),
    ),
    "attention-widened-scaled": (
        _attention_example(True, "f32", "bf16"),
        _attention_example(True, "f64", "f32"),
    ),
    "attention-widened-causal-scaled": (
        _causal_form_example("causal_future", "f32", "f16"),
        _causal_form_example("causal_additive", "f32", "bf16"),
    ),
    "sdpa-guard-causal": (_guard_causal_widened_example,),
    "sdpa-guard-unmasked": (
        _guard_unmasked_example(widen=True),
        _guard_unmasked_example(widen=True, transposed=True),
    ),
    "sdpa-guard-additive-mask": (_guarded_additive_example(widen=True),),
    "sdpa-guard-kt-additive-mask": (
        _guarded_additive_example(widen=True, transposed=True),
    ),
    "attention-kt-causal-scaled": (
        _causal_form_example("causal_future", transposed=True),
        _causal_form_example("causal_additive", transposed=True),
    ),
    "attention-kt-widened-scaled": (
        _attention_example(True, "f32", "bf16", transposed=True),
    ),
    "attention-kt-widened-causal-scaled": (
        _causal_form_example("causal_additive", "f32", "bf16", transposed=True),
    ),
}
