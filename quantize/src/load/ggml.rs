//! Dequantization of ggml tensor types (F32, F16, BF16, Q8_0, Q4_0, Q4_1).
//!
//! The arithmetic follows ggml's reference C dequantizers (`dequantize_row_*`): every value
//! is computed in f32 as `(float)q * d` (plus `m` for Q4_1). The product of a 4- or 8-bit
//! integer and an f16 scale is exact in f32, so only the final addition rounds and the
//! result is bit-identical to ggml's whether or not a compiler fuses the two operations.

use std::fmt;
use std::path::Path;

use half::f16;
use rayon::prelude::*;

use crate::error::LoadError;

/// Elements per block of the 32-element block formats (Q4_0, Q4_1, Q8_0).
pub const QK: usize = 32;

/// Tensors with fewer elements than this are dequantized on the calling thread.
const PAR_THRESHOLD: usize = 1 << 16;

/// Defines [`GgmlType`] from one table of (variant, id, name, block elements, block bytes).
macro_rules! ggml_types {
    ($($(#[$doc:meta])* $v:ident = $id:literal, $name:literal, $blk:literal, $size:literal;)*) => {
        /// A ggml tensor type as GGUF files number it (`enum ggml_type`).
        ///
        /// Every type ggml currently defines is listed so that the byte size of any tensor
        /// can be checked; only [`GgmlType::is_supported`] types can be dequantized.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum GgmlType {
            $($(#[$doc])* $v,)*
        }

        impl GgmlType {
            /// The type with ggml id `id`, `None` for ids ggml does not (or no longer) define.
            pub fn from_id(id: u32) -> Option<Self> {
                match id {
                    $($id => Some(GgmlType::$v),)*
                    _ => None,
                }
            }
            /// The ggml id.
            pub fn id(self) -> u32 {
                match self { $(GgmlType::$v => $id,)* }
            }
            /// The ggml name, e.g. `"Q4_1"`.
            pub fn name(self) -> &'static str {
                match self { $(GgmlType::$v => $name,)* }
            }
            /// Elements per block (1 for the plain float and integer types).
            pub fn block_elems(self) -> usize {
                match self { $(GgmlType::$v => $blk,)* }
            }
            /// Bytes per block.
            pub fn block_bytes(self) -> usize {
                match self { $(GgmlType::$v => $size,)* }
            }
        }
    };
}

ggml_types! {
    /// IEEE binary32.
    F32 = 0, "F32", 1, 4;
    /// IEEE binary16.
    F16 = 1, "F16", 1, 2;
    /// 32 values: f16 scale, 16 bytes of 4-bit quants offset by 8.
    Q4_0 = 2, "Q4_0", 32, 18;
    /// 32 values: f16 scale, f16 minimum, 16 bytes of 4-bit quants.
    Q4_1 = 3, "Q4_1", 32, 20;
    /// 32 values with 5-bit quants and a scale.
    Q5_0 = 6, "Q5_0", 32, 22;
    /// 32 values with 5-bit quants, a scale and a minimum.
    Q5_1 = 7, "Q5_1", 32, 24;
    /// 32 values: f16 scale, 32 signed 8-bit quants.
    Q8_0 = 8, "Q8_0", 32, 34;
    /// 32 values with 8-bit quants, a scale and a sum.
    Q8_1 = 9, "Q8_1", 32, 36;
    /// k-quant super-block of 256 values, 2 bits.
    Q2_K = 10, "Q2_K", 256, 84;
    /// k-quant super-block of 256 values, 3 bits.
    Q3_K = 11, "Q3_K", 256, 110;
    /// k-quant super-block of 256 values, 4 bits.
    Q4_K = 12, "Q4_K", 256, 144;
    /// k-quant super-block of 256 values, 5 bits.
    Q5_K = 13, "Q5_K", 256, 176;
    /// k-quant super-block of 256 values, 6 bits.
    Q6_K = 14, "Q6_K", 256, 210;
    /// k-quant super-block of 256 values, 8 bits.
    Q8_K = 15, "Q8_K", 256, 292;
    /// i-quant, 2.06 bits per weight.
    IQ2_XXS = 16, "IQ2_XXS", 256, 66;
    /// i-quant, 2.31 bits per weight.
    IQ2_XS = 17, "IQ2_XS", 256, 74;
    /// i-quant, 3.06 bits per weight.
    IQ3_XXS = 18, "IQ3_XXS", 256, 98;
    /// i-quant, 1.56 bits per weight.
    IQ1_S = 19, "IQ1_S", 256, 50;
    /// Non-linear 4-bit quants in blocks of 32.
    IQ4_NL = 20, "IQ4_NL", 32, 18;
    /// i-quant, 3.44 bits per weight.
    IQ3_S = 21, "IQ3_S", 256, 110;
    /// i-quant, 2.5 bits per weight.
    IQ2_S = 22, "IQ2_S", 256, 82;
    /// Non-linear 4-bit quants in super-blocks of 256.
    IQ4_XS = 23, "IQ4_XS", 256, 136;
    /// Signed 8-bit integer.
    I8 = 24, "I8", 1, 1;
    /// Signed 16-bit integer.
    I16 = 25, "I16", 1, 2;
    /// Signed 32-bit integer.
    I32 = 26, "I32", 1, 4;
    /// Signed 64-bit integer.
    I64 = 27, "I64", 1, 8;
    /// IEEE binary64.
    F64 = 28, "F64", 1, 8;
    /// i-quant, 1.75 bits per weight.
    IQ1_M = 29, "IQ1_M", 256, 56;
    /// bfloat16.
    BF16 = 30, "BF16", 1, 2;
    /// Ternary quants, 1.69 bits per weight.
    TQ1_0 = 34, "TQ1_0", 256, 54;
    /// Ternary quants, 2.06 bits per weight.
    TQ2_0 = 35, "TQ2_0", 256, 66;
    /// Microscaling FP4 in blocks of 32.
    MXFP4 = 39, "MXFP4", 32, 17;
}

impl GgmlType {
    /// Whether [`dequantize`] reads this type.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 | GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0
        )
    }

    /// Bytes taken by `n_elements` values; `None` when `n_elements` is not a whole number of
    /// blocks or the size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let blk = self.block_elems() as u64;
        if !n_elements.is_multiple_of(blk) {
            return None;
        }
        (n_elements / blk).checked_mul(self.block_bytes() as u64)
    }

    /// The description of a ggml type id for messages: `"Q5_K (type 13)"`, or
    /// `"unknown (type 99)"` for an id ggml does not define.
    pub fn describe_id(id: u32) -> String {
        match GgmlType::from_id(id) {
            Some(t) => t.to_string(),
            None => format!("unknown (type {id})"),
        }
    }
}

impl fmt::Display for GgmlType {
    /// Writes the name and the id, e.g. `Q4_1 (type 3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (type {})", self.name(), self.id())
    }
}

/// Dequantizes `data`, the bytes of `n_elements` values of type `ty`, to f32 in storage
/// order. `path` and `tensor` name the source in errors: an unsupported type gives
/// [`LoadError::UnsupportedDtype`], a byte count other than `n_elements` implies gives
/// [`LoadError::Tensor`].
pub fn dequantize(
    path: &Path,
    tensor: &str,
    ty: GgmlType,
    data: &[u8],
    n_elements: usize,
) -> Result<Vec<f32>, LoadError> {
    if !ty.is_supported() {
        return Err(LoadError::UnsupportedDtype {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            dtype: ty.to_string(),
        });
    }
    let expected = ty.bytes_for(n_elements as u64).ok_or_else(|| {
        LoadError::tensor(
            path,
            tensor,
            format!("{n_elements} elements are not a whole number of {ty} blocks of {}", ty.block_elems()),
        )
    })?;
    if expected != data.len() as u64 {
        return Err(LoadError::tensor(
            path,
            tensor,
            format!("{n_elements} {ty} elements need {expected} bytes, got {}", data.len()),
        ));
    }
    let mut out = vec![0f32; n_elements];
    let blk = ty.block_elems();
    let bytes = ty.block_bytes();
    let kernel: fn(&[u8], &mut [f32]) = match ty {
        GgmlType::F32 => f32_block,
        GgmlType::F16 => f16_block,
        GgmlType::BF16 => bf16_block,
        GgmlType::Q4_0 => q4_0_block,
        GgmlType::Q4_1 => q4_1_block,
        _ => q8_0_block,
    };
    // Scalar types run in chunks of many elements; the kernels loop over whole blocks.
    let per_chunk = if blk == 1 { 4096 } else { 64 };
    if n_elements >= PAR_THRESHOLD {
        out.par_chunks_mut(blk * per_chunk)
            .zip(data.par_chunks(bytes * per_chunk))
            .for_each(|(o, d)| blocks(kernel, blk, bytes, d, o));
    } else {
        blocks(kernel, blk, bytes, data, &mut out);
    }
    Ok(out)
}

/// Runs `kernel` over each block of `data` (whole blocks, sizes checked by the caller).
fn blocks(kernel: fn(&[u8], &mut [f32]), blk: usize, bytes: usize, data: &[u8], out: &mut [f32]) {
    for (d, o) in data.chunks_exact(bytes).zip(out.chunks_exact_mut(blk)) {
        kernel(d, o);
    }
}

/// Reads the little-endian f16 at `b[i..i + 2]` as f32 (0 if out of range, which the
/// callers' block sizes rule out).
fn f16_at(b: &[u8], i: usize) -> f32 {
    match b.get(i..i + 2) {
        Some(&[lo, hi]) => f16::from_bits(u16::from_le_bytes([lo, hi])).to_f32(),
        _ => 0.0,
    }
}

fn f32_block(b: &[u8], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(b.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

fn f16_block(b: &[u8], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
    }
}

fn bf16_block(b: &[u8], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16);
    }
}

/// `block_q4_0 { f16 d; u8 qs[16]; }`: `x[j] = (lo(qs[j]) - 8)·d`, `x[j+16] = (hi(qs[j]) - 8)·d`.
fn q4_0_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let (lo, hi) = out.split_at_mut(QK / 2);
    for ((q, x0), x1) in b.iter().skip(2).zip(lo).zip(hi) {
        *x0 = (i32::from(q & 0x0F) - 8) as f32 * d;
        *x1 = (i32::from(q >> 4) - 8) as f32 * d;
    }
}

/// `block_q4_1 { f16 d; f16 m; u8 qs[16]; }`: `x[j] = lo(qs[j])·d + m`, `x[j+16] = hi(qs[j])·d + m`.
fn q4_1_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let (lo, hi) = out.split_at_mut(QK / 2);
    for ((q, x0), x1) in b.iter().skip(4).zip(lo).zip(hi) {
        *x0 = f32::from(q & 0x0F) * d + m;
        *x1 = f32::from(q >> 4) * d + m;
    }
}

/// `block_q8_0 { f16 d; i8 qs[32]; }`: `x[j] = qs[j]·d`.
fn q8_0_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (q, x) in b.iter().skip(2).zip(out) {
        *x = f32::from(*q as i8) * d;
    }
}
