// RUN: mirage-mlir-opt %examples/e8_tensor_network.mlir -p 'eqsat-optimize{target=flops}' | filecheck %s

// einsum("abcd,bcef,cdfg,degh->ah"), all dims 12: opt_einsum's optimal path, T3 with T4
// first (over g), then T2 (over e, f), then T1 (over b, c, d): three binary contractions,
// each a linalg.generic, with a 5-D intermediate and then a 4-D one.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%[[T1:.*]]: tensor<12x12x12x12xf32>, %[[T2:.*]]: tensor<12x12x12x12xf32>, %[[T3:.*]]: tensor<12x12x12x12xf32>, %[[T4:.*]]: tensor<12x12x12x12xf32>)
// CHECK-NOT:     linalg.batch_matmul
// CHECK:         %[[T34:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[T3]], %[[T4]] : {{.*}}) outs({{.*}}) {
// CHECK:         } -> tensor<12x12x12x12x12xf32>
// CHECK:         %[[T234:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[T2]], %[[T34]] : {{.*}}) outs({{.*}}) {
// CHECK:         } -> tensor<12x12x12x12xf32>
// CHECK:         %[[R:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%[[T1]], %[[T234]] : {{.*}}) outs({{.*}}) {
// CHECK:         } -> tensor<12x12xf32>
// CHECK-NOT:     linalg.generic
// CHECK:         func.return %{{.*}} : tensor<12x12xf32>
