//! The argmax of a list of logits: the index `i*` and value `m = l_{i*}` of the maximum,
//! the lowest index winning among equal maxima (as `zkinfer_quantize::report::top_k` orders
//! them).
//!
//! # Relations
//!
//! Over candidates `j = 0..n` (the logits `l_j`, at vocabulary positions `p_j`):
//!
//! - a boolean flag `s_j` marks the chosen candidate, and the running count
//!   `c_j = Σ_{k≤j} s_k` ends at `c_{n−1} = 1`: exactly one flag is set, and
//!   `c_j = [j ≥ i*]`, so `1 − c_j = [j < i*]`;
//! - `s_j·(l_j − m) = 0`: the chosen candidate's logit is `m`;
//! - `g_j = m − l_j − (1 − c_j)` is range-checked to `[0, 2^bits)`: `m ≥ l_j` for every `j`
//!   and `m > l_j` for every `j < i*` (one check per candidate covers both);
//! - the running sum `a_j = Σ_{k≤j} s_k·p_k` ends at `a_{n−1} = p_{i*}`, the index.
//!
//! The logits must be signed `bits`-bit integers (their producer's range check): then
//! `m − l_j − (1 − c_j) ∈ [−2^bits, 2^bits)` and the range check is exact, no value wraps
//! around the field.
//!
//! # Candidates and a prior best
//!
//! The positions `p_j` are fixed (`first_index + j`, bound by the verifying key), except
//! for an optional *prior* candidate put first: the best `(index, logit)` of the earlier
//! vocabulary slices, whose index is an advice cell the caller ties to a public input. Being
//! first, it wins ties, which is the tie rule across slices (the lower vocabulary index).
//! A prior logit must be a signed `bits`-bit integer too (it is the range-checked output of
//! the previous slice's proof).
//!
//! # Layout
//!
//! Candidate `j` uses `R = range_rows(bits)` rows from `o + j·R` (the range check of `g_j`
//! runs down the `z` column); every other cell sits on the candidate's first row:
//!
//! | row | `l` | `s` | `c` | `p` (adv) | `a` | `m` | `z` | `pos` (fixed) | selectors |
//! |---|---|---|---|---|---|---|---|---|---|
//! | `o` | `l_0` | `s_0` | `c_0` | `p_0` | `a_0` | `m` | `g_0` | `p_0` / – | `q_row`, `q_first`, (`q_pos`) |
//! | `o + 1 … o + R − 1` | | | | | | | limbs of `g_0` | | |
//! | `o + j·R` | `l_j` | `s_j` | `c_j` | `p_j` | `a_j` | `m` | `g_j` | `p_j` | `q_row`, `q_step`, `q_pos` |
//! | `o + (n−1)·R` | … | | `c = 1` | | `a = i*` | `m` | | | … `q_last` |
//!
//! `q_pos` is off only on a prior candidate's row. Gates (`[-R]` is the previous
//! candidate's row), every constraint of degree ≤ 3:
//!
//! | gate | constraint | equation |
//! |---|---|---|
//! | `argmax candidate` | `chosen is boolean` | `s·(1 − s) = 0` |
//! | | `chosen: logit = max` | `s·(l − m) = 0` |
//! | | `gap = max - logit - [before chosen]` | `z − (m − l − 1 + c) = 0` |
//! | `argmax position` | `p = pos` | `p − pos = 0` |
//! | `argmax first` | `c = s` | `c − s = 0` |
//! | | `a = s*p` | `a − s·p = 0` |
//! | `argmax step` | `c = c[-R] + s` | `c − c[-R] − s = 0` |
//! | | `a = a[-R] + s*p` | `a − a[-R] − s·p = 0` |
//! | | `m = m[-R]` | `m − m[-R] = 0` |
//! | `argmax one chosen` | `c = 1` | `c − 1 = 0` |
//!
//! Lookup `argmax gap`: the range check of `g_j` (unsigned, `bits` bits).
//!
//! # Cost
//!
//! Per candidate `R = ⌈bits/8⌉ + 1` rows (5 for 32-bit logits) and `6 + R` advice cells
//! (`l, s, c, p, a, m` and the gap's limbs), one lookup. Columns: 7 advice (equality on
//! `l`, `p`, `a`, `m`), 1 fixed and the range check's 2 fixed.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::failure::{check, internal, too_wide, unsupported, Chip, Problem, Span};
use crate::field::{cell_i128, i128_to_fr, AssignedFr};
use crate::range::{range_rows, RangeChip, RangeConfig, RangeTableConfig, MAX_RANGE_BITS};

/// Columns, selectors and gates of the argmax chip (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct ArgmaxConfig {
    /// Logit bits (fixes the row stride `R`).
    pub bits: u32,
    /// Candidate logits `l` (equality enabled).
    pub logit: Column<Advice>,
    /// Chosen flags `s`.
    pub chosen: Column<Advice>,
    /// Running count `c` of chosen flags.
    pub count: Column<Advice>,
    /// Candidate positions `p` (equality enabled: a prior's index).
    pub position: Column<Advice>,
    /// Running sum `a` of `s·p` (equality enabled: the index).
    pub index: Column<Advice>,
    /// The maximum `m`, repeated on every candidate row (equality enabled).
    pub max: Column<Advice>,
    /// Fixed positions `pos`.
    pub pos: Column<Fixed>,
    /// Range check of the gaps `g` (its `z` column).
    pub gap: RangeConfig,
    q_row: Selector,
    q_pos: Selector,
    q_first: Selector,
    q_step: Selector,
    q_last: Selector,
}

impl ArgmaxConfig {
    /// Declares the chip's columns and gates for `bits`-bit logits over the shared range
    /// table (assigning fails unless `1 ≤ bits ≤ MAX_RANGE_BITS`).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, table: RangeTableConfig, bits: u32) -> Self {
        let logit = meta.advice_column();
        let chosen = meta.advice_column();
        let count = meta.advice_column();
        let position = meta.advice_column();
        let index = meta.advice_column();
        let max = meta.advice_column();
        for c in [logit, position, index, max] {
            meta.enable_equality(c);
        }
        let pos = meta.fixed_column();
        let z = meta.advice_column();
        let gap = RangeConfig::configure(meta, "argmax gap", z, table);
        let (q_row, q_pos, q_first, q_step, q_last) =
            (meta.selector(), meta.selector(), meta.selector(), meta.selector(), meta.selector());
        let stride = i32::try_from(range_rows(bits, table.layout())).unwrap_or(i32::MAX);
        let one = || Expression::Constant(Fr::ONE);

        meta.create_gate("argmax candidate", |meta| {
            let q = meta.query_selector(q_row);
            let cur = Rotation::cur();
            let (l, s) = (meta.query_advice(logit, cur), meta.query_advice(chosen, cur));
            let (c, m) = (meta.query_advice(count, cur), meta.query_advice(max, cur));
            let g = meta.query_advice(z, cur);
            vec![
                ("chosen is boolean", q.clone() * s.clone() * (one() - s.clone())),
                ("chosen: logit = max", q.clone() * s * (l.clone() - m.clone())),
                ("gap = max - logit - [before chosen]", q * (g - (m - l - one() + c))),
            ]
        });
        meta.create_gate("argmax position", |meta| {
            let q = meta.query_selector(q_pos);
            let p = meta.query_advice(position, Rotation::cur());
            vec![("p = pos", q * (p - meta.query_fixed(pos, Rotation::cur())))]
        });
        meta.create_gate("argmax first", |meta| {
            let q = meta.query_selector(q_first);
            let cur = Rotation::cur();
            let (s, c) = (meta.query_advice(chosen, cur), meta.query_advice(count, cur));
            let (p, a) = (meta.query_advice(position, cur), meta.query_advice(index, cur));
            vec![("c = s", q.clone() * (c - s.clone())), ("a = s*p", q * (a - s * p))]
        });
        meta.create_gate("argmax step", |meta| {
            let q = meta.query_selector(q_step);
            let (cur, prev) = (Rotation::cur(), Rotation(-stride));
            let s = meta.query_advice(chosen, cur);
            let (c, c_prev) = (meta.query_advice(count, cur), meta.query_advice(count, prev));
            let (a, a_prev) = (meta.query_advice(index, cur), meta.query_advice(index, prev));
            let (m, m_prev) = (meta.query_advice(max, cur), meta.query_advice(max, prev));
            let p = meta.query_advice(position, cur);
            vec![
                ("c = c[-R] + s", q.clone() * (c - c_prev - s.clone())),
                ("a = a[-R] + s*p", q.clone() * (a - a_prev - s * p)),
                ("m = m[-R]", q * (m - m_prev)),
            ]
        });
        meta.create_gate("argmax one chosen", |meta| {
            let q = meta.query_selector(q_last);
            vec![("c = 1", q * (meta.query_advice(count, Rotation::cur()) - one()))]
        });

        ArgmaxConfig {
            bits,
            logit,
            chosen,
            count,
            position,
            index,
            max,
            pos,
            gap,
            q_row,
            q_pos,
            q_first,
            q_step,
            q_last,
        }
    }

    /// Rows one candidate uses.
    pub fn stride(&self) -> usize {
        self.gap.rows(self.bits)
    }

    /// Rows [`ArgmaxChip::assign`] uses for `n` candidates (a prior included).
    pub fn rows(&self, n: usize) -> usize {
        n * self.stride()
    }
}

/// A prior best `(index, logit)` of earlier vocabulary slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prior {
    /// Its vocabulary index.
    pub index: u64,
    /// Its logit.
    pub logit: i128,
}

/// The free witness: which candidates are flagged and the claimed maximum (the running
/// count and index sums and the gaps follow from them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgmaxWitness {
    /// `s_j`, one per candidate (a prior first).
    pub chosen: Vec<bool>,
    /// `m`.
    pub max: i128,
}

impl ArgmaxWitness {
    /// The honest witness over candidate values `l` (non-empty): the first maximum.
    pub fn new(l: &[i128]) -> Self {
        let best = first_max(l).map_or(0, |(i, _)| i);
        ArgmaxWitness {
            chosen: (0..l.len()).map(|j| j == best).collect(),
            max: l.get(best).copied().unwrap_or_default(),
        }
    }
}

/// The position and value of the first maximum of `l` (`None` when empty).
pub fn first_max<T: Ord + Copy>(l: &[T]) -> Option<(usize, T)> {
    l.iter().copied().enumerate().fold(None, |best, (j, v)| match best {
        Some((_, b)) if b >= v => best,
        _ => Some((j, v)),
    })
}

/// The cells other chips and instances connect to.
#[derive(Clone, Debug)]
pub struct ArgmaxCells<'v> {
    /// The index of the maximum.
    pub index: AssignedFr<'v>,
    /// The maximum.
    pub max: AssignedFr<'v>,
    /// A prior's `(index, logit)` cells, to tie to the public inputs.
    pub prior: Option<(AssignedFr<'v>, AssignedFr<'v>)>,
}

/// Assigns argmaxes.
#[derive(Clone, Copy, Debug)]
pub struct ArgmaxChip {
    config: ArgmaxConfig,
}

impl ArgmaxChip {
    /// A chip over `config`.
    pub fn construct(config: ArgmaxConfig) -> Self {
        ArgmaxChip { config }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &ArgmaxConfig {
        &self.config
    }

    /// Proves the argmax of an optional `prior` and the logit cells `logits` (at
    /// vocabulary positions `first_index..`) on rows `offset .. offset + rows(n)`; copies
    /// the logits in. `Error::Synthesis` when there is no candidate or a known value is
    /// not a signed `bits`-bit integer.
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        prior: Option<Value<Prior>>,
        logits: &[AssignedFr<'_>],
        first_index: u64,
    ) -> Result<ArgmaxCells<'v>, Error> {
        let bits = self.config.bits;
        if bits == 0 || bits > MAX_RANGE_BITS {
            return Err(too_wide(Chip::Argmax, "logit width", bits, MAX_RANGE_BITS));
        }
        let values: Value<Vec<Option<i128>>> =
            prior.iter().map(|p| p.map(|p| Some(p.logit))).chain(logits.iter().map(cell_i128)).collect();
        let what = if prior.is_some() { "candidate (the prior, then the logits)" } else { "logit" };
        check(&values, Chip::Argmax, |v| {
            Problem::first_outside(what, v.iter().copied(), Span::signed(bits.min(127)))
        })?;
        let w = values.map(|v| ArgmaxWitness::new(&v.into_iter().flatten().collect::<Vec<_>>()));
        let cells = self.assign_witness(region, offset, prior, logits, first_index, w)?;
        Ok(cells)
    }

    /// Assigns the argmax from a precomputed (possibly dishonest) witness; see
    /// [`ArgmaxChip::assign`].
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        prior: Option<Value<Prior>>,
        logits: &[AssignedFr<'_>],
        first_index: u64,
        w: Value<ArgmaxWitness>,
    ) -> Result<ArgmaxCells<'v>, Error> {
        let cfg = &self.config;
        let skip = usize::from(prior.is_some());
        let n = skip + logits.len();
        if logits.is_empty() || cfg.bits == 0 || cfg.bits > MAX_RANGE_BITS {
            let why = format!(
                "{} logits of {} bits (at least one, of 1 to {MAX_RANGE_BITS} bits)",
                logits.len(),
                cfg.bits
            );
            return Err(unsupported(Chip::Argmax, why));
        }
        check(&w, Chip::Argmax, |w| Problem::length("witness's choices", n, w.chosen.len()))?;
        let value = |j: usize| -> Value<i128> {
            match (j.checked_sub(skip), prior) {
                (None, Some(p)) => p.map(|p| p.logit),
                (Some(i), _) => cell_i128(&logits[i]).map(Option::unwrap_or_default),
                (None, None) => Value::unknown(),
            }
        };
        let position = |j: usize| -> Value<u64> {
            match (j.checked_sub(skip), prior) {
                (None, Some(p)) => p.map(|p| p.index),
                (Some(i), _) => Value::known(first_index + i as u64),
                (None, None) => Value::unknown(),
            }
        };
        let range = RangeChip::construct(cfg.gap);
        let (mut count, mut acc) = (Value::known(0u64), Value::known(Fr::ZERO));
        let mut cells = None;
        let mut prior_cells = None;
        for j in 0..n {
            let row = offset + j * cfg.stride();
            cfg.q_row.enable(region, row)?;
            if j == 0 {
                cfg.q_first.enable(region, row)?;
            } else {
                cfg.q_step.enable(region, row)?;
            }
            if j + 1 == n {
                cfg.q_last.enable(region, row)?;
            }
            if j >= skip {
                cfg.q_pos.enable(region, row)?;
                region.assign_fixed(cfg.pos, row, Fr::from(first_index + (j - skip) as u64));
            }
            let s = w.as_ref().map(|w| w.chosen.get(j).copied().unwrap_or_default());
            let m = w.as_ref().map(|w| i128_to_fr(w.max));
            let l = value(j).map(i128_to_fr);
            let p = position(j).map(Fr::from);
            count = count.zip(s).map(|(c, s)| c + u64::from(s));
            acc = acc.zip(s.zip(p)).map(|(a, (s, p))| if s { a + p } else { a });
            let gap = m.zip(l).zip(count).map(|((m, l), c)| m - l - Fr::ONE + Fr::from(c));
            let l_cell = region.assign_advice(cfg.logit, row, l);
            if j >= skip {
                region.constrain_equal(logits[j - skip].cell(), l_cell.cell());
            }
            region.assign_advice(cfg.chosen, row, s.map(|s| Fr::from(u64::from(s))));
            region.assign_advice(cfg.count, row, count.map(Fr::from));
            let p_cell = region.assign_advice(cfg.position, row, p);
            let index = region.assign_advice(cfg.index, row, acc);
            let max = region.assign_advice(cfg.max, row, m);
            range.assign_unsigned(region, row, gap, cfg.bits)?;
            if j < skip {
                prior_cells = Some((p_cell, l_cell));
            }
            cells = Some((index, max));
        }
        let (index, max) = cells.ok_or_else(|| internal(Chip::Argmax, "no logit row was assigned"))?;
        Ok(ArgmaxCells { index, max, prior: prior_cells })
    }
}

#[cfg(test)]
mod tests;
