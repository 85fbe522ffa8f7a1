//! Rotary position embedding, exactly as [`zkinfer_quantize::int::ops::rope`] computes it.
//!
//! For the pair `(a, b) = (x[i], x[i + D/2])` of a head at position `pos`, with the
//! constants `c = cos[pos·D/2 + i]`, `s = sin[pos·D/2 + i]` of a [`RopeTable`]
//! ([`ROPE_FRAC`]` = 14` fractional bits):
//!
//! - `a' = rescale(a·c − b·s, 14, bits)`;
//! - `b' = rescale(b·c + a·s, 14, bits)`.
//!
//! `c` and `s` live in fixed columns, so the verifying key binds every constant to its
//! row: a proof made with another position's constants fails the `rope` gate.
//!
//! # Layout
//!
//! A pair uses `2R` rows from its offset `o`, `R = site.rows()`, sharing the rescale chip's
//! columns: the gate writes the pre-rescale value into the rescale input `x` of the same
//! row. The second rescale reuses the same gate with `a`, `b` swapped and `−s`, since
//! `b·c + a·s = b·c − a·(−s)`:
//!
//! | row | `a` | `b` | `cos` | `sin` | `q_rope` | rescale chip |
//! |---|---|---|---|---|---|---|
//! | `o` | `a` | `b` | `c` | `s` | 1 | `x = a·c − b·s` → `a'` |
//! | `o + R` | `b` | `a` | `c` | `−s` | 1 | `x = b·c + a·s` → `b'` |
//!
//! The two copies of `a` (and of `b`) are tied by copy constraints. Gate `rope`
//! (on `q_rope`), degree 3:
//!
//! | constraint | equation |
//! |---|---|
//! | `x = a*c - b*s` | `x − a·cos + b·sin = 0` |
//!
//! Bounds: with `|a|, |b| < 2^(in_bits−1)` and `|c|, |s| ≤ 2^14`, `|a·c − b·s| < 2^(in_bits+14)`,
//! so the rescale site promises `x_bits = in_bits + 16` ([`rope_site`]).

use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Fixed, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::fixed::tables::ROPE_FRAC;
use zkinfer_quantize::qmodel::RopeTable;

use crate::failure::{check, check_length, internal, unsupported, Chip, Problem};
use crate::field::{cell_i128, i128_to_fr, AssignedFr};
use crate::range::RangeLayout;
use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};

/// The rescale site of a RoPE output: shift [`ROPE_FRAC`], output width `bits`, inputs of
/// `in_bits` bits (`Error::Synthesis` when the widths are out of the rescale chip's reach).
pub fn rope_site(in_bits: u32, bits: u32) -> Result<RescaleSite, Error> {
    RescaleSite::new(ROPE_FRAC, bits, in_bits + ROPE_FRAC + 2)
}

/// The shape `[seq, heads, head_dim]` of a rotated tensor (row-major, as `ops::rope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RopeShape {
    /// Positions `t`.
    pub seq: usize,
    /// Heads.
    pub heads: usize,
    /// Head dimension `D` (even).
    pub head_dim: usize,
}

impl RopeShape {
    /// Elements of the tensor.
    pub fn len(&self) -> usize {
        self.seq * self.heads * self.head_dim
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rotated pairs of the tensor.
    pub fn pairs(&self) -> usize {
        self.seq * self.heads * (self.head_dim / 2)
    }
}

/// Every witness value of one pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RopeWitness {
    /// First input `a = x[i]`.
    pub a: i128,
    /// Second input `b = x[i + D/2]`.
    pub b: i128,
    /// The rescale of `a·c − b·s`.
    pub real: RescaleWitness,
    /// The rescale of `b·c + a·s`.
    pub imag: RescaleWitness,
}

impl RopeWitness {
    /// The honest witness of `(a, b)` rotated by `(c, s)`.
    pub fn new(a: i128, b: i128, (c, s): (i64, i64), site: &RescaleSite) -> Self {
        let (c, s) = (i128::from(c), i128::from(s));
        RopeWitness {
            a,
            b,
            real: RescaleWitness::new(a * c - b * s, site),
            imag: RescaleWitness::new(b * c + a * s, site),
        }
    }
}

/// Columns, fixed constants, selector and gate of the RoPE chip (see the
/// [module docs](self)); the rescale columns are shared.
#[derive(Clone, Copy, Debug)]
pub struct RopeConfig {
    /// First operand (equality enabled).
    pub a: Column<Advice>,
    /// Second operand (equality enabled).
    pub b: Column<Advice>,
    /// The cosine constant.
    pub cos: Column<Fixed>,
    /// The sine constant (negated on a pair's second row).
    pub sin: Column<Fixed>,
    /// Enables the `rope` gate.
    pub q_rope: Selector,
    /// The rescale the gate feeds.
    pub rescale: RescaleConfig,
}

impl RopeConfig {
    /// Declares the gate `rope` over the operand columns `a`, `b` (which may be shared
    /// with other chips) and the input column of `rescale`.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        rescale: RescaleConfig,
        a: Column<Advice>,
        b: Column<Advice>,
    ) -> Self {
        meta.enable_equality(a);
        meta.enable_equality(b);
        let cos = meta.fixed_column();
        let sin = meta.fixed_column();
        let q_rope = meta.selector();
        meta.create_gate("rope", |meta| {
            let q = meta.query_selector(q_rope);
            let cur = Rotation::cur();
            let x = meta.query_advice(rescale.x, cur);
            let a = meta.query_advice(a, cur);
            let b = meta.query_advice(b, cur);
            let c = meta.query_fixed(cos, cur);
            let s = meta.query_fixed(sin, cur);
            vec![("x = a*c - b*s", q * (x - a * c + b * s))]
        });
        RopeConfig { a, b, cos, sin, q_rope, rescale }
    }
}

/// The cells of one pair that other chips connect to.
#[derive(Clone, Debug)]
pub struct RopeCells<'v> {
    /// The input `a` (first row).
    pub a: AssignedFr<'v>,
    /// The input `b` (first row).
    pub b: AssignedFr<'v>,
    /// The output `a'`.
    pub real: AssignedFr<'v>,
    /// The output `b'`.
    pub imag: AssignedFr<'v>,
}

/// Assigns rotated pairs and tensors.
#[derive(Clone, Copy, Debug)]
pub struct RopeChip {
    config: RopeConfig,
}

impl RopeChip {
    /// A chip over `config`.
    pub fn construct(config: RopeConfig) -> Self {
        RopeChip { config }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &RopeConfig {
        &self.config
    }

    /// Rows one pair uses in the range layout `layout`.
    pub fn pair_rows(site: &RescaleSite, layout: RangeLayout) -> usize {
        2 * site.rows(layout)
    }

    /// Rows a whole tensor uses in the range layout `layout`.
    pub fn tensor_rows(shape: RopeShape, site: &RescaleSite, layout: RangeLayout) -> usize {
        shape.pairs() * Self::pair_rows(site, layout)
    }

    /// Rotates the values of the cells `a`, `b` by the constants `(c, s)` at rows
    /// `offset .. offset + pair_rows(site)`: copies them in and returns the cells of
    /// `(a', b')`. `Error::Synthesis` when a pre-rescale value is outside the site's reach.
    pub fn assign_pair<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        a: &AssignedFr<'_>,
        b: &AssignedFr<'_>,
        constants: (i64, i64),
        site: &RescaleSite,
    ) -> Result<(AssignedFr<'v>, AssignedFr<'v>), Error> {
        let witness = cell_i128(a).zip(cell_i128(b)).map(|pair| match pair {
            (Some(a), Some(b)) => {
                let w = RopeWitness::new(a, b, constants, site);
                (site.accepts(w.real.x) && site.accepts(w.imag.x)).then_some(w)
            }
            _ => None,
        });
        let xs = cell_i128(a).zip(cell_i128(b)).map(|pair| match pair {
            (Some(a), Some(b)) => {
                let w = RopeWitness::new(a, b, constants, site);
                [Some(w.real.x), Some(w.imag.x)]
            }
            (a, b) => [a, b],
        });
        let what = "pre-rescale (a·cos − b·sin, a·sin + b·cos)";
        check(&xs, Chip::Rope, |xs| Problem::first_outside(what, xs.iter().copied(), site.input_span()))?;
        let fallback = RopeWitness::new(0, 0, constants, site);
        let cells =
            self.assign_witness(region, offset, site, constants, witness.map(|w| w.unwrap_or(fallback)))?;
        region.constrain_equal(a.cell(), cells.a.cell());
        region.constrain_equal(b.cell(), cells.b.cell());
        Ok((cells.real, cells.imag))
    }

    /// Assigns one pair from a precomputed (possibly dishonest) witness at rows
    /// `offset .. offset + pair_rows(site)`, with the constants `(c, s)` in the fixed
    /// columns.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        site: &RescaleSite,
        (c, s): (i64, i64),
        w: Value<RopeWitness>,
    ) -> Result<RopeCells<'v>, Error> {
        let cfg = &self.config;
        let second = offset + cfg.rescale.rows(site);
        let (c, s) = (i128_to_fr(i128::from(c)), i128_to_fr(i128::from(s)));
        for (row, sin) in [(offset, s), (second, -s)] {
            cfg.q_rope.enable(region, row)?;
            region.assign_fixed(cfg.cos, row, c);
            region.assign_fixed(cfg.sin, row, sin);
        }
        let a_val = w.map(|w| i128_to_fr(w.a));
        let b_val = w.map(|w| i128_to_fr(w.b));
        let a = region.assign_advice(cfg.a, offset, a_val);
        let b = region.assign_advice(cfg.b, offset, b_val);
        let b_again = region.assign_advice(cfg.a, second, b_val);
        let a_again = region.assign_advice(cfg.b, second, a_val);
        region.constrain_equal(a.cell(), a_again.cell());
        region.constrain_equal(b.cell(), b_again.cell());
        let rescale = RescaleChip::construct(cfg.rescale);
        let real = rescale.assign_witness(region, offset, site, w.map(|w| w.real))?.y;
        let imag = rescale.assign_witness(region, second, site, w.map(|w| w.imag))?.y;
        Ok(RopeCells { a, b, real, imag })
    }

    /// Rotates a `[seq, heads, head_dim]` tensor whose first position is `first_pos`
    /// (`ops::rope` starts at 0) at rows `offset .. offset + tensor_rows(shape, site)`;
    /// returns the output cells in the input's order. `Error::Synthesis` when `xs` does
    /// not have the shape, `head_dim` is odd, or the table does not cover the positions
    /// or the head dimension.
    #[allow(clippy::too_many_arguments)]
    pub fn assign_tensor<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        xs: &[AssignedFr<'_>],
        shape: RopeShape,
        first_pos: usize,
        table: &RopeTable,
        site: &RescaleSite,
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let half = shape.head_dim / 2;
        let fits = xs.len() == shape.len()
            && shape.head_dim.is_multiple_of(2)
            && table.half == half
            && first_pos + shape.seq <= table.max_seq
            && table.cos.len() >= table.max_seq * half
            && table.sin.len() >= table.max_seq * half;
        if !fits {
            check_length(Chip::Rope, "input", shape.len(), xs.len())?;
            let why = format!(
                "{} tokens from position {first_pos} at head dimension {} over a table of {} positions and half {}",
                shape.seq, shape.head_dim, table.max_seq, table.half
            );
            return Err(unsupported(Chip::Rope, why));
        }
        let mut ys: Vec<Option<AssignedFr<'v>>> = vec![None; xs.len()];
        let mut row = offset;
        for p in 0..shape.seq {
            let pos = first_pos + p;
            for h in 0..shape.heads {
                let base = (p * shape.heads + h) * shape.head_dim;
                for i in 0..half {
                    let constants = (table.cos[pos * half + i], table.sin[pos * half + i]);
                    let (a, b) = (&xs[base + i], &xs[base + i + half]);
                    let (real, imag) = self.assign_pair(region, row, a, b, constants, site)?;
                    ys[base + i] = Some(real);
                    ys[base + i + half] = Some(imag);
                    row += Self::pair_rows(site, self.config.rescale.range_layout());
                }
            }
        }
        ys.into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| internal(Chip::Rope, "an output was not assigned"))
    }
}

#[cfg(test)]
mod tests;
