//! The INSECURE dev SRS computed by fixed-base multiplication: the same points as
//! `ParamsKZG::setup` with the same `τ`, several times faster.
//!
//! `ParamsKZG::setup` makes each of its `2^(k+1)` points by a variable-base scalar
//! multiplication (254 doublings and about 127 additions). Every point of an SRS is a
//! multiple of the one generator `G`, so here a table of `j·256^w·G` (32 byte windows × 256
//! entries, 8,192 affine points) turns each multiplication into at most 32 mixed additions:
//!
//! - powers: `[τ^i]G` for `i < 2^k`, the scalars `τ^i` by field multiplications;
//! - Lagrange basis: `[L_i(τ)]G` with `L_i(τ) = (τ^n − 1)/n · ω^i / (τ − ω^i)`, the
//!   inverses by batch inversion;
//! - `G2` and `[τ]G2` as halo2 has them.
//!
//! Points are unique, so the result is byte for byte `ParamsKZG::setup`'s (tested).

use halo2_proofs::arithmetic::parallelize;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine, G2Affine, G1, G2};
use halo2_proofs::halo2curves::ff::{BatchInvert, Field, PrimeField};
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::group::{Curve, Group};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Byte windows of `G1`'s generator: `windows[w][j] = j·256^w·G`.
struct FixedBase {
    windows: Vec<Vec<G1Affine>>,
}

impl FixedBase {
    fn generator() -> Self {
        let mut base = G1::generator();
        let windows = (0..32)
            .map(|_| {
                let mut row = Vec::with_capacity(256);
                let mut acc = G1::identity();
                for _ in 0..256 {
                    row.push(acc);
                    acc += base;
                }
                base = acc;
                let mut affine = vec![G1Affine::identity(); 256];
                G1::batch_normalize(&row, &mut affine);
                affine
            })
            .collect();
        FixedBase { windows }
    }

    /// `s·G`.
    fn mul(&self, s: &Fr) -> G1 {
        let repr = s.to_repr();
        let mut acc = G1::identity();
        for (row, &byte) in self.windows.iter().zip(repr.as_ref()) {
            if byte != 0 {
                acc += row[usize::from(byte)];
            }
        }
        acc
    }

    /// `s·G` for every scalar, in affine form.
    fn mul_all(&self, scalars: &[Fr]) -> Vec<G1Affine> {
        let mut out = vec![G1Affine::identity(); scalars.len()];
        parallelize(&mut out, |chunk, start| {
            let projective: Vec<G1> =
                scalars[start..start + chunk.len()].iter().map(|s| self.mul(s)).collect();
            G1::batch_normalize(&projective, chunk);
        });
        out
    }
}

/// `τ^i` for `i < n`.
fn powers(tau: Fr, n: usize) -> Vec<Fr> {
    let mut out = vec![Fr::ZERO; n];
    parallelize(&mut out, |chunk, start| {
        let mut p = tau.pow_vartime([start as u64]);
        for x in chunk.iter_mut() {
            *x = p;
            p *= tau;
        }
    });
    out
}

/// `L_i(τ)` for the `n = 2^k` Lagrange polynomials over the `n`-th roots of unity.
fn lagrange_at(tau: Fr, k: u32) -> Vec<Fr> {
    let n = 1usize << k;
    let mut omega = Fr::ROOT_OF_UNITY;
    for _ in k..Fr::S {
        omega = omega.square();
    }
    let roots = powers(omega, n);
    let n_inv = Fr::from(n as u64).invert().unwrap_or(Fr::ZERO);
    let multiplier = (tau.pow_vartime([n as u64]) - Fr::ONE) * n_inv;
    let mut out: Vec<Fr> = roots.iter().map(|&w| tau - w).collect();
    parallelize(&mut out, |chunk, start| {
        chunk.iter_mut().batch_invert();
        for (x, &w) in chunk.iter_mut().zip(&roots[start..]) {
            *x *= multiplier * w;
        }
    });
    out
}

/// The KZG params `ParamsKZG::setup(k, rng)` makes: `τ` is the first field element drawn
/// from `rng`. `τ` must not be an `n`-th root of unity (probability `2^k / r`; the dev
/// seed's is not).
pub fn setup(k: u32, rng: impl RngCore) -> ParamsKZG<Bn256> {
    let tau = Fr::random(rng);
    let table = FixedBase::generator();
    let g = table.mul_all(&powers(tau, 1 << k));
    let g_lagrange = table.mul_all(&lagrange_at(tau, k));
    let g2 = G2Affine::generator();
    let s_g2 = (G2::from(g2) * tau).to_affine();
    // `from_parts` only assembles the given points; the receiver is a 2-point setup.
    ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed([0; 32])).from_parts(k, g, Some(g_lagrange), g2, s_g2)
}

#[cfg(test)]
mod tests {
    use halo2_proofs::poly::commitment::Params;

    use super::*;

    #[test]
    fn the_same_points_as_halo2s_setup() {
        for k in [1, 4, 9] {
            let rng = || ChaCha20Rng::from_seed([k as u8; 32]);
            let (mut ours, mut theirs) = (vec![], vec![]);
            setup(k, rng()).write(&mut ours).expect("write");
            ParamsKZG::<Bn256>::setup(k, rng()).write(&mut theirs).expect("write");
            assert!(ours == theirs, "k = {k}: the params differ");
        }
    }
}
