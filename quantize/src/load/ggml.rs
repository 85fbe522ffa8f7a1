//! Dequantization of ggml tensor types (F32, F16, BF16, Q8_0, Q4_0, Q4_1).
