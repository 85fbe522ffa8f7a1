//! How far a table folds to fit a circuit, and the slot polynomials of a folded lookup.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::Expression;

/// Most output columns a table row holds (keeps the `fold` gate at degree 5).
pub const MAX_FOLD: usize = 4;

/// Rows a circuit keeps free below a table: halo2's blinding rows and the zero row that
/// disabled lookups read.
pub const TABLE_SPARE_ROWS: usize = 16;

/// The least fold (1, 2 or 4) that fits a table of `len` points into `2^k` rows; 4 when
/// nothing fits (synthesis then fails for want of rows).
pub fn fold_for(len: usize, k: u32) -> usize {
    let cap = (1usize << k).saturating_sub(TABLE_SPARE_ROWS);
    [1, 2, 4].into_iter().find(|&f| len.is_multiple_of(f) && len / f <= cap).unwrap_or(MAX_FOLD)
}

/// The smallest `k` at which a table of `len` points fits folded as far as possible.
pub fn min_k_for(len: usize) -> u32 {
    let mut k = 1;
    while (1usize << k) < len.div_ceil(MAX_FOLD) + TABLE_SPARE_ROWS {
        k += 1;
    }
    k
}

/// `∏_{v < fold} (s − v)`: zero exactly on the slots.
pub(super) fn vanishing(s: &Expression<Fr>, fold: usize) -> Expression<Fr> {
    (0..fold)
        .map(|v| s.clone() - Expression::Constant(Fr::from(v as u64)))
        .reduce(|a, b| a * b)
        .unwrap_or(Expression::Constant(Fr::ONE))
}

/// `Σᵥ Lᵥ(s)·outs[v]` with `Lᵥ` the Lagrange basis on `0 … outs.len() − 1`: `outs[s]` at
/// every slot.
pub(super) fn select(s: &Expression<Fr>, outs: &[Expression<Fr>]) -> Expression<Fr> {
    let n = outs.len() as u64;
    let mut sum = Expression::Constant(Fr::ZERO);
    for (v, out) in (0..n).zip(outs) {
        let mut basis = out.clone();
        let mut denom = Fr::ONE;
        for u in (0..n).filter(|&u| u != v) {
            basis = basis * (s.clone() - Expression::Constant(Fr::from(u)));
            denom *= Fr::from(v) - Fr::from(u);
        }
        let inv = Option::<Fr>::from(denom.invert()).unwrap_or(Fr::ZERO);
        sum = sum + basis * Expression::Constant(inv);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_the_least_that_fit() {
        assert_eq!(fold_for(1 << 16, 17), 1);
        assert_eq!(fold_for(1 << 16, 16), 2);
        assert_eq!(fold_for(1 << 16, 15), 4);
        assert_eq!(fold_for(1 << 15, 15), 2);
        assert_eq!(fold_for(1 << 15, 16), 1);
        assert_eq!(fold_for(1 << 16, 14), MAX_FOLD);
        assert_eq!(min_k_for(1 << 16), 15);
        assert_eq!(min_k_for(1 << 15), 14);
        assert_eq!(min_k_for(511), 8);
    }
}
