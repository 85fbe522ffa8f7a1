//! halo2 chips (KZG over BN254, halo2-axiom) that constrain the integer model's
//! fixed-point operations exactly as `zkinfer_quantize` computes them.
//!
//! - [`argmax`]: the index and value of the largest logit (lowest index among ties);
//! - [`head`]: the model head (final RMSNorm of the last token, `lm_head`, argmax), in vocabulary slices;
//! - [`block`]: a chunk of a transformer block (attention and/or MLP half) as one circuit;
//! - [`field`]: signed integers as field elements;
//! - [`failure`]: why a chip refused to synthesize (the chip, the value, the bounds);
//! - [`range`]: range checks by byte decomposition;
//! - [`rescale`]: `round_shift` then `saturate`, the rescale of every site;
//! - [`lookup`]: the nonlinearity tables, with SiLU's and exp's out-of-domain branches;
//! - [`norm`]: RMSNorm of a token row, with the rsqrt table and a per-token exponent;
//! - [`rope`]: rotary position embedding with the table's constants in fixed columns;
//! - [`product`]: elementwise products then a rescale, and SwiGLU;
//! - [`residual`]: the saturating residual add;
//! - [`requant`]: a matrix product's accumulator times its row's multiplier, rescaled;
//! - [`matmul`]: fixed-weight matrix products checked with Freivalds' trick;
//! - [`softmax`]: one causal attention row's softmax (max, exp, normalization, recip);
//! - [`attention`]: causal GQA attention: score dot products, softmax rows, head outputs;
//! - [`poseidon`]: the Poseidon commitment to activations that links chunk proofs;
//! - [`pool`]: where chips get their columns: their own, or a set shared by chips stacked in
//!   disjoint rows (with one range lookup per shared range column).
//!
//! halo2-axiom's `SimpleFloorPlanner` places every region at row 0, so chips take an
//! absolute row `offset` and say how many rows they use; the caller keeps the cursor.
//!
//! # Cost per element
//!
//! With `R(b) = ⌈b/8⌉ + 1` (the rows of a `b`-bit range check):
//!
//! | chip | advice columns | rows | assigned advice cells | lookups |
//! |---|---|---|---|---|
//! | range, `b` bits | 1 | `R(b)` | `R(b)` | 1 per column |
//! | rescale (`n`, `bits`, `x_bits`) | 7 | `max(R(n), R(bits), R(x_bits − n))` | `4 + R(n) + R(bits) + R(x_bits − n)` | 3 |
//! | table lookup | 2 | 1 | 2 | 1 |
//! | extended lookup (`x_bits`) | 7 | `R(x_bits)` | `6 + R(x_bits)` | 2 |
//! | softmax, per score | 24 | 6 | 43 | 6 |
//! | softmax, per attention row (tail) | 12 | 4 | 18 | 4 |
//! | softmax head, one value column of `t` terms (24-bit values) | 11 | `max(t, 5)` | `4t + 16` | 3 |
//! | attention score (`D`, rescale `n_s`, `bits`, `x_bits`), `L_s = 4` lanes | `2L_s` + 1 + rescale's 7 | `max(D/L_s, R(n_s), R(bits), R(x_bits − n_s))` | `2D + D/L_s + 4 + R(n_s) + R(bits) + R(x_bits − n_s)` | 3 |
//! | attention head output over `n` keys (`v_bits`), `L_h = 1` per group | 1 + `L_h`·(1 + rescale's 7) | `max(n, R(16), R(v_bits + 2))` per `L_h` outputs | `2n + 3 + R(16) + R(v_bits) + R(v_bits + 2)`, plus `n` per group | 3 |
//! | rmsnorm, per token of `d` (rescale `n`, `bits`, `x_bits + 63`) | 25 (7 of them the rescale's) | `max(d·R_s, 7)`, `R_s` the rescale's rows | `d·(8 + R(n) + R(bits) + R(x_bits + 63 − n)) + 26 + 2·R(⌈log2 d⌉)` | 10 |
//! | RoPE pair (`in_bits`, `bits`), two elements | 2 + rescale's 7 | `2·S` | `4 + 2·C` | 6 |
//! | product (rescale site) | 2 + rescale's 7 | `S` | `2 + C` | 3 |
//! | SwiGLU (`gate_bits`, rescale site) | 2 + 7 + extended's 7 | `max(R(gate_bits), S)` | `8 + R(gate_bits) + C` | 5 |
//! | residual add (`in_bits`, `bits`) | 2 + rescale's 7 | `S` | `2 + C` | 3 |
//! | requant (linear output, site of `requant_site`) | 1 + rescale's 7 | `S` | `1 + C` | 3 |
//! | argmax, per logit (`bits`-bit logits) | 7 | `R(bits)` | `6 + R(bits)` | 1 |
//!
//! where `S` and `C` are the rows and cells of the element's rescale: RoPE's is
//! `(14, bits, in_bits + 16)`, SwiGLU's `(11 + up.frac − mid.frac, mid.bits, gate_bits + up.bits)`
//! and the residual add's `(0, bits, in_bits + 1)`. The chips that feed a rescale write its
//! input `x` by a gate on the same row, so they share the rescale's columns and add no copy.
//!
//! For example a rescale with `n = 20`, `bits = 16`, `x_bits = 64` assigns 18 cells in a
//! 7 × 7 block, and a SiLU of a 32-bit gate value 11 cells in a 7 × 5 block. An RMSNorm
//! row of SmolLM2's `d = 576` (weights at 14 fractional bits, output 10/16, so `n = 51`)
//! assigns `576·26 + 32 = 15,008` cells in 4,608 rows. At 16 bits a
//! RoPE pair takes 32 cells in 8 rows (16 cells and 4 rows per element), a residual add
//! 14 cells in 4 rows, and a SwiGLU element with a 32-bit gate and 16-bit `up` and `mid`
//! 29 cells in 6 rows.
#![deny(missing_docs)]

pub mod argmax;
pub mod attention;
pub mod block;
pub mod cost;
pub mod failure;
pub mod field;
pub mod head;
pub mod lookup;
pub mod matmul;
pub mod norm;
pub mod plan;
pub mod pool;
pub mod poseidon;
mod probe;
pub mod product;
pub mod range;
pub mod requant;
pub mod rescale;
pub mod residual;
pub mod rope;
pub mod softmax;

#[cfg(test)]
mod testing;
