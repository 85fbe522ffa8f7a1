//! RMSNorm of one token row, exactly as [`zkinfer_quantize::int::ops::rmsnorm`] computes it:
//! `ss = Σ x_i²`, `ms = ⌊ss / d⌋ + eps`, `(m, e) = normalize(ms, 16, 2)`, `r = rsqrt[m]`,
//! `y_i = rescale(x_i · r · g_i, 23 + e + frac − out.frac, out.bits)`.
//!
//! # Relations
//!
//! Per token, with `E =` [`MAX_EXP`] and the weights `g_i`, `d`, `eps` fixed:
//!
//! - sum of squares: `acc_0 = x_0²`, `acc_i = acc_{i−1} + x_i²`, `ss = acc_{d−1}` (a copy);
//! - mean square: `ss = (ms − eps)·d + r_d` with `0 ≤ r_d` and `0 ≤ d − 1 − r_d`, both
//!   range checked at `⌈log2 d⌉` bits, so `ms − eps = ⌊ss / d⌋`;
//! - normalize: `ms = m·4^e + r_e`, where `(e, 4^e, 2^(E−e), lb(e))` is a row of the fixed
//!   exponent table (`e ∈ [0, E]`, `lb(0) = 0`, `lb(e > 0) = 2^14`); `r_e` and
//!   `4^e − 1 − r_e` are range checked at `2E` bits, so `0 ≤ r_e < 4^e`; `m − lb(e)` is
//!   range checked at 16 bits and `m` is the rsqrt table's input, so `m < 2^16` and
//!   (`e = 0` or `m ≥ 2^14`): exactly the `(m, e)` of [`normalize`] (the smallest `e`);
//! - `r = rsqrt[m]` by the rsqrt [`LookupChip`];
//! - `rp = r·2^(E−e)` and per element `a_i = x_i·rp·g_i`;
//! - `y_i = rescale(a_i, 23 + E + frac − out.frac, out.bits)` by the [`RescaleChip`]. Since
//!   `rescale(a·2^j, n + j) = rescale(a, n)` for every `j ≥ 0` (the rounding offset scales
//!   with the shift), this is the reference's `rescale(x_i·r·g_i, 23 + e + frac − out.frac)`
//!   with one fixed shift for every token.
//!
//! # Bounds
//!
//! The caller promises `−2^(x_bits−1) ≤ x_i < 2^(x_bits−1)` with `x_bits ≤ 32` (its cells
//! come out of a range-checked chip). Then `ss < d·2^62`, the table and range checks keep
//! `ms < 2^65`, `r ≤ 2^23`, `2^(E−e) ≤ 2^24`, `|g_i| ≤ 2^15`, so every equation above holds
//! over the integers (all terms are below `2^128 ≪ p`), and `|a_i| ≤ 2^(x_bits+61)`: the
//! rescale site promises `x_bits + 63` input bits. An honest `ms` needs `e ≤ E = 24`,
//! i.e. `ms < 2^64`, which `x_bits ≤ 32` and `eps ≤ 2^62` guarantee.
//!
//! # Layout
//!
//! A token starting at row `o` uses [`NormSite::rows`] rows. Elements sit one per row in
//! the element columns and one per `R = site.rescale_site().rows()` rows in the rescale
//! chip's columns; the token's statistics sit on row `o` of their own columns, with their
//! range checks running down from there:
//!
//! | row | `x` | `acc` | `rp` | `a` | `g` (fixed) | `q_first` | `q_acc` | `q_scale` |
//! |---|---|---|---|---|---|---|---|---|
//! | `o` | `x_0` | `x_0²` | `rp` | `a_0` | `g_0` | 1 | 0 | 1 |
//! | `o + i` | `x_i` | `acc_i` | `rp` | `a_i` | `g_i` | 0 | 1 | 1 |
//!
//! | row | `ss` | `ms` | `e` | `pow4` | `pscale` | `lb` | `rp_tok` | rsqrt `input`/`output` | `z_rd` | `z_rd_gap` | `z_re` | `z_re_gap` | `z_m_low` | `d`, `eps` (fixed) | `q_stats` |
//! |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
//! | `o` | `ss` | `ms` | `e` | `4^e` | `2^(E−e)` | `lb` | `rp` | `m`, `r` | `r_d` | `d−1−r_d` | `r_e` | `4^e−1−r_e` | `m − lb` | `d`, `eps` | 1 |
//! | `o + 1 …` | | | | | | | | | limbs | limbs | limbs | limbs | limbs | | 0 |
//!
//! Gates: `norm square sum` (`q_first`: `acc = x²`; `q_acc`: `acc = acc_prev + x²`),
//! `norm scale` (`q_scale`: `a = x·rp·g`) and `norm stats` (`q_stats`):
//!
//! | constraint | equation |
//! |---|---|
//! | `ss = (ms - eps)*d + r_d` | `ss − (ms − eps)·d − r_d = 0` |
//! | `d - 1 - r_d = gap` | `z_rd_gap − (d − 1 − r_d) = 0` |
//! | `ms = m*4^e + r_e` | `ms − m·pow4 − r_e = 0` |
//! | `4^e - 1 - r_e = gap` | `z_re_gap − (pow4 − 1 − r_e) = 0` |
//! | `m - lb = low` | `z_m_low − (m − lb) = 0` |
//! | `rp = r*2^(E-e)` | `rp_tok − r·pscale = 0` |
//!
//! Lookups: `norm exponent` (`(e, pow4, pscale, lb)` in the exponent table), `rsqrt` (the
//! caller's [`LookupConfig`]), `norm div remainder`, `norm div gap`, `norm exp remainder`,
//! `norm exp gap`, `norm mantissa low` (range checks), and the rescale chip's three.
//! Copies: each `x_i` from the caller, `ss` from `acc_{d−1}`, `rp` from `rp_tok`, each
//! `a_i` into the rescale chip.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;
use zkinfer_quantize::fixed::tables::{LookupTable, RSQRT_MANT_BITS, RSQRT_OUT_FRAC};
use zkinfer_quantize::fixed::{normalize, Scale};
use zkinfer_quantize::qmodel::QNorm;

use crate::failure::{check, check_length, fail, internal, unsupported, Chip, Problem, Span};
use crate::field::{cell_i128, i128_to_fr, pow2, AssignedFr};
use crate::lookup::{LookupChip, LookupConfig};
use crate::pool::ColumnPool;
use crate::range::{range_rows, RangeChip, RangeConfig, RangeLayout, RangeTableConfig};
use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};

/// `E`: the largest exponent of the mean square (`ms < 2^(16 + 2E) = 2^64`).
pub const MAX_EXP: u32 = 24;
/// Widest input the chip accepts.
pub const MAX_X_BITS: u32 = 32;
/// Signed width of the weights `g_i`.
pub const WEIGHT_BITS: u32 = 16;
/// Largest `eps` (keeps an honest `ms` below `2^64`).
pub const MAX_EPS: i64 = 1 << 62;
/// Width of the normalize remainder checks (`4^E − 1` fits).
const EXP_REMAINDER_BITS: u32 = 2 * MAX_EXP;
/// Lower bound of a mantissa with `e > 0`.
const MANT_LOW: u64 = 1 << (RSQRT_MANT_BITS - 2);

/// The constants of one RMSNorm: a [`QNorm`] and the width its inputs promise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormSite {
    weight: Vec<i64>,
    frac: u32,
    out: Scale,
    eps: i64,
    x_bits: u32,
    rescale: RescaleSite,
}

impl NormSite {
    /// The site of `norm` over inputs of `x_bits` signed bits, or `Error::Synthesis` when
    /// `x_bits ∉ 1..=32`, there are no weights (or `2^32` or more), a weight is not a
    /// 16-bit signed value, `eps ∉ 1..=2^62`, `23 + E + frac < out.frac` or the output
    /// rescale is not a valid [`RescaleSite`].
    pub fn new(norm: &QNorm, x_bits: u32) -> Result<Self, Error> {
        let d = norm.weight.len();
        if !(1..=MAX_X_BITS).contains(&x_bits) {
            return Err(unsupported(
                Chip::Norm,
                format!("inputs of {x_bits} bits (1 to {MAX_X_BITS} are supported)"),
            ));
        }
        if d == 0 || u32::try_from(d).is_err() {
            return Err(unsupported(Chip::Norm, format!("{d} weights (1 to 2^32 − 1 are supported)")));
        }
        let weights = norm.weight.iter().map(|&g| Some(i128::from(g)));
        if let Some(problem) = Problem::first_outside("weight", weights, Span::signed(WEIGHT_BITS)) {
            return Err(fail(Chip::Norm, problem));
        }
        if let Some(problem) = Problem::unless_in("eps", Some(norm.eps.into()), Span::new(1, MAX_EPS.into()))
        {
            return Err(fail(Chip::Norm, problem));
        }
        let Some(shift) = (RSQRT_OUT_FRAC + MAX_EXP + norm.frac).checked_sub(norm.out.frac) else {
            let why = format!(
                "an output of {} fractional bits, more than rsqrt's {RSQRT_OUT_FRAC} + {MAX_EXP} + the weights' {}",
                norm.out.frac, norm.frac
            );
            return Err(unsupported(Chip::Norm, why));
        };
        let product_bits = x_bits + RSQRT_OUT_FRAC + (WEIGHT_BITS - 1) + MAX_EXP + 1;
        let rescale = RescaleSite::new(shift, norm.out.bits, product_bits)?;
        Ok(NormSite {
            weight: norm.weight.clone(),
            frac: norm.frac,
            out: norm.out,
            eps: norm.eps,
            x_bits,
            rescale,
        })
    }

    /// `d`: the row width.
    pub fn d(&self) -> usize {
        self.weight.len()
    }

    /// The output rescale `(23 + E + frac − out.frac, out.bits)`.
    pub fn rescale_site(&self) -> RescaleSite {
        self.rescale
    }

    /// Width of the mean-square remainder checks: the bits of `d − 1`.
    pub fn div_bits(&self) -> u32 {
        u64::BITS - (self.d() as u64 - 1).leading_zeros()
    }

    /// Rows one token uses in the range layout `layout`.
    pub fn rows(&self, layout: RangeLayout) -> usize {
        let r = |bits| range_rows(bits, layout);
        let stats = r(EXP_REMAINDER_BITS).max(r(self.div_bits())).max(r(RSQRT_MANT_BITS));
        (self.d() * self.rescale.rows(layout)).max(stats)
    }
}

/// Every free witness value of one token; the rest (`acc_i`, `4^e`, `2^(E−e)`, `lb`, `rp`,
/// `a_i` and the range-check gaps) is derived from it when assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormWitness {
    /// The inputs.
    pub x: Vec<i128>,
    /// `Σ x_i²`.
    pub ss: i128,
    /// `⌊ss / d⌋ + eps`.
    pub ms: i128,
    /// `ss − (ms − eps)·d`.
    pub r_d: i128,
    /// Mantissa: the rsqrt table's input.
    pub m: i128,
    /// Exponent.
    pub e: u32,
    /// `ms − m·4^e`.
    pub r_e: i128,
    /// `rsqrt[m]`.
    pub r: i128,
    /// The output rescale of each `a_i = x_i·r·2^(E−e)·g_i`.
    pub rescale: Vec<RescaleWitness>,
}

impl NormWitness {
    /// The honest witness for the row `x` (`x.len() = d`).
    pub fn new(x: &[i128], site: &NormSite, rsqrt: &LookupTable) -> Self {
        let d = site.d() as i128;
        let ss: i128 = x.iter().map(|v| v * v).sum();
        let ms = ss.div_euclid(d) + i128::from(site.eps);
        let r_d = ss - (ms - i128::from(site.eps)) * d;
        let (m, e) = normalize(ms, RSQRT_MANT_BITS, 2);
        Self::with_normalization(x, site, rsqrt, ms, r_d, i128::from(m), e)
    }

    /// The witness that takes `ms`, `r_d`, `m` and `e` as given and derives the rest
    /// honestly: `r_e = ms − m·4^e`, `r = rsqrt[m]` (0 outside the table), the products
    /// and their rescales (with `2^(E−e)` read as 0 for `e > E`).
    pub fn with_normalization(
        x: &[i128],
        site: &NormSite,
        rsqrt: &LookupTable,
        ms: i128,
        r_d: i128,
        m: i128,
        e: u32,
    ) -> Self {
        let ss: i128 = x.iter().map(|v| v * v).sum();
        let r_e = ms - m * 4i128.pow(e);
        let r = i64::try_from(m).ok().and_then(|m| rsqrt.get(m)).map_or(0, i128::from);
        let scale = MAX_EXP.checked_sub(e).map_or(0, |j| 1i128 << j);
        let rescale = x
            .iter()
            .zip(&site.weight)
            .map(|(&x, &g)| RescaleWitness::new(x * r * scale * i128::from(g), &site.rescale))
            .collect();
        NormWitness { x: x.to_vec(), ss, ms, r_d, m, e, r_e, r, rescale }
    }
}

/// The fixed exponent table: `(e, 4^e, 2^(E−e), lb(e))` for `e ∈ [0, E]`, tagged 1; the
/// untagged rows past it read `(0, 0, 0, 0, 0)`, which a disabled row matches.
#[derive(Clone, Copy, Debug)]
pub struct ExpTableConfig {
    /// 1 on the table's rows.
    pub tag: Column<Fixed>,
    /// `e`.
    pub exp: Column<Fixed>,
    /// `4^e`.
    pub pow4: Column<Fixed>,
    /// `2^(E−e)`.
    pub scale: Column<Fixed>,
    /// `0` for `e = 0`, `2^14` otherwise.
    pub low: Column<Fixed>,
}

/// Columns, selectors, gates and lookups of the RMSNorm chip (see the
/// [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct NormConfig {
    /// Inputs `x_i` (equality enabled).
    pub x: Column<Advice>,
    /// Running sum of squares (equality enabled).
    pub acc: Column<Advice>,
    /// The token's `rp`, copied onto every element row (equality enabled).
    pub rp: Column<Advice>,
    /// Products `a_i` (equality enabled).
    pub a: Column<Advice>,
    /// Weights `g_i`.
    pub weight: Column<Fixed>,
    /// Enables `acc = x²`.
    pub q_first: Selector,
    /// Enables `acc = acc_prev + x²`.
    pub q_acc: Selector,
    /// Enables `a = x·rp·g`.
    pub q_scale: Selector,
    /// `ss` (equality enabled).
    pub ss: Column<Advice>,
    /// `ms`.
    pub ms: Column<Advice>,
    /// `e`.
    pub exp: Column<Advice>,
    /// `4^e`.
    pub pow4: Column<Advice>,
    /// `2^(E−e)`.
    pub scale: Column<Advice>,
    /// `lb(e)`.
    pub low: Column<Advice>,
    /// The token's `rp` (equality enabled).
    pub rp_tok: Column<Advice>,
    /// `d`.
    pub d: Column<Fixed>,
    /// `eps`.
    pub eps: Column<Fixed>,
    /// Enables the `norm stats` gate and the exponent lookup.
    pub q_stats: Selector,
    /// The exponent table.
    pub exp_table: ExpTableConfig,
    /// `r_d` (unsigned, `div_bits`).
    pub div_rem: RangeConfig,
    /// `d − 1 − r_d` (unsigned, `div_bits`).
    pub div_gap: RangeConfig,
    /// `r_e` (unsigned, `2E` bits).
    pub exp_rem: RangeConfig,
    /// `4^e − 1 − r_e` (unsigned, `2E` bits).
    pub exp_gap: RangeConfig,
    /// `m − lb(e)` (unsigned, 16 bits).
    pub mant_low: RangeConfig,
    /// The rsqrt lookup (its input holds `m`, its output `r`).
    pub rsqrt: LookupConfig,
    /// The output rescale.
    pub rescale: RescaleConfig,
}

impl NormConfig {
    /// Declares the chip's columns, gates and lookups over the shared range table, an
    /// rsqrt lookup and a rescale chip (both may be shared with other chips).
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        table: RangeTableConfig,
        rsqrt: LookupConfig,
        rescale: RescaleConfig,
    ) -> Self {
        Self::configure_in(meta, &mut ColumnPool::fresh(), table, rsqrt, rescale)
    }

    /// [`Self::configure`] with the chip's own advice and range-check columns drawn from
    /// `pool`.
    pub fn configure_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        table: RangeTableConfig,
        rsqrt: LookupConfig,
        rescale: RescaleConfig,
    ) -> Self {
        let mut advice = |eq: bool| pool.advice(meta, eq);
        let (x, acc, rp, a) = (advice(true), advice(true), advice(true), advice(true));
        let (ss, ms, exp, pow4, scale, low, rp_tok) = (
            advice(true),
            advice(false),
            advice(false),
            advice(false),
            advice(false),
            advice(false),
            advice(true),
        );
        let weight = meta.fixed_column();
        let d = meta.fixed_column();
        let eps = meta.fixed_column();
        let (q_first, q_acc, q_scale) = (meta.selector(), meta.selector(), meta.selector());
        let q_stats = meta.complex_selector();
        let exp_table = ExpTableConfig {
            tag: meta.fixed_column(),
            exp: meta.fixed_column(),
            pow4: meta.fixed_column(),
            scale: meta.fixed_column(),
            low: meta.fixed_column(),
        };
        let div_rem = pool.range(meta, "norm div remainder", table);
        let div_gap = pool.range(meta, "norm div gap", table);
        let exp_rem = pool.range(meta, "norm exp remainder", table);
        let exp_gap = pool.range(meta, "norm exp gap", table);
        let mant_low = pool.range(meta, "norm mantissa low", table);
        let (z_rd, z_rd_gap, z_re, z_re_gap, z_m_low) =
            (div_rem.z, div_gap.z, exp_rem.z, exp_gap.z, mant_low.z);

        meta.create_gate("norm square sum", |meta| {
            let first = meta.query_selector(q_first);
            let step = meta.query_selector(q_acc);
            let x = meta.query_advice(x, Rotation::cur());
            let acc_cur = meta.query_advice(acc, Rotation::cur());
            let acc_prev = meta.query_advice(acc, Rotation::prev());
            vec![
                ("acc = x^2", first * (acc_cur.clone() - x.clone() * x.clone())),
                ("acc = acc_prev + x^2", step * (acc_cur - acc_prev - x.clone() * x)),
            ]
        });

        meta.create_gate("norm scale", |meta| {
            let q = meta.query_selector(q_scale);
            let x = meta.query_advice(x, Rotation::cur());
            let rp = meta.query_advice(rp, Rotation::cur());
            let a = meta.query_advice(a, Rotation::cur());
            let g = meta.query_fixed(weight, Rotation::cur());
            vec![("a = x*rp*g", q * (a - x * rp * g))]
        });

        meta.create_gate("norm stats", |meta| {
            let q = meta.query_selector(q_stats);
            let cur = Rotation::cur();
            let ss = meta.query_advice(ss, cur);
            let ms = meta.query_advice(ms, cur);
            let pow4 = meta.query_advice(pow4, cur);
            let scale = meta.query_advice(scale, cur);
            let low = meta.query_advice(low, cur);
            let rp_tok = meta.query_advice(rp_tok, cur);
            let m = meta.query_advice(rsqrt.input, cur);
            let r = meta.query_advice(rsqrt.output, cur);
            let r_d = meta.query_advice(z_rd, cur);
            let rd_gap = meta.query_advice(z_rd_gap, cur);
            let r_e = meta.query_advice(z_re, cur);
            let re_gap = meta.query_advice(z_re_gap, cur);
            let m_low = meta.query_advice(z_m_low, cur);
            let d = meta.query_fixed(d, cur);
            let eps = meta.query_fixed(eps, cur);
            let one = Expression::Constant(Fr::ONE);
            vec![
                ("ss = (ms - eps)*d + r_d", q.clone() * (ss - (ms.clone() - eps) * d.clone() - r_d.clone())),
                ("d - 1 - r_d = gap", q.clone() * (rd_gap - (d - one.clone() - r_d))),
                ("ms = m*4^e + r_e", q.clone() * (ms - m.clone() * pow4.clone() - r_e.clone())),
                ("4^e - 1 - r_e = gap", q.clone() * (re_gap - (pow4 - one - r_e))),
                ("m - lb = low", q.clone() * (m_low - (m - low))),
                ("rp = r*2^(E-e)", q * (rp_tok - r * scale)),
            ]
        });

        meta.lookup_any("norm exponent", |meta| {
            let q = meta.query_selector(q_stats);
            let cur = Rotation::cur();
            let pairs = [
                (exp, exp_table.exp),
                (pow4, exp_table.pow4),
                (scale, exp_table.scale),
                (low, exp_table.low),
            ];
            let mut args = vec![(q.clone(), meta.query_fixed(exp_table.tag, cur))];
            for (advice, fixed) in pairs {
                args.push((q.clone() * meta.query_advice(advice, cur), meta.query_fixed(fixed, cur)));
            }
            args
        });

        NormConfig {
            x,
            acc,
            rp,
            a,
            weight,
            q_first,
            q_acc,
            q_scale,
            ss,
            ms,
            exp,
            pow4,
            scale,
            low,
            rp_tok,
            d,
            eps,
            q_stats,
            exp_table,
            div_rem,
            div_gap,
            exp_rem,
            exp_gap,
            mant_low,
            rsqrt,
            rescale,
        }
    }
}

/// The cells of one token that other chips connect to or inspect.
#[derive(Clone, Debug)]
pub struct NormCells<'v> {
    /// The chip's copies of the inputs.
    pub x: Vec<AssignedFr<'v>>,
    /// The outputs `y_i` (in the rescale chip's output column).
    pub y: Vec<AssignedFr<'v>>,
    /// `Σ x_i²`.
    pub ss: AssignedFr<'v>,
    /// `⌊ss / d⌋ + eps`.
    pub ms: AssignedFr<'v>,
    /// The mantissa `m`.
    pub m: AssignedFr<'v>,
    /// The exponent `e`.
    pub e: AssignedFr<'v>,
    /// `rsqrt[m]`.
    pub r: AssignedFr<'v>,
}

/// Assigns RMSNorm tokens.
#[derive(Clone, Debug)]
pub struct NormChip {
    config: NormConfig,
    rsqrt: LookupChip,
}

impl NormChip {
    /// A chip over `config` whose rsqrt lookup holds `rsqrt` (the caller loads that table
    /// and the range table; [`NormChip::load`] loads the exponent table).
    pub fn construct(config: NormConfig, rsqrt: &LookupTable) -> Self {
        NormChip { config, rsqrt: LookupChip::construct(config.rsqrt, rsqrt) }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &NormConfig {
        &self.config
    }

    /// Fills the exponent table's fixed columns, rows `0 ..= E`.
    pub fn load(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        let t = self.config.exp_table;
        layouter.assign_region(
            || "norm exponent table",
            |mut region| {
                for e in 0..=MAX_EXP {
                    let row = e as usize;
                    region.assign_fixed(t.tag, row, Fr::ONE);
                    region.assign_fixed(t.exp, row, Fr::from(u64::from(e)));
                    region.assign_fixed(t.pow4, row, pow2(2 * e));
                    region.assign_fixed(t.scale, row, pow2(MAX_EXP - e));
                    region.assign_fixed(t.low, row, Fr::from(if e == 0 { 0 } else { MANT_LOW }));
                }
                Ok(())
            },
        )
    }

    /// Normalizes the token whose inputs are the cells `x` at rows
    /// `offset .. offset + site.rows()`: copies them in and returns the token's cells.
    /// Fails with `Error::Synthesis` when `x` has the wrong length, a value is outside the
    /// site's `x_bits`, or the mean square needs an exponent above [`MAX_EXP`].
    pub fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        x: &[AssignedFr<'_>],
        site: &NormSite,
    ) -> Result<NormCells<'v>, Error> {
        let values: Value<Vec<Option<i128>>> = x.iter().map(cell_i128).collect();
        check(&values, Chip::Norm, |v| {
            Problem::first_outside("input", v.iter().copied(), Span::signed(site.x_bits))
        })?;
        let witness = values.map(|v| {
            NormWitness::new(&v.into_iter().flatten().collect::<Vec<_>>(), site, self.rsqrt.table())
        });
        check(&witness, Chip::Norm, |w| {
            Problem::unless_in("mean square's exponent", Some(w.e.into()), Span::new(0, MAX_EXP.into()))
        })?;
        self.assign_witness(region, offset, x, site, witness.as_ref())
    }

    /// Assigns one token from a precomputed (possibly dishonest) witness at rows
    /// `offset .. offset + site.rows()`, copying the witness's `x` cells to `x`.
    pub fn assign_witness<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        x: &[AssignedFr<'_>],
        site: &NormSite,
        w: Value<&NormWitness>,
    ) -> Result<NormCells<'v>, Error> {
        let d = site.d();
        check_length(Chip::Norm, "token", d, x.len())?;
        check(&w, Chip::Norm, |w| {
            Problem::length("witness's inputs", d, w.x.len())
                .or_else(|| Problem::length("witness's rescales", d, w.rescale.len()))
        })?;
        let cfg = &self.config;
        let o = offset;

        // Token statistics on row o.
        let pow4 = w.map(|w| pow2(2 * w.e));
        let scale = w.map(|w| MAX_EXP.checked_sub(w.e).map_or(Fr::ZERO, pow2));
        let low = w.map(|w| Fr::from(if w.e == 0 { 0 } else { MANT_LOW }));
        let rp = w.map(|w| i128_to_fr(w.r)).zip(scale).map(|(r, s)| r * s);
        cfg.q_stats.enable(region, o)?;
        region.assign_fixed(cfg.d, o, Fr::from(d as u64));
        region.assign_fixed(cfg.eps, o, Fr::from(site.eps as u64));
        let ss = region.assign_advice(cfg.ss, o, w.map(|w| i128_to_fr(w.ss)));
        let ms = region.assign_advice(cfg.ms, o, w.map(|w| i128_to_fr(w.ms)));
        let e = region.assign_advice(cfg.exp, o, w.map(|w| Fr::from(u64::from(w.e))));
        region.assign_advice(cfg.pow4, o, pow4);
        region.assign_advice(cfg.scale, o, scale);
        region.assign_advice(cfg.low, o, low);
        let rp_tok = region.assign_advice(cfg.rp_tok, o, rp);
        let (m, r) = self.rsqrt.assign_pair(region, o, w.map(|w| (w.m, w.r)))?;
        let fr = |f: fn(&NormWitness) -> i128| w.map(|w| i128_to_fr(f(w)));
        let div_bits = site.div_bits();
        let rd_gap = fr(|w| w.r_d).map(|r_d| Fr::from(d as u64) - Fr::ONE - r_d);
        let re_gap = fr(|w| w.r_e).zip(pow4).map(|(r_e, p)| p - Fr::ONE - r_e);
        let m_low = fr(|w| w.m).zip(low).map(|(m, l)| m - l);
        RangeChip::construct(cfg.div_rem).assign_unsigned(region, o, fr(|w| w.r_d), div_bits)?;
        RangeChip::construct(cfg.div_gap).assign_unsigned(region, o, rd_gap, div_bits)?;
        RangeChip::construct(cfg.exp_rem).assign_unsigned(region, o, fr(|w| w.r_e), EXP_REMAINDER_BITS)?;
        RangeChip::construct(cfg.exp_gap).assign_unsigned(region, o, re_gap, EXP_REMAINDER_BITS)?;
        RangeChip::construct(cfg.mant_low).assign_unsigned(region, o, m_low, RSQRT_MANT_BITS)?;

        // Elements: one per row here, one per `rescale rows` in the rescale chip.
        let rescale = RescaleChip::construct(cfg.rescale);
        let step = cfg.rescale.rows(&site.rescale);
        let mut acc = Value::known(Fr::ZERO);
        let (mut xs, mut ys) = (Vec::with_capacity(d), Vec::with_capacity(d));
        let mut acc_cell = None;
        for (i, (x_in, &g)) in x.iter().zip(&site.weight).enumerate() {
            let row = o + i;
            if i == 0 {
                cfg.q_first.enable(region, row)?;
            } else {
                cfg.q_acc.enable(region, row)?;
            }
            cfg.q_scale.enable(region, row)?;
            let g = i128_to_fr(i128::from(g));
            region.assign_fixed(cfg.weight, row, g);
            let xv = w.map(|w| i128_to_fr(w.x[i]));
            acc = acc.zip(xv).map(|(acc, x)| acc + x * x);
            let x_cell = region.assign_advice(cfg.x, row, xv);
            region.constrain_equal(x_in.cell(), x_cell.cell());
            acc_cell = Some(region.assign_advice(cfg.acc, row, acc));
            let rp_cell = region.assign_advice(cfg.rp, row, rp);
            region.constrain_equal(rp_tok.cell(), rp_cell.cell());
            let a = region.assign_advice(cfg.a, row, xv.zip(rp).map(|(x, rp)| x * rp * g));
            let cells =
                rescale.assign_witness(region, o + i * step, &site.rescale, w.map(|w| w.rescale[i]))?;
            region.constrain_equal(a.cell(), cells.x.cell());
            xs.push(x_cell);
            ys.push(cells.y);
        }
        let last = acc_cell.ok_or_else(|| internal(Chip::Norm, "no running sum was assigned"))?;
        region.constrain_equal(last.cell(), ss.cell());
        Ok(NormCells { x: xs, y: ys, ss, ms, m, e, r })
    }
}

#[cfg(test)]
mod tests;
