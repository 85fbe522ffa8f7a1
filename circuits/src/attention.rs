//! Causal grouped-query attention, exactly as `zkinfer_quantize::int::ops::attention`
//! computes it: for query head `hh` (key/value head `hh / (h / kv)`), token `ti` and key
//! `s ≤ ti`,
//!
//! - `score_s = rescale((Σ_d q[ti,hh,d]·k[s,kvh,d])·score_mult, score_shift, score.bits)`
//!   ([`score`]);
//! - `p = softmax(score_0 … score_ti)` ([`SoftmaxChip`]);
//! - `heads[ti,hh,d] = rescale(Σ_s p_s·v[s,kvh,d], 16, v.bits)` ([`head`]).
//!
//! Causality is structural: the row of token `ti` copies in the key and value rows
//! `0 ..= ti` only, and every copy is a constraint.
//!
//! # Trust boundary
//!
//! `q`, `k` and `v` are the caller's cells, range-checked by their producers (the RoPE and
//! value-projection rescales) to `q_bits`, `k_bits` and `v.bits` signed bits; the chip relies
//! on those bounds (they keep every dot product and head sum an integer far below the
//! field modulus) and checks nothing about them itself.
//!
//! # Layout
//!
//! One band of rows per attention row, query head major then token
//! ([`AttnLayout::band_rows`]); inside the band of a row over `n = ti + 1` keys, from its
//! first row `b`, three stacks one below the other, so that a shared
//! [`ColumnPool`] gives all three the same columns:
//!
//! | rows from `b` | content | columns |
//! |---|---|---|
//! | `0 .. n·S`, `S = max(D/L_s, score rescale rows)` | score `s` at `b + s·S` | score: `2L_s` lanes, `acc`, `mult`, a rescale (`2L_s + 8` advice) |
//! | `n·S .. n·S + 6n + 4` | the softmax row | softmax (26 advice) |
//! | then `(D/L_h)·H` rows, `H = max(n, head rescale rows)` | value columns `L_h·g … L_h·g + L_h − 1` at `g·H` | head: `p`, `L_h` value lanes, `L_h` rescales (`1 + 8L_h` advice) |
//!
//! `D` must be a multiple of 8 (every Llama head width is). [`AttentionChip::rows`] is the
//! sum over the `h·t` bands. Copies: each score's `q` and `k` lanes from the caller's cells,
//! the scores into the softmax, the probabilities and the caller's values into the head
//! groups.
//!
//! `L_s` = [`score::SCORE_LANES`] products per dot-product row and `L_h` =
//! [`head::HEAD_LANES`] value columns per head group. Every column and lookup is paid over
//! all `2^k` rows of the chunk while the attention fills few of them, so both are small:
//! narrow and tall is cheaper than wide and short here.
//!
//! # Cost
//!
//! With `R(b) = ⌈b/8⌉ + 1`, a score rescale `(n_s, bits, x_bits)` and `v.bits = b_v`:
//!
//! - per score: `2D + D/L_s + 4 + R(n_s) + R(bits) + R(x_bits − n_s)` advice cells, plus the
//!   softmax's 43;
//! - per attention row: the softmax tail's 18 cells and, per group of `L_h` value columns, `n`
//!   probability cells;
//! - per head output: `2n + 3 + R(16) + R(b_v) + R(b_v + 2)` cells.
//!
//! For block 0 of the built-in tiny model (`D = 16`, 24-bit `q`/`k`, a 23-bit multiplier,
//! shift 52, so `x_bits = 74`) a score is 55 cells in 8 rows (plus the softmax's 43 cells
//! in 6 rows) and a 24-bit head output `2n + 15` cells in 5 rows; stacked, its three bands
//! (`n = 1, 2, 3`: `8n` score rows, `6n + 4` softmax rows, 16 head groups of 5 rows) take
//! 98, 112 and 126 rows, 1,344 rows for its 4 query heads (`rows_match_the_documented_layout`).
//!
//! The gates are of degree ≤ 3; the circuit's degree (5) comes from the range chip's
//! selector-gated lookups.

pub mod head;
pub mod layout;
pub mod score;
pub mod witness;

use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error};
use zkinfer_quantize::fixed::tables::Tables;
use zkinfer_quantize::int::ops::AttnShape;

use crate::failure::{check, check_length, internal, Chip, Problem, Span};
use crate::field::{cell_i128, AssignedFr};
use crate::pool::ColumnPool;
use crate::range::{RangeLayout, RangeTableConfig};
use crate::softmax::{SoftmaxChip, SoftmaxConfig};
use head::{group_rows, HeadChip, HeadConfig, HEAD_LANES};
use layout::AttnLayout;
use score::{ScoreChip, ScoreConfig};
use witness::{slot, AttnWitness};

/// The columns, gates and lookups of the attention: scores, softmax and head groups (see
/// the [module docs](self)).
#[derive(Clone, Debug)]
pub struct AttentionConfig {
    /// The scores.
    pub score: ScoreConfig,
    /// The softmax rows.
    pub softmax: SoftmaxConfig,
    /// The head groups.
    pub head: HeadConfig,
}

impl AttentionConfig {
    /// Declares every column, gate and lookup the attention needs over the shared range
    /// table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, range_table: RangeTableConfig, k: u32) -> Self {
        Self::configure_in(meta, &mut ColumnPool::fresh(), range_table, k)
    }

    /// [`Self::configure`] with the columns drawn from `pool`: the scores, the softmax and
    /// the head groups occupy disjoint rows of each band, so each draws from the pool's
    /// first column again. Leaves the pool rewound.
    pub fn configure_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        range_table: RangeTableConfig,
        k: u32,
    ) -> Self {
        pool.rewind();
        let score = ScoreConfig::configure_in(meta, pool, range_table);
        pool.rewind();
        let softmax = SoftmaxConfig::configure_in(meta, pool, range_table, k);
        pool.rewind();
        let head = HeadConfig::configure_in(meta, pool, range_table);
        pool.rewind();
        AttentionConfig { score, softmax, head }
    }
}

/// Assigns attention calls.
#[derive(Clone, Debug)]
pub struct AttentionChip {
    config: AttentionConfig,
    softmax: SoftmaxChip,
}

impl AttentionChip {
    /// A chip over `config` with the model's exp and recip tables; `Error::Synthesis` when
    /// the exp table's domain is not `[0, 2^16)`.
    pub fn construct(config: AttentionConfig, tables: &Tables) -> Result<Self, Error> {
        let softmax = SoftmaxChip::construct(config.softmax, tables)?;
        Ok(AttentionChip { config, softmax })
    }

    /// The chip's configuration.
    pub fn config(&self) -> &AttentionConfig {
        &self.config
    }

    /// The softmax chip inside (for its witnesses).
    pub fn softmax(&self) -> &SoftmaxChip {
        &self.softmax
    }

    /// Loads the softmax's exp, recip and exponent tables (the shared range table is
    /// loaded by its owner). Call once per circuit.
    pub fn load(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        self.softmax.load(layouter)
    }

    /// Rows one call of `shape` over `q_bits`/`k_bits`-bit inputs uses from its offset with
    /// range layout `layout`; `Error::Synthesis` for a shape the chip cannot lay out
    /// ([`AttnLayout::new`]).
    pub fn rows(shape: &AttnShape, q_bits: u32, k_bits: u32, layout: RangeLayout) -> Result<usize, Error> {
        Ok(AttnLayout::new(shape, q_bits, k_bits, layout)?.rows())
    }

    /// The honest witness for the values `q: [t, h, D]`, `k, v: [t, kv, D]`, or `None` when
    /// a length is wrong or a value is out of the chip's reach.
    pub fn witness(&self, layout: &AttnLayout, q: &[i128], k: &[i128], v: &[i128]) -> Option<AttnWitness> {
        AttnWitness::new(layout, &self.softmax, q, k, v)
    }

    /// Proves causal GQA attention inside the caller's region at rows
    /// `offset .. offset + rows(shape, q_bits, k_bits)`: copies in `q: [t, h, D]` and
    /// `k, v: [t, kv, D]` (token-major, the layout of `IntLayerTrace::q_rope`, `k_rope` and
    /// `v`), which their producers have range-checked to `q_bits`, `k_bits` and `v.bits`
    /// signed bits, and returns the head cells `[t, h, D]` in `AttnTrace::heads` order.
    /// `Error::Synthesis` when the shape cannot be laid out, a length is wrong, or a value
    /// is out of reach.
    #[allow(clippy::too_many_arguments)]
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        shape: &AttnShape,
        q_bits: u32,
        k_bits: u32,
        q: &[AssignedFr<'_>],
        k: &[AssignedFr<'_>],
        v: &[AssignedFr<'_>],
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let layout = AttnLayout::new(shape, q_bits, k_bits, self.config.score.rescale.range_layout())?;
        check_lengths(&layout, q, k, v)?;
        let values = |what: &'static str, cells: &[AssignedFr<'_>], bits: u32| {
            let values: Value<Vec<Option<i128>>> = cells.iter().map(cell_i128).collect();
            check(&values, Chip::Attention, |v| {
                Problem::first_outside(what, v.iter().copied(), Span::signed(bits))
            })?;
            Ok::<_, Error>(values.map(|v| v.into_iter().flatten().collect::<Vec<_>>()))
        };
        let (qs, ks, vs) =
            (values("query", q, q_bits)?, values("key", k, k_bits)?, values("value", v, shape.v.bits)?);
        let witness = qs.zip(ks).zip(vs).map(|((q, k), v)| self.witness(&layout, &q, &k, &v));
        check(&witness, Chip::Attention, |w| {
            w.is_none().then(|| Problem::Unsupported("no witness for these queries, keys and values".into()))
        })?;
        self.assign_witness(region, offset, &layout, q, k, v, witness.map(Option::unwrap_or_default))
    }

    /// Assigns a precomputed (possibly dishonest) witness for the cells `q`, `k`, `v` at rows
    /// `offset .. offset + layout.rows()`; returns the head cells `[t, h, D]`.
    #[allow(clippy::too_many_arguments)]
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        layout: &AttnLayout,
        q: &[AssignedFr<'_>],
        k: &[AssignedFr<'_>],
        v: &[AssignedFr<'_>],
        w: Value<AttnWitness>,
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        if layout.layout != self.config.score.rescale.range_layout() {
            // A layout for another range table would misplace every range check.
            return Err(internal(Chip::Attention, "a layout for another range table"));
        }
        let a = &layout.shape;
        let (t, h, kv, d) = (a.t, a.heads, a.kv_heads, a.head_dim);
        check_lengths(layout, q, k, v)?;
        check(&w, Chip::Attention, |w| {
            Problem::length("witness's rows", h * t, w.rows.len()).or_else(|| {
                (!w.fits(layout))
                    .then(|| Problem::Unsupported("a witness row does not have the layout's shape".into()))
            })
        })?;
        let score_chip = ScoreChip::construct(self.config.score);
        let head_chip = HeadChip::construct(self.config.head);
        let score_rows = layout.score.rows(layout.layout);
        let group = h / kv;
        let mut heads: Vec<Option<AssignedFr<'v>>> = vec![None; t * h * d];
        let mut band = offset;
        for hh in 0..h {
            let kvh = hh / group;
            for ti in 0..t {
                let n = ti + 1;
                let row = w.as_ref().map(|w| &w.rows[hh * t + ti]);
                let qv = slot(q, h, d, ti, hh);
                let scores = (0..n)
                    .map(|s| {
                        score_chip.assign_witness(
                            region,
                            band + s * score_rows,
                            &layout.score,
                            qv,
                            slot(k, kv, d, s, kvh),
                            row.map(|r| &r.scores[s]),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let probs = self.softmax.assign_witness(
                    region,
                    band + layout.softmax_start(n),
                    &scores,
                    row.map(|r| r.softmax.clone()),
                )?;
                let vals: Vec<&[AssignedFr<'_>]> = (0..n).map(|s| slot(v, kv, d, s, kvh)).collect();
                let rows_per_group = group_rows(n, &layout.head, layout.layout);
                for g in 0..d / HEAD_LANES {
                    let out = head_chip.assign_group(
                        region,
                        band + layout.head_start(n) + g * rows_per_group,
                        &layout.head,
                        g * HEAD_LANES,
                        &probs,
                        &vals,
                        row.map(|r| &r.head),
                    )?;
                    for (i, cell) in out.into_iter().enumerate() {
                        heads[(ti * h + hh) * d + g * HEAD_LANES + i] = Some(cell);
                    }
                }
                band += layout.band_rows(n);
            }
        }
        heads
            .into_iter()
            .map(|c| c.ok_or_else(|| internal(Chip::Attention, "a head output was not assigned")))
            .collect()
    }
}

/// Refuses `q: [t, h, D]`, `k, v: [t, kv, D]` of other lengths than `layout`'s.
fn check_lengths<T>(layout: &AttnLayout, q: &[T], k: &[T], v: &[T]) -> Result<(), Error> {
    let a = &layout.shape;
    let (t, h, kv, d) = (a.t, a.heads, a.kv_heads, a.head_dim);
    check_length(Chip::Attention, "queries", t * h * d, q.len())?;
    check_length(Chip::Attention, "keys", t * kv * d, k.len())?;
    check_length(Chip::Attention, "values", t * kv * d, v.len())
}

#[cfg(test)]
mod tests;
