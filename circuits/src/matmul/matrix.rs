//! The fixed integer weight matrix a matmul chip binds into the verifying key.

use std::sync::Arc;

use zkinfer_quantize::qmodel::QLinear;

use super::MatmulError;

/// Largest weight magnitude accepted: `2^40`. With inputs below `2^31` and at most `2^20`
/// columns, every accumulator stays below `2^91`, far from the field modulus (`≈ 2^254`),
/// so a field equality is an integer equality.
pub const MAX_WEIGHT: i64 = 1 << 40;

/// A `rows × cols` integer matrix, row-major: `W[j][i]` weighs input `i` in output `j`.
/// Cloning shares the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedMatrix {
    rows: usize,
    cols: usize,
    values: Arc<[i64]>,
}

impl FixedMatrix {
    /// A matrix from row-major values.
    pub fn new(rows: usize, cols: usize, values: Vec<i64>) -> Result<Self, MatmulError> {
        if rows == 0 || cols == 0 {
            return Err(MatmulError::EmptyMatrix { rows, cols });
        }
        if values.len() != rows * cols {
            return Err(MatmulError::WeightCount { expected: rows * cols, got: values.len() });
        }
        if let Some(at) = values.iter().position(|w| w.unsigned_abs() > MAX_WEIGHT as u64) {
            return Err(MatmulError::WeightTooLarge { row: at / cols, col: at % cols, value: values[at] });
        }
        Ok(FixedMatrix { rows, cols, values: values.into() })
    }

    /// The effective integer weights `w_ji · c_jg` of a quantized linear layer (each below
    /// `2^23` in magnitude).
    pub fn from_qlinear(l: &QLinear) -> Result<Self, MatmulError> {
        let values = (0..l.rows).flat_map(|j| l.effective_row(j)).map(i64::from).collect();
        FixedMatrix::new(l.rows, l.cols, values)
    }

    /// Output rows `n`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input columns `d`.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `W[j][i]`, or 0 past the last row (the padding of the last weight block).
    pub fn get(&self, j: usize, i: usize) -> i64 {
        if j < self.rows {
            self.values[j * self.cols + i]
        } else {
            0
        }
    }

    /// The exact accumulators `y[t][j] = Σ_i W[j][i] · x[t][i]` for `x: [tokens, cols]`
    /// (token-major, as `zkinfer_quantize::int::ops::linear` takes it); returns
    /// `[tokens, rows]`.
    pub fn accumulators(&self, x: &[i64]) -> Result<Vec<i128>, MatmulError> {
        if !x.len().is_multiple_of(self.cols) {
            return Err(MatmulError::InputCount { cols: self.cols, got: x.len() });
        }
        Ok(x.chunks_exact(self.cols)
            .flat_map(|xt| {
                self.values
                    .chunks_exact(self.cols)
                    .map(move |wr| wr.iter().zip(xt).map(|(&w, &v)| w as i128 * v as i128).sum::<i128>())
            })
            .collect())
    }
}
