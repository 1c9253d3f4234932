// RUN: mirage-mlir-opt %examples/e7_llama_attention.mlir -p 'eqsat-optimize,convert-mirage-to-linalg' -o %t.e7
// RUN: filecheck %s --input-file %t.e7 --check-prefix=E7
// RUN: filecheck %s --input-file %t.e7 --check-prefix=NONE
// RUN: %python -c "import sys; from torch_mlir import ir; ir.Module.parse(open(sys.argv[1]).read(), ir.Context())" %t.e7
// RUN: mirage-mlir-opt %examples/e3_batchnorm_module.mlir -p 'eqsat-optimize,convert-mirage-to-linalg' -o %t.e3
// RUN: filecheck %s --input-file %t.e3 --check-prefix=E3
// RUN: filecheck %s --input-file %t.e3 --check-prefix=NONE
// RUN: %python -c "import sys; from torch_mlir import ir; ir.Module.parse(open(sys.argv[1]).read(), ir.Context())" %t.e3
// RUN: mirage-mlir-opt %examples/e6_naive_softmax.mlir -p 'eqsat-optimize,convert-mirage-to-linalg' | filecheck %s --check-prefix=E6
// RUN: mirage-mlir-opt %S/../eqsat-optimize/Inputs/e2_attention_causal_f16.mlir -p 'eqsat-optimize,convert-mirage-to-linalg' -o %t.f16
// RUN: filecheck %s --input-file %t.f16 --check-prefix=F16
// RUN: filecheck %s --input-file %t.f16 --check-prefix=NONE
// REQUIRES: torch-mlir
// REQUIRES: full-suite

// The optimiser inside an upstream flow: eqsat-optimize writes mirage ops and kernel groups,
// convert-mirage-to-linalg turns them back into upstream linalg/tensor/arith/math that MLIR's
// own parser reads. Numerics against the original: tests/passes/test_convert_mirage_to_linalg.py.

// NONE-NOT: mirage.

// The Llama block (E7): RMSNorm, one QKV matmul on concatenated weights, causal GQA attention (8 query heads,
// 2 KV heads) with K and V read per group, the output projection.
// E7-LABEL: func.func @main
// E7:         math.sqrt
// E7:         tensor.insert_slice {{.*}} into tensor<512x768xf32>
// E7:         linalg.matmul {{.*}} -> tensor<128x768xf32>
// E7:         affine_map<(d0, d1, d2, d3, d4) -> (d0, (d1 floordiv 4), d3, d4)>
// E7:         arith.cmpi sle
// E7:         math.exp
// E7:         affine_map<(d0, d1, d2, d3, d4) -> (d0, (d1 floordiv 4), d4, d3)>
// E7:         linalg.matmul {{.*}} -> tensor<128x512xf32>
// E7:         func.return

// BatchNorm1d (E3) in training mode keeps its running statistics and counter results.
// E3-LABEL: func.func @main
// E3:         iterator_types = ["reduction", "parallel"]
// E3:         math.sqrt
// E3:         func.return {{.*}}, {{.*}}, {{.*}}, {{.*}} : tensor<{{.*}}xf32>, tensor<{{.*}}xf32>, tensor<i64>, tensor<{{.*}}xf32>

// The naive softmax (E6) becomes the stable one.
// E6-LABEL: func.func @main
// E6:         arith.maximumf
// E6:         arith.subf
// E6-NEXT:    math.exp
// E6:         arith.addf
// E6:         arith.divf
// E6-NOT:     mirage.

// f16 causal attention: the signature stays f16, the arithmetic is f32 in between.
// F16-LABEL: func.func @main
// F16-SAME:    tensor<1x4x256x64xf16>
// F16:         arith.extf {{.*}} : f16 to f32
// F16:         arith.truncf {{.*}} : f32 to f16
// F16:         func.return {{.*}} : tensor<1x4x256x64xf16>
