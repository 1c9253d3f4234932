// RUN: mirage-mlir-opt %s --split-input-file --verify-diagnostics | filecheck %s

// One case per verifier message of the mirage dialect, each with its place.

func.func @non_float(%a: tensor<3x4xi32>) {
  // CHECK: invalid.mlir:[[# @LINE + 1]]:3: error: 'mirage.softmax' op expected a ranked tensor of f16, bf16, f32 or f64 elements
  %c = mirage.softmax %a axis = 1 : tensor<3x4xi32>
  func.return
}

// -----

func.func @matmul_rank(%a: tensor<4xf32>, %b: tensor<4x5xf32>) {
  // CHECK: 'mirage.matmul' op lhs must have rank >= 2, got rank 1
  %c = mirage.matmul %a, %b : tensor<4xf32>, tensor<4x5xf32> -> tensor<5xf32>
  func.return
}

// -----

func.func @matmul_contraction(%a: tensor<3x4xf32>, %b: tensor<5x6xf32>) {
  // CHECK: 'mirage.matmul' op contraction dimensions differ: lhs has 4, rhs has 5
  %c = mirage.matmul %a, %b : tensor<3x4xf32>, tensor<5x6xf32> -> tensor<3x6xf32>
  func.return
}

// -----

func.func @matmul_transposed_contraction(%a: tensor<3x4xf32>, %b: tensor<4x5xf32>) {
  // CHECK: 'mirage.matmul' op contraction dimensions differ: lhs has 3, rhs has 4
  %c = mirage.matmul %a, %b transpose_lhs : tensor<3x4xf32>, tensor<4x5xf32> -> tensor<4x5xf32>
  func.return
}

// -----

func.func @matmul_batch(%a: tensor<2x3x4xf32>, %b: tensor<5x4x6xf32>) {
  // CHECK: 'mirage.matmul' op batch dimensions: shapes 2 and 5 do not broadcast
  %c = mirage.matmul %a, %b : tensor<2x3x4xf32>, tensor<5x4x6xf32> -> tensor<2x3x6xf32>
  func.return
}

// -----

func.func @matmul_result(%a: tensor<3x4xf32>, %b: tensor<4x5xf32>) {
  // CHECK: 'mirage.matmul' op result shape 3x6 does not match the expected shape 3x5
  %c = mirage.matmul %a, %b : tensor<3x4xf32>, tensor<4x5xf32> -> tensor<3x6xf32>
  func.return
}

// -----

func.func @matmul_element_type(%a: tensor<3x4xf32>, %b: tensor<4x5xf16>) {
  // CHECK: 'mirage.matmul' op rhs element type f16 does not match lhs element type f32
  %c = mirage.matmul %a, %b : tensor<3x4xf32>, tensor<4x5xf16> -> tensor<3x5xf32>
  func.return
}

// -----

func.func @softmax_axis(%a: tensor<3x4xf32>) {
  // CHECK: 'mirage.softmax' op axis -3 is out of range for rank 2 (expected -2 <= axis < 2)
  %c = mirage.softmax %a axis = -3 : tensor<3x4xf32>
  func.return
}

// -----

func.func @softmax_rank(%a: tensor<f32>) {
  // CHECK: 'mirage.softmax' op input must have rank >= 1
  %c = mirage.softmax %a axis = 0 : tensor<f32>
  func.return
}

// -----

func.func @attention_rank(%q: tensor<8x16xf32>) {
  // CHECK: 'mirage.attention' op query must have rank 3 or 4, got rank 2
  %o = mirage.attention %q, %q, %q scale 1.0 : tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32> -> tensor<8x16xf32>
  func.return
}

// -----

func.func @attention_key_rank(%q: tensor<1x2x8x16xf32>, %k: tensor<1x8x16xf32>) {
  // CHECK: 'mirage.attention' op key rank 3 does not match query rank 4
  %o = mirage.attention %q, %k, %k scale 1.0 : tensor<1x2x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32> -> tensor<1x2x8x16xf32>
  func.return
}

// -----

func.func @attention_batch(%q: tensor<2x8x16xf32>, %k: tensor<3x8x16xf32>) {
  // CHECK: 'mirage.attention' op key batch size 3 does not match query batch size 2
  %o = mirage.attention %q, %k, %k scale 1.0 : tensor<2x8x16xf32>, tensor<3x8x16xf32>, tensor<3x8x16xf32> -> tensor<2x8x16xf32>
  func.return
}

// -----

func.func @attention_head_dim(%q: tensor<2x8x16xf32>, %k: tensor<2x8x32xf32>) {
  // CHECK: 'mirage.attention' op query head dim 16 does not match key head dim 32
  %o = mirage.attention %q, %k, %k scale 1.0 : tensor<2x8x16xf32>, tensor<2x8x32xf32>, tensor<2x8x32xf32> -> tensor<2x8x32xf32>
  func.return
}

// -----

func.func @attention_kv_length(%q: tensor<2x8x16xf32>, %k: tensor<2x8x16xf32>, %v: tensor<2x9x16xf32>) {
  // CHECK: 'mirage.attention' op key sequence length 8 does not match value sequence length 9
  %o = mirage.attention %q, %k, %v scale 1.0 : tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x9x16xf32> -> tensor<2x8x16xf32>
  func.return
}

// -----

func.func @attention_kv_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x4x8x16xf32>) {
  // CHECK: 'mirage.attention' op key heads 2 do not match value heads 4
  %o = mirage.attention %q, %k, %v scale 1.0 : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x4x8x16xf32> -> tensor<1x4x8x16xf32>
  func.return
}

// -----

func.func @attention_groups(%q: tensor<1x6x8x16xf32>, %k: tensor<1x4x8x16xf32>) {
  // CHECK: 'mirage.attention' op query heads (6) must be a multiple of key/value heads (4)
  %o = mirage.attention %q, %k, %k scale 1.0 : tensor<1x6x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32> -> tensor<1x6x8x16xf32>
  func.return
}

// -----

func.func @attention_result(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x32xf32>) {
  // CHECK: 'mirage.attention' op result shape 1x4x8x16 does not match the expected shape 1x4x8x32
  %o = mirage.attention %q, %k, %v scale 1.0 : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x32xf32> -> tensor<1x4x8x16xf32>
  func.return
}

// -----

func.func @attention_mask_rank(%q: tensor<2x8x16xf32>, %m: tensor<1x1x1x8xf32>) {
  // CHECK: 'mirage.attention' op mask rank 4 exceeds the rank 3 of 2x8x8
  %o = mirage.attention %q, %q, %q mask %m scale 1.0 : tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<1x1x1x8xf32> -> tensor<2x8x16xf32>
  func.return
}

// -----

func.func @attention_mask_shape(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x6x8xf32>, %m: tensor<4x5xf32>) {
  // CHECK: 'mirage.attention' op mask shape 4x5 does not broadcast to 1x2x4x6
  %o = mirage.attention %q, %k, %k mask %m scale 1.0 : tensor<1x2x4x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>, tensor<4x5xf32> -> tensor<1x2x4x8xf32>
  func.return
}

// -----

func.func @attention_mask_type(%q: tensor<2x8x16xf32>, %m: tensor<8x8xf16>) {
  // CHECK: 'mirage.attention' op mask element type f16 does not match query element type f32
  %o = mirage.attention %q, %q, %q mask %m scale 1.0 : tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x8xf16> -> tensor<2x8x16xf32>
  func.return
}

// -----

func.func @attention_scale(%q: tensor<2x8x16xf32>) {
  // CHECK: 'mirage.attention' op scale must be finite, got nan
  %o = "mirage.attention"(%q, %q, %q) <{scale = 0x7FF8000000000000 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 0>}> : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  func.return
}

// -----

func.func @rms_norm_eps(%x: tensor<4x32xf32>, %w: tensor<32xf32>) {
  // CHECK: 'mirage.rms_norm' op eps must be finite and > 0, got 0.0
  %y = mirage.rms_norm %x, %w eps 0.0 : tensor<4x32xf32>, tensor<32xf32>
  func.return
}

// -----

func.func @rms_norm_rank(%x: tensor<f32>, %w: tensor<1xf32>) {
  // CHECK: 'mirage.rms_norm' op input must have rank >= 1
  %y = mirage.rms_norm %x, %w eps 1.0e-6 : tensor<f32>, tensor<1xf32>
  func.return
}

// -----

func.func @rms_norm_weight_type(%x: tensor<4x32xf32>, %w: tensor<32xbf16>) {
  // CHECK: 'mirage.rms_norm' op weight element type bf16 does not match input element type f32
  %y = mirage.rms_norm %x, %w eps 1.0e-6 : tensor<4x32xf32>, tensor<32xbf16>
  func.return
}

// -----

func.func @layer_norm_weight(%x: tensor<4x32xf32>, %w: tensor<16xf32>) {
  // CHECK: 'mirage.layer_norm' op weight must be a 1-D tensor of 32 elements (one per feature), got shape 16
  %y = mirage.layer_norm %x, %w, %w eps 1.0e-5 : tensor<4x32xf32>, tensor<16xf32>
  func.return
}

// -----

func.func @layer_norm_eps(%x: tensor<4x32xf32>, %w: tensor<32xf32>) {
  // CHECK: 'mirage.layer_norm' op eps must be finite and > 0, got -1e-05
  %y = mirage.layer_norm %x, %w, %w eps -1.0e-5 : tensor<4x32xf32>, tensor<32xf32>
  func.return
}

// -----

func.func @batch_norm_rank(%x: tensor<8xf32>, %c: tensor<8xf32>) {
  // CHECK: 'mirage.batch_norm' op input must have rank >= 2 ([N, C, ...]), got shape 8
  %y, %m, %v = mirage.batch_norm %x, %c, %c, %c, %c eps 1.0e-5 momentum 0.1 : tensor<8xf32>, tensor<8xf32>
  func.return
}

// -----

func.func @batch_norm_channels(%x: tensor<16x8xf32>, %c: tensor<4xf32>) {
  // CHECK: 'mirage.batch_norm' op gamma must be a 1-D tensor of 8 elements (one per channel), got shape 4
  %y, %m, %v = mirage.batch_norm %x, %c, %c, %c, %c eps 1.0e-5 momentum 0.1 : tensor<16x8xf32>, tensor<4xf32>
  func.return
}

// -----

func.func @batch_norm_count(%x: tensor<1x8x1xf32>, %c: tensor<8xf32>) {
  // CHECK: 'mirage.batch_norm' op expected more than 1 value per channel for training statistics, got 1 (input shape 1x8x1)
  %y, %m, %v = mirage.batch_norm %x, %c, %c, %c, %c eps 1.0e-5 momentum 0.1 : tensor<1x8x1xf32>, tensor<8xf32>
  func.return
}

// -----

func.func @batch_norm_eps(%x: tensor<16x8xf32>, %c: tensor<8xf32>) {
  // CHECK: 'mirage.batch_norm' op eps must be finite and > 0, got inf
  %y, %m, %v = "mirage.batch_norm"(%x, %c, %c, %c, %c) <{eps = 0x7FF0000000000000 : f64, momentum = 1.000000e-01 : f64}> : (tensor<16x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<16x8xf32>, tensor<8xf32>, tensor<8xf32>)
  func.return
}

// -----

func.func @batch_norm_momentum(%x: tensor<16x8xf32>, %c: tensor<8xf32>) {
  // CHECK: 'mirage.batch_norm' op momentum must be in [0, 1], got -0.5
  %y, %m, %v = mirage.batch_norm %x, %c, %c, %c, %c eps 1.0e-5 momentum -0.5 : tensor<16x8xf32>, tensor<8xf32>
  func.return
}

// -----

func.func @concat_empty() {
  // CHECK: 'mirage.concat' op expected at least one input
  %c = "mirage.concat"() <{axis = 0 : i64}> : () -> tensor<4xf32>
  func.return
}

// -----

func.func @concat_axis(%a: tensor<4x8xf32>) {
  // CHECK: 'mirage.concat' op axis 2 is out of range for rank 2 (expected -2 <= axis < 2)
  %c = mirage.concat %a, %a axis = 2 : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x16xf32>
  func.return
}

// -----

func.func @concat_rank(%a: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // CHECK: 'mirage.concat' op input #1 rank 1 does not match input #0 rank 2
  %c = mirage.concat %a, %b axis = 1 : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x16xf32>
  func.return
}

// -----

func.func @concat_dims(%a: tensor<16x512xf32>, %b: tensor<8x128xf32>) {
  // CHECK: 'mirage.concat' op input #1 dimension 0 is 8, expected 16 as in the other inputs
  %c = mirage.concat %a, %b axis = 1 : tensor<16x512xf32>, tensor<8x128xf32> -> tensor<16x640xf32>
  func.return
}

// -----

func.func @concat_result(%a: tensor<4x8xf32>) {
  // CHECK: 'mirage.concat' op result shape 4x8 does not match the expected shape 4x16
  %c = mirage.concat %a, %a axis = -1 : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  func.return
}

// -----

func.func @slice_count(%a: tensor<16x8xf32>) {
  // CHECK: 'mirage.slice' op expected 2 offsets (the source rank), got 1
  %s = mirage.slice %a[0] [16] [1] : tensor<16x8xf32> to tensor<16xf32>
  func.return
}

// -----

func.func @slice_negative(%a: tensor<16x8xf32>) {
  // CHECK: 'mirage.slice' op dimension 0: offset (-1) and size (4) must be >= 0
  %s = mirage.slice %a[-1, 0] [4, 8] [1, 1] : tensor<16x8xf32> to tensor<4x8xf32>
  func.return
}

// -----

func.func @slice_stride(%a: tensor<16x8xf32>) {
  // CHECK: 'mirage.slice' op dimension 1: stride must be >= 1, got 0
  %s = mirage.slice %a[0, 0] [4, 8] [1, 0] : tensor<16x8xf32> to tensor<4x8xf32>
  func.return
}

// -----

func.func @slice_bounds(%a: tensor<16x8xf32>) {
  // CHECK: 'mirage.slice' op dimension 1: the slice reads index 8, past the source extent 8
  %s = mirage.slice %a[0, 4] [16, 3] [1, 2] : tensor<16x8xf32> to tensor<16x3xf32>
  func.return
}

// -----

func.func @slice_result(%a: tensor<16x8xf32>) {
  // CHECK: 'mirage.slice' op result shape 4x4 does not match the expected shape 4x8
  %s = mirage.slice %a[0, 0] [4, 8] [1, 1] : tensor<16x8xf32> to tensor<4x4xf32>
  func.return
}

// -----

func.func @kernel_arity(%a: tensor<4xf32>, %b: tensor<4xf32>) {
  // CHECK: 'mirage.kernel' op body has 1 arguments but the kernel has 2 operands
  %r = mirage.kernel (%a, %b) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    mirage.yield %x : tensor<4xf32>
  }
  func.return
}

// -----

func.func @kernel_argument_type(%a: tensor<4xf32>) {
  // CHECK: 'mirage.kernel' op body argument #0 has type tensor<8xf32>, but operand #0 has type tensor<4xf32>
  %r = mirage.kernel (%a) : (tensor<4xf32>) -> tensor<8xf32> {
  ^bb0(%x: tensor<8xf32>):
    mirage.yield %x : tensor<8xf32>
  }
  func.return
}

// -----

func.func @kernel_no_result(%a: tensor<4xf32>) {
  // CHECK: 'mirage.kernel' op a kernel must have at least one result
  mirage.kernel (%a) : (tensor<4xf32>) -> () {
  ^bb0(%x: tensor<4xf32>):
    mirage.yield
  }
  func.return
}

// -----

func.func @kernel_nested(%a: tensor<4xf32>) {
  // CHECK: 'mirage.kernel' op kernels may not be nested
  %r = mirage.kernel (%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    %i = mirage.kernel (%x) : (tensor<4xf32>) -> tensor<4xf32> {
    ^bb1(%y: tensor<4xf32>):
      mirage.yield %y : tensor<4xf32>
    }
    mirage.yield %i : tensor<4xf32>
  }
  func.return
}

// -----

func.func private @external(tensor<4xf32>) -> tensor<4xf32>

func.func @kernel_foreign_op(%a: tensor<4xf32>) {
  // CHECK: 'mirage.kernel' op 'func.call' may not appear in a kernel body (allowed dialects: arith, linalg, math, mirage, tensor)
  %r = mirage.kernel (%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    %c = func.call @external(%x) : (tensor<4xf32>) -> tensor<4xf32>
    mirage.yield %c : tensor<4xf32>
  }
  func.return
}

// -----

func.func @kernel_yield_types(%a: tensor<4xf32>) {
  // CHECK: 'mirage.kernel' op yielded types (tensor<4xf32>) do not match the result types (tensor<4xf16>)
  %r = mirage.kernel (%a) : (tensor<4xf32>) -> tensor<4xf16> {
  ^bb0(%x: tensor<4xf32>):
    mirage.yield %x : tensor<4xf32>
  }
  func.return
}

// -----

func.func @kernel_terminator(%a: tensor<4xf32>) {
  // CHECK: 'mirage.softmax' op Operation mirage.softmax terminates block in single-block region but is not a terminator
  %r = mirage.kernel (%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    %s = mirage.softmax %x axis = 0 : tensor<4xf32>
  }
  func.return
}

// -----

func.func @kernel_isolated(%a: tensor<4xf32>, %b: tensor<4xf32>) {
  // CHECK: 'mirage.kernel' op Operation using value defined out of its IsolatedFromAbove parent
  %r = mirage.kernel (%a) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x: tensor<4xf32>):
    %s = mirage.softmax %b axis = 0 : tensor<4xf32>
    mirage.yield %s : tensor<4xf32>
  }
  func.return
}

// -----

func.func @yield_parent(%a: tensor<4xf32>) {
  // CHECK: 'mirage.yield' op 'mirage.yield' expects parent op 'mirage.kernel'
  mirage.yield %a : tensor<4xf32>
}
