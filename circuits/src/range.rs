//! Range checks by byte decomposition: `0 ≤ v < 2^bits` and `−2^(bits−1) ≤ v < 2^(bits−1)`.
//!
//! # Limb width
//!
//! A value is split into [`LIMB_BITS`]`= 8`-bit limbs, each looked up in a table of
//! `(limb, width)` pairs. Eight bits is chosen from `PROVER-COSTS.md`: the table has
//! `2^9 − 1 = 511` rows, so it never decides a circuit's `k` (chips and chunk circuits
//! without a 2^16 nonlinearity table can run at `k ≈ 10`), and byte-sized witnesses are
//! small MSM scalars that commit almost for free. Wider limbs (15 bits would still fit the
//! `k = 17` that the 2^16-row model tables force) would halve the limb cells per check,
//! at the price of a table that dictates `k` for every circuit using a range check.
//!
//! # Layout
//!
//! One check of `n = ⌈bits / 8⌉` limbs uses `n + 1` rows of a single advice column `z`
//! (a running sum, most significant part last), starting at the row of the value:
//!
//! | row | `z` (advice) | `offset` (fixed) | `width` (fixed) | `q_limb` | `q_end` |
//! |---|---|---|---|---|---|
//! | `o` | `z₀ = v` | `c` | `w₀` | 1 | 0 |
//! | `o + i` (`0 < i < n`) | `zᵢ = ⌊(v + c) / 2^(8i)⌋` | 0 | `wᵢ` | 1 | 0 |
//! | `o + n` | `zₙ = 0` | 0 | 0 | 0 | 1 |
//!
//! `c = 0` for an unsigned check and `c = 2^(bits−1)` for a signed one. Every limb is 8 bits
//! wide except the top one, `w_{n−1} = bits − 8(n − 1)`.
//!
//! - lookup `name` (`q_limb`): `(zᵢ + offsetᵢ − 2^8·zᵢ₊₁, widthᵢ) ∈ {(l, w) : 0 ≤ l < 2^w ≤ 2^8}`;
//! - gate `range end` (`q_end`): `z = 0`.
//!
//! Together: `v + c = Σ lᵢ·2^(8i)` with `0 ≤ lᵢ < 2^wᵢ`, so `0 ≤ v + c < 2^bits`. Since
//! `bits ≤` [`MAX_RANGE_BITS`]` < 253`, the sum cannot wrap around the field.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector, TableColumn,
};
use halo2_proofs::poly::Rotation;

use crate::field::{pow2, shr_bytes, AssignedFr};

/// Bits per limb.
pub const LIMB_BITS: u32 = 8;

/// Widest range a check accepts; keeps every decomposed sum far below the field modulus.
pub const MAX_RANGE_BITS: u32 = 240;

/// Limbs a `bits`-wide check uses (0 for `bits = 0`, which proves `v = 0`).
pub const fn limbs(bits: u32) -> usize {
    bits.div_ceil(LIMB_BITS) as usize
}

/// Rows a `bits`-wide check uses, the final zero row included.
pub const fn range_rows(bits: u32) -> usize {
    limbs(bits) + 1
}

/// The shared `(limb, width)` table: all pairs with `0 ≤ limb < 2^width`, `0 ≤ width ≤ 8`.
///
/// | `value` | `width` |
/// |---|---|
/// | 0 | 0 |
/// | 0, 1 | 1 |
/// | … | … |
/// | 0 … 255 | 8 |
#[derive(Clone, Copy, Debug)]
pub struct RangeTableConfig {
    /// Limb values.
    pub value: TableColumn,
    /// Widths the limb values fit in.
    pub width: TableColumn,
}

impl RangeTableConfig {
    /// Declares the two table columns.
    pub fn configure(meta: &mut ConstraintSystem<Fr>) -> Self {
        let value = meta.lookup_table_column();
        let width = meta.lookup_table_column();
        meta.annotate_lookup_column(value, || "range table: limb");
        meta.annotate_lookup_column(width, || "range table: width");
        RangeTableConfig { value, width }
    }

    /// Rows the table occupies (`2^9 − 1`).
    pub const fn rows() -> usize {
        (1 << (LIMB_BITS + 1)) - 1
    }

    /// Fills the table.
    pub fn load(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_table(
            || "range table",
            |mut table| {
                let mut row = 0;
                for w in 0..=LIMB_BITS {
                    for v in 0..(1u64 << w) {
                        table.assign_cell(|| "limb", self.value, row, || Value::known(Fr::from(v)))?;
                        table.assign_cell(
                            || "width",
                            self.width,
                            row,
                            || Value::known(Fr::from(u64::from(w))),
                        )?;
                        row += 1;
                    }
                }
                Ok(())
            },
        )
    }
}

/// Columns, selectors, the `range end` gate and the named limb lookup of one range-check
/// column (see the [module docs](self) for the layout).
#[derive(Clone, Copy, Debug)]
pub struct RangeConfig {
    /// The running sum; its first row holds the checked value.
    pub z: Column<Advice>,
    /// `2^(bits−1)` on the first row of a signed check, else 0.
    pub offset: Column<Fixed>,
    /// Width of the limb decomposed on this row.
    pub width: Column<Fixed>,
    /// Enables the limb lookup.
    pub q_limb: Selector,
    /// Enables `z = 0`.
    pub q_end: Selector,
    /// The shared table.
    pub table: RangeTableConfig,
}

impl RangeConfig {
    /// Declares range checks in the advice column `z`, with a limb lookup called `name`.
    /// Enable equality on `z` only where a checked value is copied elsewhere.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        name: &str,
        z: Column<Advice>,
        table: RangeTableConfig,
    ) -> Self {
        let offset = meta.fixed_column();
        let width = meta.fixed_column();
        let q_limb = meta.complex_selector();
        let q_end = meta.selector();

        meta.create_gate("range end", |meta| {
            let q = meta.query_selector(q_end);
            let z = meta.query_advice(z, Rotation::cur());
            vec![("z = 0", q * z)]
        });

        meta.lookup(name, |meta| {
            let q = meta.query_selector(q_limb);
            let z_cur = meta.query_advice(z, Rotation::cur());
            let z_next = meta.query_advice(z, Rotation::next());
            let offset = meta.query_fixed(offset, Rotation::cur());
            let width = meta.query_fixed(width, Rotation::cur());
            let limb = z_cur + offset - z_next * Expression::Constant(pow2(LIMB_BITS));
            vec![(q.clone() * limb, table.value), (q * width, table.width)]
        });

        RangeConfig { z, offset, width, q_limb, q_end, table }
    }
}

/// Assigns range checks into a [`RangeConfig`]'s column.
#[derive(Clone, Copy, Debug)]
pub struct RangeChip {
    config: RangeConfig,
}

impl RangeChip {
    /// A chip over `config`.
    pub fn construct(config: RangeConfig) -> Self {
        RangeChip { config }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &RangeConfig {
        &self.config
    }

    /// Proves `0 ≤ v < 2^bits` on rows `offset ..= offset + limbs(bits)`; returns the cell
    /// holding `v` (copy it where `v` is used).
    pub fn assign_unsigned<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        v: Value<Fr>,
        bits: u32,
    ) -> Result<AssignedFr<'v>, Error> {
        self.assign(region, offset, v, bits, Fr::ZERO)
    }

    /// Proves `−2^(bits−1) ≤ v < 2^(bits−1)` (`bits ≥ 1`) on rows
    /// `offset ..= offset + limbs(bits)`; returns the cell holding `v`.
    pub fn assign_signed<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        v: Value<Fr>,
        bits: u32,
    ) -> Result<AssignedFr<'v>, Error> {
        if bits == 0 {
            return Err(Error::Synthesis);
        }
        self.assign(region, offset, v, bits, pow2(bits - 1))
    }

    fn assign<'v>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        v: Value<Fr>,
        bits: u32,
        shift: Fr,
    ) -> Result<AssignedFr<'v>, Error> {
        if bits > MAX_RANGE_BITS {
            return Err(Error::Synthesis);
        }
        let cfg = &self.config;
        let n = limbs(bits);
        let shifted = v.map(|v| v + shift);
        let first = region.assign_advice(cfg.z, offset, v);
        for i in 0..n {
            let row = offset + i;
            cfg.q_limb.enable(region, row)?;
            let width = if i + 1 == n { bits - LIMB_BITS * (n as u32 - 1) } else { LIMB_BITS };
            region.assign_fixed(cfg.width, row, Fr::from(u64::from(width)));
            if i == 0 {
                region.assign_fixed(cfg.offset, row, shift);
            } else {
                region.assign_advice(cfg.z, row, shifted.map(|s| shr_bytes(s, i)));
            }
        }
        // The final row is zero for an honest value; a value out of range leaves its
        // excess in the top limb, which the lookup then rejects. With no limbs the final
        // row is the value's own row.
        if n > 0 {
            region.assign_advice(cfg.z, offset + n, Value::known(Fr::ZERO));
        }
        cfg.q_end.enable(region, offset + n)?;
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use halo2_proofs::circuit::SimpleFloorPlanner;
    use halo2_proofs::dev::{MockProver, VerifyFailure};
    use halo2_proofs::plonk::Circuit;

    use super::*;
    use crate::field::i128_to_fr;
    use crate::testing::{constraint_failures, lookup_failures};

    /// One checked value: `(v, bits, signed)`.
    type Check = (i128, u32, bool);

    #[derive(Clone, Default)]
    struct RangeCircuit {
        checks: Vec<Check>,
    }

    impl Circuit<Fr> for RangeCircuit {
        type Config = RangeConfig;
        type FloorPlanner = SimpleFloorPlanner;
        type Params = ();

        fn without_witnesses(&self) -> Self {
            self.clone()
        }

        fn configure(meta: &mut ConstraintSystem<Fr>) -> RangeConfig {
            let table = RangeTableConfig::configure(meta);
            let z = meta.advice_column();
            RangeConfig::configure(meta, "test range", z, table)
        }

        fn synthesize(&self, config: RangeConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
            config.table.load(&mut layouter)?;
            let chip = RangeChip::construct(config);
            layouter.assign_region(
                || "checks",
                |mut region| {
                    let mut row = 0;
                    for &(v, bits, signed) in &self.checks {
                        let v = Value::known(i128_to_fr(v));
                        if signed {
                            chip.assign_signed(&mut region, row, v, bits)?;
                        } else {
                            chip.assign_unsigned(&mut region, row, v, bits)?;
                        }
                        row += range_rows(bits);
                    }
                    Ok(())
                },
            )
        }
    }

    fn run(checks: &[Check]) -> Result<(), Vec<VerifyFailure>> {
        let circuit = RangeCircuit { checks: checks.to_vec() };
        let prover = MockProver::run(10, &circuit, vec![]).expect("synthesis succeeds");
        prover.verify()
    }

    #[test]
    fn accepts_unsigned_edges() {
        let mut checks = vec![(0, 0, false)];
        for bits in [1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 120, 126] {
            checks.push((0, bits, false));
            checks.push(((1i128 << bits) - 1, bits, false));
            checks.push(((1i128 << bits) / 3, bits, false));
        }
        assert_eq!(run(&checks), Ok(()));
    }

    #[test]
    fn accepts_signed_edges() {
        let mut checks = vec![];
        for bits in [1, 2, 8, 9, 16, 24, 32, 63, 101, 127] {
            checks.push((-(1i128 << (bits - 1)), bits, true));
            checks.push(((1i128 << (bits - 1)) - 1, bits, true));
            checks.push((0, bits, true));
            checks.push((-1, bits, true));
        }
        assert_eq!(run(&checks), Ok(()));
    }

    /// The failing lookup is on the top limb of the check, the only limb that can hold an
    /// excess.
    fn top_limb_failure(rows_before: usize, bits: u32) -> Vec<(String, usize)> {
        vec![("test range".to_string(), rows_before + limbs(bits) - 1)]
    }

    #[test]
    fn rejects_unsigned_just_above_range() {
        for bits in [1, 8, 12, 16, 100] {
            let err = run(&[(1i128 << bits, bits, false)]).expect_err("2^bits is out of range");
            assert_eq!(lookup_failures(&err), top_limb_failure(0, bits), "bits = {bits}");
        }
    }

    #[test]
    fn rejects_negative_as_unsigned() {
        let err = run(&[(5, 8, false), (-1, 16, false)]).expect_err("-1 is not unsigned");
        assert_eq!(lookup_failures(&err), top_limb_failure(range_rows(8), 16));
    }

    #[test]
    fn rejects_signed_outside_both_edges() {
        let err = run(&[(128, 8, true)]).expect_err("128 > 127");
        assert_eq!(lookup_failures(&err), top_limb_failure(0, 8));
        let err = run(&[(-129, 8, true)]).expect_err("-129 < -128");
        assert_eq!(lookup_failures(&err), top_limb_failure(0, 8));
        let err = run(&[(1 << 23, 24, true)]).expect_err("2^23 is out of 24-bit range");
        assert_eq!(lookup_failures(&err), top_limb_failure(0, 24));
    }

    #[test]
    fn zero_bits_proves_zero() {
        let err = run(&[(1, 0, false)]).expect_err("only 0 fits in 0 bits");
        assert_eq!(constraint_failures(&err), vec![("range end".to_string(), "z = 0".to_string(), 0)]);
    }

    #[test]
    fn rejects_bits_above_the_maximum() {
        let circuit = RangeCircuit { checks: vec![(0, MAX_RANGE_BITS + 1, false)] };
        assert!(matches!(MockProver::run(10, &circuit, vec![]), Err(Error::Synthesis)));
    }
}
