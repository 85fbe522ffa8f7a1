//! One causal attention row's softmax, exactly as `zkinfer_quantize::int::ops::attention`
//! computes it: for scores `s_0 … s_t` (12 fractional bits, signed 32-bit),
//!
//! - `mx = max_j s_j`, `d_j = mx − s_j`, `e_j = exp[min(d_j, 2^16 − 1)]`;
//! - `S = Σ e_j = m·2^k + r_k` with `m ∈ [2^15, 2^16)`, `0 ≤ r_k < 2^k` (`normalize(S, 16, 1)`);
//! - `r = recip[m]` and `p_j = round_shift(e_j·r, 15 + k)` (16 fractional bits).
//!
//! # Relations
//!
//! - max: every `d_j = mx − s_j` is range-checked to `[0, 2^32)` (so `mx ≥ s_j`), and
//!   `Π d_j = 0` by a running product (so `mx` is one of the scores: a field has no zero
//!   divisors);
//! - exp: `(d_j, e_j)` goes through the extended exp lookup, whose `above` branch clamps
//!   `d_j` to `2^16 − 1` (the `below` branch never fires because `d_j ≥ 0`);
//! - sum: a running sum, `sum_prev = 0` on the first score;
//! - normalization: `S = m·2^k + r_k`, `(k, 2^k, 2^(K−k))` is a row of the fixed exponent
//!   table (`1 ≤ k ≤ K`), `r_k` and `slack = 2^k − 1 − r_k` are range-checked to `K` bits
//!   (so `0 ≤ r_k < 2^k`), and `m ∈ [2^15, 2^16)` because `(m, r)` is a row of the recip
//!   table. Those bounds fix `k` and `m` uniquely for an integer `S`, and they are what
//!   `normalize` returns since `S ≥ exp[0] = 2^16`;
//! - probabilities: the shift `15 + k` varies, so `p_j = round_shift(e_j·r·2^(K−k), 15 + K)`
//!   (`round_shift(a, n) = round_shift(a·2^i, n + i)`), a [`RescaleChip`] element with the
//!   fixed site [`PROB_SITE`] on `ep_j = e_j·rp` where `rp = r·2^(K−k)`.
//!
//! `K =` [`NORM_BITS`]` = 24`, so a row's sum must stay below `2^(16+K) = 2^40` (at most
//! `2^24` tokens): a completeness limit, not a soundness one. `e_j·rp ≤ 2^16·2^16·2^23`,
//! so the rescale input fits [`PROB_SITE`]'s 57 bits and no product wraps the field.
//!
//! # Layout
//!
//! Score `j` uses a block of [`BLOCK_ROWS`]` = 6` rows from `o = offset + 6j`; the tail
//! follows the last block at `n = offset + 6(t + 1)` and uses [`TAIL_ROWS`]` = 4` rows.
//! Ten advice columns `c0 … c9` (equality on all) carry the softmax's own cells:
//!
//! | row | `c0` | `c1` | `c2` | `c3` | `c4` | `c5` | `c6` | `c7` | `c8` | `c9` | selectors |
//! |---|---|---|---|---|---|---|---|---|---|---|---|
//! | `o` | `s_j` | `mx` | `d_j` | `e_j` | `sum_prev` | `sum` | `prod_prev` | `prod` | `rp` | `ep_j` | `q_score` (+ `q_first` for `j = 0`) |
//! | `o + 1 … o + 4` | | | limbs of `d_j` | | | | | | | | |
//! | `n` | `S` | `m` | `Π d` | `k` | `2^k` | `2^(K−k)` | `r` | `rp` | `r_k` | `slack` | `q_norm` |
//! | `n + 1 … n + 3` | | | | | | | | | limbs of `r_k` | limbs of `slack` | |
//!
//! Beside each block, in their own columns, sit the extended exp lookup of `(d_j, e_j)`
//! (5 rows) and the rescale of `ep_j` to `p_j` (6 rows); the recip lookup of `(m, r)` sits
//! beside the tail's first row. Copies: `s_j` from the caller's cell, `mx` from block 0,
//! `sum_prev`/`prod_prev` from the previous block, `S` and `Π d` from the last block, `rp`
//! from the tail, and the lookups' and rescale's inputs and outputs.
//!
//! Gates, each constraint of degree ≤ 3:
//!
//! | gate (selector) | constraint | equation |
//! |---|---|---|
//! | `softmax score` (`q_score`) | `d = mx - s` | `d − mx + s = 0` |
//! | | `sum = sum_prev + e` | `sum − sum_prev − e = 0` |
//! | | `prod = prod_prev * d` | `prod − prod_prev·d = 0` |
//! | | `ep = e * rp` | `ep − e·rp = 0` |
//! | `softmax first` (`q_first`) | `sum_prev = 0` | `sum_prev = 0` |
//! | | `prod_prev = 1` | `prod_prev − 1 = 0` |
//! | `softmax normalize` (`q_norm`) | `max is a score: prod = 0` | `Π d = 0` |
//! | | `S = m*2^k + r_k` | `S − m·2^k − r_k = 0` |
//! | | `slack = 2^k - 1 - r_k` | `slack − 2^k + 1 + r_k = 0` |
//! | | `rp = r * 2^(K-k)` | `rp − r·2^(K−k) = 0` |
//!
//! Lookups: `softmax gap` (`d_j`, unsigned 32 bits), `softmax exponent`
//! (`(q_norm, k, 2^k, 2^(K−k))` in the exponent table, whose first row `(0, 0, 0, 0)`
//! serves disabled rows), `softmax remainder` and `softmax slack` (`K` bits), `softmax
//! recip`, and the exp chip's `softmax exp`, `softmax exp excess` and gate `softmax exp
//! domain`, and the rescale chip's `rescale remainder`, `rescale output`, `rescale excess`.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Selector, TableColumn};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::fixed::tables::{Tables, PROB_FRAC, RECIP_MANT_BITS, RECIP_OUT_FRAC};
use zkinfer_quantize::fixed::{normalize, round_shift};

use crate::failure::{check, unsupported, Chip, Problem, Span};
use crate::field::{cell_i128, i128_to_fr, pow2, AssignedFr};
use crate::lookup::{
    ExtendedLookupChip, ExtendedLookupConfig, ExtendedWitness, Extension, LookupChip, LookupConfig,
    EXP_POINTS, RECIP_POINTS,
};
use crate::pool::ColumnPool;
use crate::range::{RangeChip, RangeConfig, RangeTableConfig};
use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};

/// `K`: the largest normalization exponent; a row's exp sum must be below `2^(16+K)`.
pub const NORM_BITS: u32 = 24;
/// Width of a score and of each gap `mx − s_j`.
pub const SCORE_BITS: u32 = 32;
/// The probability rescale: shift `15 + K` (`RECIP_OUT_FRAC − PROB_FRAC + K`), output
/// `p ∈ [0, 2^16]` in 18 signed bits (never saturates), input below `2^56`.
pub const PROB_SITE: RescaleSite =
    RescaleSite { shift: RECIP_OUT_FRAC - PROB_FRAC + NORM_BITS, bits: PROB_FRAC + 2, x_bits: 57 };
/// Rows of one score's block.
pub const BLOCK_ROWS: usize = 6;
/// Rows of the tail (normalization, reciprocal).
pub const TAIL_ROWS: usize = 4;

/// Rows one attention row of `t` scores uses.
pub const fn rows(t: usize) -> usize {
    t * BLOCK_ROWS + TAIL_ROWS
}

/// Every primary witness value of one row; [`SoftmaxChip::assign_witness`] derives the
/// running sums and products, the powers of two, the slack and the products `ep_j` from
/// them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SoftmaxWitness {
    /// The claimed maximum.
    pub max: i128,
    /// Gaps `d_j = mx − s_j`.
    pub gaps: Vec<i128>,
    /// `e_j`.
    pub exps: Vec<i128>,
    /// Mantissa `m` of the sum.
    pub mant: i128,
    /// Exponent `k` of the sum.
    pub exponent: u32,
    /// `r_k = S − m·2^k`.
    pub rem: i128,
    /// `recip[m]`.
    pub recip: i128,
    /// Probabilities `p_j`.
    pub probs: Vec<i128>,
}

impl SoftmaxWitness {
    /// The sum `S`.
    pub fn sum(&self) -> i128 {
        self.exps.iter().sum()
    }

    /// Recomputes `p_j = round_shift(e_j·r, 15 + k)` from the current `exps`, `recip` and
    /// `exponent`.
    pub fn recompute_probs(&mut self) {
        let shift = RECIP_OUT_FRAC - PROB_FRAC + self.exponent;
        self.probs = self.exps.iter().map(|&e| round_shift(e * self.recip, shift)).collect();
    }
}

/// Columns, selectors, gates, lookups and sub-chips of the softmax (see the
/// [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxConfig {
    /// `c0 … c9`.
    pub cols: [Column<Advice>; 10],
    /// Enables `softmax score`.
    pub q_score: Selector,
    /// Enables `softmax first`.
    pub q_first: Selector,
    /// Enables `softmax normalize` and the exponent lookup.
    pub q_norm: Selector,
    /// Exponent table: tag, `k`, `2^k`, `2^(K−k)`.
    pub exponent_table: [TableColumn; 4],
    /// Range check of the gaps (in `c2`).
    pub gap: RangeConfig,
    /// Range check of `r_k` (in `c8`).
    pub remainder: RangeConfig,
    /// Range check of the slack (in `c9`).
    pub slack: RangeConfig,
    /// The extended exp lookup.
    pub exp: ExtendedLookupConfig,
    /// The recip lookup.
    pub recip: LookupConfig,
    /// The probability rescale.
    pub rescale: RescaleConfig,
}

impl SoftmaxConfig {
    /// Declares the softmax's columns, gates and lookups over the shared range table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, range_table: RangeTableConfig, k: u32) -> Self {
        Self::configure_in(meta, &mut ColumnPool::fresh(), range_table, k)
    }

    /// [`Self::configure`] with the advice and range-check columns drawn from `pool`.
    pub fn configure_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        range_table: RangeTableConfig,
        k: u32,
    ) -> Self {
        let q_score = meta.selector();
        let q_first = meta.selector();
        let q_norm = meta.complex_selector();
        let exponent_table: [TableColumn; 4] = std::array::from_fn(|_| meta.lookup_table_column());
        let gap = pool.range(meta, "softmax gap", range_table);
        let remainder = pool.range(meta, "softmax remainder", range_table);
        let slack = pool.range(meta, "softmax slack", range_table);
        let [c0, c1, c3, c4, c5, c6, c7]: [Column<Advice>; 7] = pool.advice_array(meta, true);
        let cols = [c0, c1, gap.z, c3, c4, c5, c6, c7, remainder.z, slack.z];
        for c in cols {
            meta.enable_equality(c);
        }

        let (tx, ty) = (pool.advice(meta, false), pool.advice(meta, false));
        let exp_lookup = LookupConfig::configure_for_in(meta, pool, "softmax exp", tx, ty, EXP_POINTS, k);
        let exp = ExtendedLookupConfig::configure_in(
            meta,
            pool,
            "softmax exp",
            exp_lookup,
            range_table,
            Extension::exp(),
        );
        let (rx, ry) = (pool.advice(meta, true), pool.advice(meta, true));
        let recip = LookupConfig::configure_for_in(meta, pool, "softmax recip", rx, ry, RECIP_POINTS, k);
        let rescale = RescaleConfig::configure_in(meta, pool, range_table);

        let q = |meta: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>, i: usize| {
            meta.query_advice(cols[i], Rotation::cur())
        };
        meta.create_gate("softmax score", |meta| {
            let s = meta.query_selector(q_score);
            let [sc, mx, d, e, sum_prev, sum, prod_prev, prod, rp, ep] = std::array::from_fn(|i| q(meta, i));
            vec![
                ("d = mx - s", s.clone() * (d.clone() - mx + sc)),
                ("sum = sum_prev + e", s.clone() * (sum - sum_prev - e.clone())),
                ("prod = prod_prev * d", s.clone() * (prod - prod_prev * d)),
                ("ep = e * rp", s * (ep - e * rp)),
            ]
        });
        meta.create_gate("softmax first", |meta| {
            let s = meta.query_selector(q_first);
            let (sum_prev, prod_prev) = (q(meta, 4), q(meta, 6));
            vec![
                ("sum_prev = 0", s.clone() * sum_prev),
                ("prod_prev = 1", s * (prod_prev - Expression::Constant(Fr::ONE))),
            ]
        });
        meta.create_gate("softmax normalize", |meta| {
            let s = meta.query_selector(q_norm);
            let [sum, m, prod, _k, pow_k, pow_rest, r, rp, rem, slack] = std::array::from_fn(|i| q(meta, i));
            let one = Expression::Constant(Fr::ONE);
            vec![
                ("max is a score: prod = 0", s.clone() * prod),
                ("S = m*2^k + r_k", s.clone() * (sum - m * pow_k.clone() - rem.clone())),
                ("slack = 2^k - 1 - r_k", s.clone() * (slack - pow_k + one + rem)),
                ("rp = r * 2^(K-k)", s * (rp - r * pow_rest)),
            ]
        });
        meta.lookup("softmax exponent", |meta| {
            let s = meta.query_selector(q_norm);
            let (k, pow_k, pow_rest) = (q(meta, 3), q(meta, 4), q(meta, 5));
            let [tag, tk, tpow, trest] = exponent_table;
            vec![(s.clone(), tag), (s.clone() * k, tk), (s.clone() * pow_k, tpow), (s * pow_rest, trest)]
        });

        SoftmaxConfig {
            cols,
            q_score,
            q_first,
            q_norm,
            exponent_table,
            gap,
            remainder,
            slack,
            exp,
            recip,
            rescale,
        }
    }
}

/// Assigns softmax rows.
#[derive(Clone, Debug)]
pub struct SoftmaxChip {
    config: SoftmaxConfig,
    exp: ExtendedLookupChip,
    recip: LookupChip,
}

impl SoftmaxChip {
    /// A chip over `config` with the model's exp and recip tables; `Error::Synthesis` when
    /// the exp table's domain is not `[0, 2^16)`.
    pub fn construct(config: SoftmaxConfig, tables: &Tables) -> Result<Self, Error> {
        let exp = ExtendedLookupChip::construct(config.exp, &tables.exp)?;
        let recip = LookupChip::construct(config.recip, &tables.recip);
        Ok(SoftmaxChip { config, exp, recip })
    }

    /// The chip's configuration.
    pub fn config(&self) -> &SoftmaxConfig {
        &self.config
    }

    /// Loads the exp, recip and exponent tables (the shared range table is loaded by its
    /// owner).
    pub fn load(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        self.exp.lookup().load(layouter)?;
        self.recip.load(layouter)?;
        let cols = self.config.exponent_table;
        layouter.assign_table(
            || "softmax exponent table",
            |mut table| {
                let mut put = |row: usize, vals: [Fr; 4]| -> Result<(), Error> {
                    for (col, v) in cols.into_iter().zip(vals) {
                        table.assign_cell(|| "exponent table", col, row, || Value::known(v))?;
                    }
                    Ok(())
                };
                put(0, [Fr::ZERO; 4])?;
                for k in 1..=NORM_BITS {
                    put(k as usize, [Fr::ONE, Fr::from(u64::from(k)), pow2(k), pow2(NORM_BITS - k)])?;
                }
                Ok(())
            },
        )
    }

    /// The witness for `scores` with the claimed maximum `max` (honest for the true
    /// maximum), or `None` when a gap reaches `2^32`, the sum needs `k > K` or `scores` is
    /// empty.
    pub fn witness_with_max(&self, scores: &[i128], max: i128) -> Option<SoftmaxWitness> {
        let gaps: Vec<i128> = scores.iter().map(|&s| max - s).collect();
        let end = i128::from(self.exp.config().extension.end);
        let exps =
            gaps.iter().map(|&d| self.exp.lookup().get(d.clamp(0, end))).collect::<Option<Vec<_>>>()?;
        self.witness_with_exps(max, gaps, exps)
    }

    /// The witness that is honest from the given gaps and exps on (normalization,
    /// reciprocal, probabilities).
    pub fn witness_with_exps(&self, max: i128, gaps: Vec<i128>, exps: Vec<i128>) -> Option<SoftmaxWitness> {
        if gaps.is_empty() || gaps.len() != exps.len() || gaps.iter().any(|&d| d >= 1 << SCORE_BITS) {
            return None;
        }
        let sum: i128 = exps.iter().sum();
        if sum < 0 {
            return None;
        }
        let (mant, exponent) = normalize(sum, RECIP_MANT_BITS, 1);
        if !(1..=NORM_BITS).contains(&exponent) {
            return None;
        }
        let mant = i128::from(mant);
        let recip = self.recip.get(mant)?;
        let mut w = SoftmaxWitness {
            max,
            gaps,
            exps,
            mant,
            exponent,
            rem: sum - (mant << exponent),
            recip,
            probs: vec![],
        };
        w.recompute_probs();
        Some(w)
    }

    /// The honest witness for `scores`.
    pub fn witness(&self, scores: &[i128]) -> Option<SoftmaxWitness> {
        self.witness_with_max(scores, *scores.iter().max()?)
    }

    /// Proves the softmax of the score cells at rows `offset .. offset + rows(t)`; copies
    /// the scores in and returns the probability cells. `Error::Synthesis` when there are
    /// no scores or they are not 32-bit integers.
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        scores: &[AssignedFr<'_>],
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        if scores.is_empty() {
            return Err(unsupported(Chip::Softmax, "a row of no scores"));
        }
        let values: Value<Vec<Option<i128>>> = scores.iter().map(cell_i128).collect();
        check(&values, Chip::Softmax, |v| {
            let max = v.iter().flatten().max().copied().unwrap_or_default();
            let gaps = v.iter().map(|s| s.and_then(|s| max.checked_sub(s)));
            Problem::first_outside("score gap (the row's max − score)", gaps, Span::unsigned(SCORE_BITS))
        })?;
        let witness =
            values.map(|v| v.into_iter().collect::<Option<Vec<_>>>().and_then(|v| self.witness(&v)));
        check(&witness, Chip::Softmax, |w| {
            w.is_none().then(|| {
                Problem::Unsupported("no witness for these scores (the exp or recip table has a gap)".into())
            })
        })?;
        self.assign_witness(region, offset, scores, witness.map(Option::unwrap_or_default))
    }

    /// Assigns a precomputed (possibly dishonest) witness for the score cells at rows
    /// `offset .. offset + rows(t)`; returns the probability cells.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        scores: &[AssignedFr<'_>],
        w: Value<SoftmaxWitness>,
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let t = scores.len();
        if t == 0 {
            return Err(unsupported(Chip::Softmax, "a row of no scores"));
        }
        check(&w, Chip::Softmax, |w| {
            Problem::length("witness's gaps", t, w.gaps.len())
                .or_else(|| Problem::length("witness's exps", t, w.exps.len()))
                .or_else(|| Problem::length("witness's probabilities", t, w.probs.len()))
        })?;
        let cfg = &self.config;
        let c = cfg.cols;
        let fr = |v: Value<i128>| v.map(i128_to_fr);

        // Tail.
        let n = offset + t * BLOCK_ROWS;
        cfg.q_norm.enable(region, n)?;
        let pow_k = w.as_ref().map(|w| pow2(w.exponent));
        let pow_rest = w.as_ref().map(|w| pow2(NORM_BITS.saturating_sub(w.exponent)));
        let total = region.assign_advice(c[0], n, fr(w.as_ref().map(SoftmaxWitness::sum)));
        let mant = region.assign_advice(c[1], n, fr(w.as_ref().map(|w| w.mant)));
        let prod_total = region.assign_advice(
            c[2],
            n,
            w.as_ref().map(|w| w.gaps.iter().fold(Fr::ONE, |p, &d| p * i128_to_fr(d))),
        );
        region.assign_advice(c[3], n, w.as_ref().map(|w| Fr::from(u64::from(w.exponent))));
        region.assign_advice(c[4], n, pow_k);
        region.assign_advice(c[5], n, pow_rest);
        let recip = region.assign_advice(c[6], n, fr(w.as_ref().map(|w| w.recip)));
        let rp = w.as_ref().zip(pow_rest).map(|(w, p)| i128_to_fr(w.recip) * p);
        let rp_tail = region.assign_advice(c[7], n, rp);
        let rem = w.as_ref().map(|w| i128_to_fr(w.rem));
        RangeChip::construct(cfg.remainder).assign_unsigned(region, n, rem, NORM_BITS)?;
        let slack = pow_k.zip(rem).map(|(p, r)| p - Fr::ONE - r);
        RangeChip::construct(cfg.slack).assign_unsigned(region, n, slack, NORM_BITS)?;
        let (m_in, r_out) = self.recip.assign_pair(region, n, w.as_ref().map(|w| (w.mant, w.recip)))?;
        region.constrain_equal(m_in.cell(), mant.cell());
        region.constrain_equal(r_out.cell(), recip.cell());

        // Blocks.
        let exp_end = i128::from(self.exp.config().extension.end);
        let mut probs = Vec::with_capacity(t);
        let mut prev: Option<(AssignedFr<'_>, AssignedFr<'_>, AssignedFr<'_>)> = None;
        let (mut sum, mut prod) = (Value::known(Fr::ZERO), Value::known(Fr::ONE));
        for (j, score) in scores.iter().enumerate() {
            let o = offset + j * BLOCK_ROWS;
            cfg.q_score.enable(region, o)?;
            score.copy_advice(region, c[0], o);
            let mx = region.assign_advice(c[1], o, fr(w.as_ref().map(|w| w.max)));
            let gap = w.as_ref().map(|w| w.gaps[j]);
            let e = w.as_ref().map(|w| w.exps[j]);
            let d_cell = RangeChip::construct(cfg.gap).assign_unsigned(region, o, fr(gap), SCORE_BITS)?;
            let e_cell = region.assign_advice(c[3], o, fr(e));
            let sum_prev = region.assign_advice(c[4], o, sum);
            sum = sum.zip(fr(e)).map(|(a, b)| a + b);
            let sum_cell = region.assign_advice(c[5], o, sum);
            let prod_prev = region.assign_advice(c[6], o, prod);
            prod = prod.zip(fr(gap)).map(|(a, b)| a * b);
            let prod_cell = region.assign_advice(c[7], o, prod);
            let rp_cell = region.assign_advice(c[8], o, rp);
            region.constrain_equal(rp_cell.cell(), rp_tail.cell());
            let ep = fr(e).zip(rp).map(|(e, rp)| e * rp);
            let ep_cell = region.assign_advice(c[9], o, ep);
            match &prev {
                None => cfg.q_first.enable(region, o)?,
                Some((mx0, s_prev, p_prev)) => {
                    region.constrain_equal(mx.cell(), mx0.cell());
                    region.constrain_equal(sum_prev.cell(), s_prev.cell());
                    region.constrain_equal(prod_prev.cell(), p_prev.cell());
                }
            }

            let exp_w = gap.zip(e).map(|(d, e)| {
                let (above, below) = (d > exp_end, d < 0);
                let (tx, excess) = if above {
                    (exp_end, d - exp_end - 1)
                } else if below {
                    (0, -1 - d)
                } else {
                    (d, 0)
                };
                ExtendedWitness { x: d, y: e, tx, ty: e, above, below, excess }
            });
            let exp_cells = self.exp.assign_witness(region, o, exp_w, SCORE_BITS)?;
            region.constrain_equal(exp_cells.x.cell(), d_cell.cell());
            region.constrain_equal(exp_cells.y.cell(), e_cell.cell());

            let ep_int =
                e.zip(w.as_ref()).map(|(e, w)| e * w.recip * (1i128 << NORM_BITS.saturating_sub(w.exponent)));
            let resc_w = ep_int.zip(w.as_ref().map(|w| w.probs[j])).map(|(x, p)| {
                let n = PROB_SITE.shift;
                let r = x + (1i128 << (n - 1)) - (p << n);
                RescaleWitness { x, q: p, r, y: p, excess: 0, above: false, below: false }
            });
            let cells = RescaleChip::construct(cfg.rescale).assign_witness(region, o, &PROB_SITE, resc_w)?;
            region.constrain_equal(cells.x.cell(), ep_cell.cell());
            probs.push(cells.y);
            prev = Some((mx, sum_cell, prod_cell));
        }
        if let Some((_, s_last, p_last)) = prev {
            region.constrain_equal(s_last.cell(), total.cell());
            region.constrain_equal(p_last.cell(), prod_total.cell());
        }
        Ok(probs)
    }
}

#[cfg(test)]
mod tests;
