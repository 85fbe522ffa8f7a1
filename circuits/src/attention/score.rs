//! One attention score: the dot product `Σ_d q_d·k_d` over [`SCORE_LANES`] products per
//! row, times the layer's score multiplier, then the score rescale
//! `score = rescale(dot·mult, score_shift, score.bits)`.
//!
//! # Layout
//!
//! A score of head width `D` uses `R_d = D / SCORE_LANES` dot rows and the rescale's rows
//! side by side from its offset `o`: [`ScoreSite::rows`]` = max(R_d, rescale rows)`. The
//! running sum is accumulated bottom-up, so its total sits on the first row next to the
//! rescale input:
//!
//! | row | `q0 … q7` | `k0 … k7` | `acc` | `mult` (fixed) | selectors | rescale chip |
//! |---|---|---|---|---|---|---|
//! | `o + r` (`r < R_d − 1`) | `q[8r … 8r+7]` | `k[8r … 8r+7]` | `acc_r = acc_{r+1} + Σ_i q_i·k_i` | | `q_more` | |
//! | `o + R_d − 1` | last 8 of `q` | last 8 of `k` | `acc = Σ_i q_i·k_i` | | `q_last` | |
//! | `o` | | | `acc_0 = dot` | `mult` | `q_scale` | `x = dot·mult` → `y = score` |
//!
//! Gates, every constraint of degree ≤ 3:
//!
//! | gate (selector) | constraint | equation |
//! |---|---|---|
//! | `attention dot` (`q_more`) | `acc = acc_next + sum(q*k)` | `acc − acc[next] − Σ_i q_i·k_i = 0` |
//! | `attention dot` (`q_last`) | `last: acc = sum(q*k)` | `acc − Σ_i q_i·k_i = 0` |
//! | `attention score` (`q_scale`) | `x = acc*mult` | `x − acc·mult = 0` |
//!
//! The `q` and `k` cells are copies of the caller's cells (equality on the 16 lane
//! columns). Trust boundary: the chip does not range-check `q` and `k`; their producers
//! (the RoPE rescales) bound them to `q_bits` and `k_bits` signed bits, which keeps every
//! running sum an integer of magnitude below `2^(x_bits − 1)` ([`ScoreSite::new`]), far from
//! the field modulus. The rescale itself is sound for any field element `x`.
//!
//! Cost per score: `2D + R_d` advice cells for the dot product plus the rescale's
//! `4 + R(n) + R(bits) + R(x_bits − n)`.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::int::ops::AttnShape;

use crate::failure::{check, check_length, internal, too_wide, unsupported, Chip, Problem};
use crate::field::{i128_to_fr, AssignedFr};
use crate::pool::ColumnPool;
use crate::range::{RangeLayout, RangeTableConfig};
use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};
use crate::softmax::SCORE_BITS;

/// Products per dot-product row.
pub const SCORE_LANES: usize = 4;

/// The constants of a layer's scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreSite {
    /// `D`, a multiple of [`SCORE_LANES`].
    pub head_dim: usize,
    /// The score multiplier `M_att`.
    pub mult: i64,
    /// The score rescale: shift `score_shift`, output `score.bits`, input
    /// `q_bits + k_bits − 1 + ⌈log2 D⌉ + bits(|mult|)` wide.
    pub rescale: RescaleSite,
}

/// Bits needed to hold `v`: the smallest `b` with `v < 2^b`.
fn bit_len(v: u128) -> u32 {
    u128::BITS - v.leading_zeros()
}

impl ScoreSite {
    /// The site of `shape`'s scores over `q_bits`/`k_bits`-bit signed inputs, or
    /// `Error::Synthesis` when `D` is zero or not a multiple of [`SCORE_LANES`], the score
    /// is wider than [`SCORE_BITS`], or the input width exceeds the rescale chip's reach.
    pub fn new(shape: &AttnShape, q_bits: u32, k_bits: u32) -> Result<Self, Error> {
        let d = shape.head_dim;
        if d == 0 || !d.is_multiple_of(SCORE_LANES) {
            let why = format!("head dimension {d} (a positive multiple of {SCORE_LANES} is needed)");
            return Err(unsupported(Chip::AttentionScore, why));
        }
        if shape.score.bits > SCORE_BITS {
            return Err(too_wide(Chip::AttentionScore, "score", shape.score.bits, SCORE_BITS));
        }
        if q_bits == 0 || k_bits == 0 || q_bits > 64 || k_bits > 64 {
            let why = format!("queries of {q_bits} bits and keys of {k_bits} bits (1 to 64 are supported)");
            return Err(unsupported(Chip::AttentionScore, why));
        }
        // |q·k| ≤ 2^(q_bits + k_bits − 2), D of them at most 2^⌈log2 D⌉ times that, and
        // |mult| < 2^bits(|mult|): |x| < 2^(x_bits − 1).
        let log_d = bit_len(d as u128 - 1);
        let x_bits = q_bits + k_bits - 1 + log_d + bit_len(u128::from(shape.score_mult.unsigned_abs()));
        let rescale = RescaleSite::new(shape.score_shift, shape.score.bits, x_bits)?;
        Ok(ScoreSite { head_dim: d, mult: shape.score_mult, rescale })
    }

    /// Rows of the dot product.
    pub fn dot_rows(&self) -> usize {
        self.head_dim / SCORE_LANES
    }

    /// Rows one score uses in the range layout `layout`.
    pub fn rows(&self, layout: RangeLayout) -> usize {
        self.dot_rows().max(self.rescale.rows(layout))
    }
}

/// Every witness value of one score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreWitness {
    /// The query row (`D` values).
    pub q: Vec<i128>,
    /// The key row (`D` values).
    pub k: Vec<i128>,
    /// The claimed dot product: the first row's running sum (the rows below hold the
    /// honest partial sums of `q` and `k`).
    pub dot: i128,
    /// The rescale of `dot·mult`.
    pub rescale: RescaleWitness,
}

impl ScoreWitness {
    /// The honest witness, or `None` when `q` or `k` has the wrong length or `dot·mult`
    /// leaves the site's input range.
    pub fn new(q: &[i128], k: &[i128], site: &ScoreSite) -> Option<Self> {
        if q.len() != site.head_dim || k.len() != site.head_dim {
            return None;
        }
        let dot = q.iter().zip(k).try_fold(0i128, |acc, (&a, &b)| acc.checked_add(a.checked_mul(b)?))?;
        let x = dot.checked_mul(i128::from(site.mult)).filter(|&x| site.rescale.accepts(x))?;
        Some(ScoreWitness {
            q: q.to_vec(),
            k: k.to_vec(),
            dot,
            rescale: RescaleWitness::new(x, &site.rescale),
        })
    }

    /// The score.
    pub fn score(&self) -> i128 {
        self.rescale.y
    }

    /// The running sums `acc_0 … acc_{R_d−1}` the rows hold (`acc_0` is the claimed `dot`).
    fn running_sums(&self) -> Vec<i128> {
        let rows: Vec<i128> = self
            .q
            .chunks(SCORE_LANES)
            .zip(self.k.chunks(SCORE_LANES))
            .map(|(q, k)| q.iter().zip(k).map(|(&a, &b)| a.wrapping_mul(b)).fold(0i128, i128::wrapping_add))
            .collect();
        let mut acc = vec![0i128; rows.len()];
        let mut total = 0i128;
        for (r, s) in rows.iter().enumerate().rev() {
            total = total.wrapping_add(*s);
            acc[r] = total;
        }
        if let Some(first) = acc.first_mut() {
            *first = self.dot;
        }
        acc
    }
}

/// Columns, selectors and gates of a score (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct ScoreConfig {
    /// Query lanes (equality enabled).
    pub q: [Column<Advice>; SCORE_LANES],
    /// Key lanes (equality enabled).
    pub k: [Column<Advice>; SCORE_LANES],
    /// The running sum.
    pub acc: Column<Advice>,
    /// The score multiplier, on a score's first row.
    pub mult: Column<Fixed>,
    /// Enables `acc = acc_next + Σ q·k`.
    pub q_more: Selector,
    /// Enables `acc = Σ q·k` on a dot product's last row.
    pub q_last: Selector,
    /// Enables `x = acc·mult`.
    pub q_scale: Selector,
    /// The score rescale.
    pub rescale: RescaleConfig,
}

impl ScoreConfig {
    /// Declares the score columns, gates and rescale over the shared range table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, range_table: RangeTableConfig) -> Self {
        Self::configure_in(meta, &mut ColumnPool::fresh(), range_table)
    }

    /// [`Self::configure`] with the advice and range-check columns drawn from `pool`.
    pub fn configure_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        range_table: RangeTableConfig,
    ) -> Self {
        let q: [Column<Advice>; SCORE_LANES] = pool.advice_array(meta, true);
        let k: [Column<Advice>; SCORE_LANES] = pool.advice_array(meta, true);
        let acc = pool.advice(meta, false);
        let mult = meta.fixed_column();
        let (q_more, q_last, q_scale) = (meta.selector(), meta.selector(), meta.selector());
        let rescale = RescaleConfig::configure_in(meta, pool, range_table);

        meta.create_gate("attention dot", |meta| {
            let more = meta.query_selector(q_more);
            let last = meta.query_selector(q_last);
            let sum = (0..SCORE_LANES)
                .map(|i| meta.query_advice(q[i], Rotation::cur()) * meta.query_advice(k[i], Rotation::cur()))
                .fold(Expression::Constant(Fr::ZERO), |a, b| a + b);
            let cur = meta.query_advice(acc, Rotation::cur());
            let next = meta.query_advice(acc, Rotation::next());
            vec![
                ("acc = acc_next + sum(q*k)", more * (cur.clone() - next - sum.clone())),
                ("last: acc = sum(q*k)", last * (cur - sum)),
            ]
        });
        meta.create_gate("attention score", |meta| {
            let s = meta.query_selector(q_scale);
            let x = meta.query_advice(rescale.x, Rotation::cur());
            let acc = meta.query_advice(acc, Rotation::cur());
            let mult = meta.query_fixed(mult, Rotation::cur());
            vec![("x = acc*mult", s * (x - acc * mult))]
        });

        ScoreConfig { q, k, acc, mult, q_more, q_last, q_scale, rescale }
    }
}

/// Assigns scores.
#[derive(Clone, Copy, Debug)]
pub struct ScoreChip {
    config: ScoreConfig,
}

impl ScoreChip {
    /// A chip over `config`.
    pub fn construct(config: ScoreConfig) -> Self {
        ScoreChip { config }
    }

    /// Assigns one score from a (possibly dishonest) witness at rows
    /// `offset .. offset + site.rows()`, constraining its lanes equal to the caller's `q`
    /// and `k` cells; returns the score cell.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        site: &ScoreSite,
        q: &[AssignedFr<'_>],
        k: &[AssignedFr<'_>],
        w: Value<&ScoreWitness>,
    ) -> Result<AssignedFr<'v>, Error> {
        let d = site.head_dim;
        if d == 0 || !d.is_multiple_of(SCORE_LANES) {
            return Err(internal(
                Chip::AttentionScore,
                "a site whose head dimension is not a multiple of the lanes",
            ));
        }
        check_length(Chip::AttentionScore, "query", d, q.len())?;
        check_length(Chip::AttentionScore, "key", d, k.len())?;
        check(&w, Chip::AttentionScore, |w| {
            Problem::length("witness's query", d, w.q.len())
                .or_else(|| Problem::length("witness's key", d, w.k.len()))
        })?;
        let cfg = &self.config;
        let acc = w.map(ScoreWitness::running_sums);
        let rows = site.dot_rows();
        for r in 0..rows {
            let row = offset + r;
            if r + 1 == rows {
                cfg.q_last.enable(region, row)?;
            } else {
                cfg.q_more.enable(region, row)?;
            }
            for i in 0..SCORE_LANES {
                let idx = r * SCORE_LANES + i;
                let qc = region.assign_advice(cfg.q[i], row, w.map(|w| i128_to_fr(w.q[idx])));
                region.constrain_equal(q[idx].cell(), qc.cell());
                let kc = region.assign_advice(cfg.k[i], row, w.map(|w| i128_to_fr(w.k[idx])));
                region.constrain_equal(k[idx].cell(), kc.cell());
            }
            region.assign_advice(cfg.acc, row, acc.as_ref().map(|a| i128_to_fr(a[r])));
        }
        cfg.q_scale.enable(region, offset)?;
        region.assign_fixed(cfg.mult, offset, i128_to_fr(i128::from(site.mult)));
        let cells = RescaleChip::construct(cfg.rescale).assign_witness(
            region,
            offset,
            &site.rescale,
            w.map(|w| w.rescale),
        )?;
        Ok(cells.y)
    }
}
