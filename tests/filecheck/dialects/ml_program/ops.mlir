// RUN: mirage-mlir-opt %s | filecheck %s
// RUN: mirage-mlir-opt %s | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | mirage-mlir-opt | filecheck %s
// RUN: mirage-mlir-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: mirage-mlir-opt %s -p eqsat-optimize | filecheck %s --check-prefix=OPT
// REQUIRES: full-suite

// ml_program globals as torch-mlir's linalg-on-tensors output keeps a random seed in them
// (torch.rand_like, dropout in training mode), printed back in MLIR's syntax and
// property names; the optimiser keeps each load and store where it is.

// CHECK: ml_program.global private mutable @global_seed(dense<0> : tensor<i64>) : tensor<i64>
// CHECK: ml_program.global public @table(dense<1.000000e+00> : tensor<4xf32>) : tensor<4xf32> {doc = "kept"}
// GENERIC: "ml_program.global"() <{is_mutable, sym_name = "global_seed", sym_visibility = "private", type = tensor<i64>, value = dense<0> : tensor<i64>}>
// GENERIC: "ml_program.global"() <{sym_name = "table", sym_visibility = "public", type = tensor<4xf32>, value = dense<1.000000e+00> : tensor<4xf32>}> {doc = "kept"}
ml_program.global private mutable @global_seed(dense<0> : tensor<i64>) : tensor<i64>
ml_program.global public @table(dense<1.000000e+00> : tensor<4xf32>) : tensor<4xf32> {doc = "kept"}

// CHECK-LABEL: func.func @main
// OPT-LABEL: func.func @main
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c7 = arith.constant 7 : i64
  // CHECK: %[[SEED:.*]] = ml_program.global_load @global_seed : tensor<i64>
  // GENERIC: "ml_program.global_load"() <{global = @global_seed}> : () -> tensor<i64>
  // OPT: %[[SEED:.*]] = ml_program.global_load @global_seed : tensor<i64>
  %seed = ml_program.global_load @global_seed : tensor<i64>
  %s = tensor.extract %seed[] : tensor<i64>
  %n = arith.addi %s, %c7 : i64
  // CHECK: %[[NEXT:.*]] = tensor.insert %{{.*}} into %[[SEED]][] : tensor<i64>
  // OPT: %[[NEXT:.*]] = tensor.insert %{{.*}} into %[[SEED]][] : tensor<i64>
  %next = tensor.insert %n into %seed[] : tensor<i64>
  // CHECK: ml_program.global_store @global_seed = %[[NEXT]] : tensor<i64>
  // GENERIC: "ml_program.global_store"(%{{.*}}) <{global = @global_seed}> : (tensor<i64>) -> ()
  // OPT: ml_program.global_store @global_seed = %[[NEXT]] : tensor<i64>
  ml_program.global_store @global_seed = %next : tensor<i64>
  // CHECK: ml_program.global_load_const @table : tensor<4xf32>
  // GENERIC: "ml_program.global_load_const"() <{global = @table}> : () -> tensor<4xf32>
  %t = ml_program.global_load_const @table : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.add ins(%x, %t : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  // OPT: func.return
  func.return %y : tensor<4xf32>
}
