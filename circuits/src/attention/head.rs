//! The head output of one attention row, [`HEAD_LANES`] value columns side by side:
//! `heads_d = rescale(Σ_s p_s·v_{s,d}, 16, v.bits)` ([`head_site`]).
//!
//! # Layout
//!
//! A group of [`HEAD_LANES`] value columns over `n` keys uses
//! [`group_rows`]` = max(n, rescale rows)` rows from its offset `o`. The probabilities are
//! shared by the lanes; each lane's running sum lives in its rescale's input column `x`,
//! accumulated bottom-up so that the total is the rescale input on the first row:
//!
//! | row | `p` | `v_i` (lane `i`) | `x_i` (lane `i`'s rescale input) | selectors |
//! |---|---|---|---|---|
//! | `o + s` (`s < n − 1`) | `p_s` | `v_{s,d_i}` | `acc_s = acc_{s+1} + p_s·v_{s,d_i}` | `q_more` |
//! | `o + n − 1` | `p_{n−1}` | `v_{n−1,d_i}` | `acc = p_{n−1}·v_{n−1,d_i}` | `q_last` |
//!
//! and lane `i`'s rescale of `acc_0` to `heads_{d_i}` from row `o`. Gate `attention head`,
//! per lane, every constraint of degree 3:
//!
//! | constraint | equation |
//! |---|---|
//! | `lane i: acc = acc_next + p*v` (`q_more`) | `x_i − x_i[next] − p·v_i = 0` |
//! | `lane i: last: acc = p*v` (`q_last`) | `x_i − p·v_i = 0` |
//!
//! `p` and `v` are copies (of the softmax's probability cells and the caller's value cells).
//! Cost per row of `n` keys and `D` values: `n` cells of `p` per group and, per value,
//! `2n` cells plus the rescale's `3 + R(16) + R(bits) + R(bits + 2)`.

use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Selector};
use halo2_proofs::poly::Rotation;

use crate::failure::{check, check_length, unsupported, Chip, Problem};
use crate::field::{i128_to_fr, AssignedFr};
use crate::pool::ColumnPool;
use crate::range::{RangeLayout, RangeTableConfig};
use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};

/// The head output's rescale for values of `v_bits` bits: shift 16, output `v_bits`, input
/// `|Σ p_j·v_j| ≤ (2^16 + t)·2^(v_bits−1)` in `v_bits + 18` bits (any `t < 2^16`).
pub fn head_site(v_bits: u32) -> Result<RescaleSite, Error> {
    RescaleSite::new(
        zkinfer_quantize::fixed::tables::PROB_FRAC,
        v_bits,
        v_bits + zkinfer_quantize::fixed::tables::PROB_FRAC + 2,
    )
}

/// Value columns per head group.
pub const HEAD_LANES: usize = 1;

/// Rows a group over `n` keys uses with the head rescale `site` and range layout `layout`.
pub fn group_rows(n: usize, site: &RescaleSite, layout: RangeLayout) -> usize {
    n.max(site.rows(layout))
}

/// Every witness value of one attention row's head output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadWitness {
    /// `p_s` for the row's `n` keys.
    pub probs: Vec<i128>,
    /// `v_{s,d}`, `[n, D]` key-major.
    pub values: Vec<i128>,
    /// The rescale of each value column's sum, `[D]`.
    pub outputs: Vec<RescaleWitness>,
}

impl HeadWitness {
    /// The honest witness, or `None` when the lengths disagree or a sum leaves the site's
    /// input range.
    pub fn new(probs: &[i128], values: &[i128], site: &RescaleSite) -> Option<Self> {
        let n = probs.len();
        if n == 0 || !values.len().is_multiple_of(n) {
            return None;
        }
        let d = values.len() / n;
        let outputs = (0..d)
            .map(|c| {
                let x = probs
                    .iter()
                    .enumerate()
                    .try_fold(0i128, |acc, (s, &p)| acc.checked_add(p.checked_mul(values[s * d + c])?))?;
                site.accepts(x).then(|| RescaleWitness::new(x, site))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(HeadWitness { probs: probs.to_vec(), values: values.to_vec(), outputs })
    }

    /// The output values `[D]`.
    pub fn heads(&self) -> Vec<i128> {
        self.outputs.iter().map(|o| o.y).collect()
    }

    /// Whether the witness holds `n` keys of `d` values.
    pub fn fits(&self, n: usize, d: usize) -> bool {
        self.probs.len() == n && self.values.len() == n * d && self.outputs.len() == d
    }

    /// Running sums of value column `c` for rows `1 … n − 1` (row 0 holds the rescale
    /// input).
    fn running_sum(&self, c: usize, s: usize) -> i128 {
        let d = self.outputs.len();
        (s..self.probs.len())
            .map(|j| self.probs[j].wrapping_mul(self.values[j * d + c]))
            .fold(0i128, i128::wrapping_add)
    }
}

/// Columns, selectors, gate and rescales of the head groups (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct HeadConfig {
    /// The probabilities (equality enabled).
    pub p: Column<Advice>,
    /// Value lanes (equality enabled).
    pub v: [Column<Advice>; HEAD_LANES],
    /// Each lane's rescale; its `x` column holds the running sum.
    pub lanes: [RescaleConfig; HEAD_LANES],
    /// Enables `acc = acc_next + p·v`.
    pub q_more: Selector,
    /// Enables `acc = p·v` on a group's last key.
    pub q_last: Selector,
}

impl HeadConfig {
    /// Declares the head columns, gate and rescales over the shared range table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, range_table: RangeTableConfig) -> Self {
        Self::configure_in(meta, &mut ColumnPool::fresh(), range_table)
    }

    /// [`Self::configure`] with the advice and range-check columns drawn from `pool`.
    pub fn configure_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        range_table: RangeTableConfig,
    ) -> Self {
        let p = pool.advice(meta, true);
        let v: [Column<Advice>; HEAD_LANES] = pool.advice_array(meta, true);
        let lanes: [RescaleConfig; HEAD_LANES] =
            std::array::from_fn(|_| RescaleConfig::configure_in(meta, pool, range_table));
        let (q_more, q_last) = (meta.selector(), meta.selector());
        meta.create_gate("attention head", |meta| {
            let more = meta.query_selector(q_more);
            let last = meta.query_selector(q_last);
            let p = meta.query_advice(p, Rotation::cur());
            let mut constraints = Vec::with_capacity(2 * HEAD_LANES);
            for (i, (vc, lane)) in v.iter().zip(&lanes).enumerate() {
                let v = meta.query_advice(*vc, Rotation::cur());
                let acc = meta.query_advice(lane.x, Rotation::cur());
                let next = meta.query_advice(lane.x, Rotation::next());
                let pv = p.clone() * v;
                constraints.push((
                    format!("lane {i}: acc = acc_next + p*v"),
                    more.clone() * (acc.clone() - next - pv.clone()),
                ));
                constraints.push((format!("lane {i}: last: acc = p*v"), last.clone() * (acc - pv)));
            }
            constraints
        });
        HeadConfig { p, v, lanes, q_more, q_last }
    }
}

/// Assigns head groups.
#[derive(Clone, Copy, Debug)]
pub struct HeadChip {
    config: HeadConfig,
}

impl HeadChip {
    /// A chip over `config`.
    pub fn construct(config: HeadConfig) -> Self {
        HeadChip { config }
    }

    /// Assigns the value columns `first .. first + HEAD_LANES` of one attention row's head
    /// output at rows `offset .. offset + group_rows(n, site)` from a (possibly dishonest)
    /// witness: `probs` are the row's `n` probability cells and `values[s]` the `D` value
    /// cells of key `s`. Returns the output cells of those columns.
    #[allow(clippy::too_many_arguments)]
    pub fn assign_group<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        site: &RescaleSite,
        first: usize,
        probs: &[AssignedFr<'_>],
        values: &[&[AssignedFr<'_>]],
        w: Value<&HeadWitness>,
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let n = probs.len();
        let d = values.first().map_or(0, |v| v.len());
        if n == 0 || first + HEAD_LANES > d {
            let why =
                format!("{n} probabilities over value rows of {d}, a group of {HEAD_LANES} from {first}");
            return Err(unsupported(Chip::AttentionHead, why));
        }
        check_length(Chip::AttentionHead, "value rows", n, values.len())?;
        for row in values {
            check_length(Chip::AttentionHead, "value row", d, row.len())?;
        }
        check(&w, Chip::AttentionHead, |w| {
            Problem::length("witness's probabilities", n, w.probs.len())
                .or_else(|| Problem::length("witness's values", n * d, w.values.len()))
                .or_else(|| Problem::length("witness's outputs", d, w.outputs.len()))
        })?;
        let cfg = &self.config;
        for (s, prob) in probs.iter().enumerate() {
            let row = offset + s;
            if s + 1 == n {
                cfg.q_last.enable(region, row)?;
            } else {
                cfg.q_more.enable(region, row)?;
            }
            let pc = region.assign_advice(cfg.p, row, w.map(|w| i128_to_fr(w.probs[s])));
            region.constrain_equal(prob.cell(), pc.cell());
        }
        let mut outputs = Vec::with_capacity(HEAD_LANES);
        for (i, (vcol, lane)) in cfg.v.iter().zip(&cfg.lanes).enumerate() {
            let c = first + i;
            for (s, vals) in values.iter().enumerate() {
                let row = offset + s;
                let vc = region.assign_advice(*vcol, row, w.map(|w| i128_to_fr(w.values[s * d + c])));
                region.constrain_equal(vals[c].cell(), vc.cell());
                if s > 0 {
                    region.assign_advice(lane.x, row, w.map(|w| i128_to_fr(w.running_sum(c, s))));
                }
            }
            let cells = RescaleChip::construct(*lane).assign_witness(
                region,
                offset,
                site,
                w.map(|w| w.outputs[c]),
            )?;
            outputs.push(cells.y);
        }
        Ok(outputs)
    }
}
