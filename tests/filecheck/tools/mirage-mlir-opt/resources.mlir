// RUN: mirage-mlir-opt %S/Inputs/linear.mlir | filecheck %s
// RUN: mirage-mlir-opt %S/Inputs/linear.mlir | mirage-mlir-opt | filecheck %s

// Weights imported as dense_resource blobs survive: the
// {-# dialect_resources #-} section is printed after the module.

// CHECK-LABEL: func.func @linear
// CHECK-DAG: arith.constant dense_resource<[[BIAS:torch_tensor_8_torch.float32]]> : tensor<8xf32>
// CHECK-DAG: arith.constant dense_resource<[[WEIGHT:torch_tensor_8_16_torch.float32]]> : tensor<8x16xf32>
// CHECK: {-#
// CHECK-NEXT: dialect_resources: {
// CHECK-NEXT: builtin: {
// CHECK-DAG: [[WEIGHT]]: "0x040000000054F5BA5E54093E16B352BE80663CBE
// CHECK-DAG: [[BIAS]]: "0x040000005C1DB3BDBAD251BE00D259BDF8E25A3D76C626BE403452BC0042373EF088D2BC"
// CHECK: #-}
