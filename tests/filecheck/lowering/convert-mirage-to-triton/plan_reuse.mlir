// RUN: mirage-mlir-opt %s -p 'convert-mirage-to-triton{block_elementwise=256}' | filecheck %s

// Three elementwise ops in a chain: %a is dead once %b is computed, so %c takes its
// slot; the returned buffer is never given away.  Kernels read only buffers.

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @chain(%x: tensor<30x50xf32>, %bias: tensor<50xf32>) -> tensor<30x50xf32> {
  %e = tensor.empty() : tensor<30x50xf32>
  %a = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %bias : tensor<30x50xf32>, tensor<50xf32>) outs(%e : tensor<30x50xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<30x50xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<30x50xf32>) outs(%e : tensor<30x50xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = math.exp %p : f32
    linalg.yield %s : f32
  } -> tensor<30x50xf32>
  %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%b, %x : tensor<30x50xf32>, tensor<30x50xf32>) outs(%e : tensor<30x50xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.mulf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<30x50xf32>
  func.return %c : tensor<30x50xf32>
}

// CHECK-LABEL: func.func @chain
// CHECK-SAME:    (%[[X:.*]]: tensor<30x50xf32>, %[[BIAS:.*]]: tensor<50xf32>)
// CHECK-NEXT:    %[[A:.*]] = plan.alloc slot 0 : tensor<30x50xf32>
// CHECK-NEXT:    plan.launch @chain_elementwise_0 grid [6, 1, 1] ins(%[[X]], %[[BIAS]] : tensor<30x50xf32>, tensor<50xf32>) outs(%[[A]] : tensor<30x50xf32>)
// CHECK-NEXT:    %[[B:.*]] = plan.alloc slot 1 : tensor<30x50xf32>
// CHECK-NEXT:    plan.launch @chain_elementwise_1 grid [6, 1, 1] ins(%[[A]] : tensor<30x50xf32>) outs(%[[B]] : tensor<30x50xf32>)
// CHECK-NEXT:    %[[C:.*]] = plan.alloc slot 0 : tensor<30x50xf32>
// CHECK-NEXT:    plan.launch @chain_elementwise_2 grid [6, 1, 1] ins(%[[B]], %[[X]] : tensor<30x50xf32>, tensor<30x50xf32>) outs(%[[C]] : tensor<30x50xf32>)
// CHECK-NEXT:    func.return %[[C]]

// CHECK-LABEL: tt.func public @chain_elementwise_0
// CHECK-SAME:    (%{{.*}}: !tt.ptr<f32> {tt.divisibility = 16 : i32}, %{{.*}}: !tt.ptr<f32> {tt.divisibility = 16 : i32}, %{{.*}}: !tt.ptr<f32> {tt.divisibility = 16 : i32})
// CHECK:         %[[FLAT:.*]] = arith.addi %{{.*}}, %{{.*}} : tensor<256xi32>
// CHECK:         %[[MASK:.*]] = arith.cmpi slt, %[[FLAT]], %{{.*}} : tensor<256xi32>
// CHECK:         tt.load %{{.*}}, %[[MASK]], %{{.*}} : tensor<256x!tt.ptr<f32>>
// CHECK:         tt.store %{{.*}}, %{{.*}}, %[[MASK]] : tensor<256x!tt.ptr<f32>>
