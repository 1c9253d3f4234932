// REQUIRES: triton
// RUN: mirage-mlir-opt %examples/e6_naive_softmax.mlir -p 'eqsat-optimize,convert-mirage-to-triton' --emit=ttir | filecheck %s --check-prefix=TTIR
// RUN: mirage-mlir-opt %examples/e6_naive_softmax.mlir -p 'eqsat-optimize,convert-mirage-to-triton' --emit=ttgir | filecheck %s --check-prefix=TTGIR
// RUN: mirage-mlir-opt %examples/e6_naive_softmax.mlir -p 'eqsat-optimize,convert-mirage-to-triton' --emit=ptx --arch=80 | filecheck %s --check-prefix=PTX80
// RUN: not mirage-mlir-opt %examples/e6_naive_softmax.mlir --emit=ptx 2>&1 | filecheck %s --check-prefix=NONE
// REQUIRES: full-suite

// --emit stops at a Triton stage and prints every kernel there.

// TTIR: // kernel: [[K:main_row_reduction_[0-9]+]]
// TTIR: "tt.func"()
// TTIR-SAME: sym_name = "[[K]]"
// TTIR: "tt.load"
// TTIR: "tt.reduce"
// TTIR: "tt.store"

// TTGIR: // kernel: main_row_reduction_{{[0-9]+}}
// TTGIR: #ttg.blocked
// TTGIR: tt.func public @main_row_reduction_{{[0-9]+}}

// PTX80: // kernel: main_row_reduction_{{[0-9]+}}
// PTX80: .target sm_80
// PTX80: .entry main_row_reduction_{{[0-9]+}}

// NONE: mirage-mlir-opt: error: --emit=ptx needs Triton kernels: run -p convert-mirage-to-triton
