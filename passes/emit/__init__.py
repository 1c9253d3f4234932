"""Re-emission: writing an optimised term graph back as MLIR (`mirage` + linalg ops).

`emit_function(recognized, graph, kernels)` rewrites the `func.func` that recognition read so
that it computes `graph`; one emitter per node kind, in files by theme: `emit_linear`
(contractions and layout), `emit_elementwise` (pointwise and reductions), `emit_nn` (softmax,
attention, norms), on the helpers of `structured`.
"""

from mirage_mlir.passes.emit.function import EMITTERS, emit_function, schedule
from mirage_mlir.passes.emit.structured import EmitError

__all__ = ["EMITTERS", "EmitError", "emit_function", "schedule"]
