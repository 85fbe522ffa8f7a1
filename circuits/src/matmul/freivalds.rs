//! The matmul chip: `Y = W·X` for a fixed `W`, checked with two challenges.

use halo2_proofs::arithmetic::Field;
use halo2_proofs::circuit::{Cell, Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{
    Advice, Challenge, Column, ConstraintSystem, Error, Expression, FirstPhase, Fixed, SecondPhase, Selector,
};
use halo2_proofs::poly::Rotation;

use super::field::fr_from_i128;
use super::FixedMatrix;
use crate::failure::{check_length, Chip};

/// Names of the gates, as `MockProver` reports them.
pub mod gate {
    /// `acc = v(y)` on the first output row.
    pub const Y_START: &str = "matmul: output horner start";
    /// `acc = acc[-1]·r + v(y)` on the other output rows.
    pub const Y_STEP: &str = "matmul: output horner step";
    /// `h = U` on an input's first weight block.
    pub const U_START: &str = "matmul: weight horner start";
    /// `h = h[-1]·r^L + U` on an input's other weight blocks.
    pub const U_STEP: &str = "matmul: weight horner step";
    /// `acc = acc[-1]` on weight rows without activations.
    pub const CARRY: &str = "matmul: carry";
    /// `acc = acc[-1] - h·v(x)` on an input's last weight block, which holds its activations.
    pub const DOT: &str = "matmul: dot";
    /// `acc = 0` on the last row.
    pub const CHECK: &str = "matmul: freivalds check";
}

/// A phase-1 cell that other chips can copy-constrain, with its value.
#[derive(Clone, Copy, Debug)]
pub struct MatCell {
    /// Where the cell is (equality is enabled on its column).
    pub cell: Cell,
    /// Its value (unknown at keygen).
    pub value: Value<Fr>,
}

/// The columns, challenges and selectors of the matmul chip.
///
/// `act` (T columns, phase 1, equality enabled) holds outputs and activations; `weight`
/// (L fixed columns) holds `W`; `h` and `acc` (phase 2) hold the check's running values.
/// See the [module documentation](super) for the layout and the gate equations.
#[derive(Clone, Debug)]
pub struct MatmulConfig {
    act: Vec<Column<Advice>>,
    weight: Vec<Column<Fixed>>,
    h: Column<Advice>,
    acc: Column<Advice>,
    r: Challenge,
    s: Challenge,
    q_y_start: Selector,
    q_y: Selector,
    q_u_start: Selector,
    q_u: Selector,
    q_carry: Selector,
    q_dot: Selector,
    q_check: Selector,
}

/// `Σ_k coeff_k · x^k` as a Horner expression.
fn horner(coeffs: &[Expression<Fr>], x: &Expression<Fr>) -> Expression<Fr> {
    let mut it = coeffs.iter().rev();
    let first = it.next().cloned().unwrap_or(Expression::Constant(Fr::ZERO));
    it.fold(first, |acc, c| acc * x.clone() + c.clone())
}

/// `x^e` by squaring (`e ≥ 1`).
fn pow_expr(x: &Expression<Fr>, e: usize) -> Expression<Fr> {
    let mut result: Option<Expression<Fr>> = None;
    let mut base = x.clone();
    let mut e = e;
    while e > 0 {
        if e & 1 == 1 {
            result = Some(match result {
                Some(r) => r * base.clone(),
                None => base.clone(),
            });
        }
        e >>= 1;
        if e > 0 {
            base = base.clone() * base;
        }
    }
    result.unwrap_or(Expression::Constant(Fr::ONE))
}

impl MatmulConfig {
    /// Declares `tokens` activation columns, `lanes` weight columns, two phase-2 columns, the
    /// challenges `r` (over outputs) and `s` (over tokens), and the seven gates.
    ///
    /// # Panics
    /// If `tokens` or `lanes` is 0 (a configuration bug, not a data error).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, tokens: usize, lanes: usize) -> Self {
        let act = (0..tokens).map(|_| meta.advice_column_in(FirstPhase)).collect();
        let weight = (0..lanes).map(|_| meta.fixed_column()).collect();
        Self::configure_with_columns(meta, act, weight)
    }

    /// The check's running accumulator and the selector of its output rows (tests that
    /// tamper a cell inside a whole circuit).
    #[cfg(test)]
    pub(crate) fn accumulator(&self) -> (Column<Advice>, Selector) {
        (self.acc, self.q_y)
    }

    /// Like [`configure`](Self::configure), over activation and weight columns that other
    /// chips may share (rows the matmul does not use stay free for them). Enables equality
    /// on `act`.
    ///
    /// # Panics
    /// If `act` or `weight` is empty, or an `act` column is not a first-phase column.
    pub fn configure_with_columns(
        meta: &mut ConstraintSystem<Fr>,
        act: Vec<Column<Advice>>,
        weight: Vec<Column<Fixed>>,
    ) -> Self {
        assert!(!act.is_empty() && !weight.is_empty(), "matmul needs at least one token and one lane");
        assert!(
            act.iter().all(|c| c.column_type().phase() == 0),
            "matmul activations must be committed before the challenges (first phase)"
        );
        for &c in &act {
            meta.enable_equality(c);
        }
        let lanes = weight.len();
        let r = meta.challenge_usable_after(FirstPhase);
        let s = meta.challenge_usable_after(FirstPhase);
        let h = meta.advice_column_in(SecondPhase);
        let acc = meta.advice_column_in(SecondPhase);
        let cfg = MatmulConfig {
            act,
            weight,
            h,
            acc,
            r,
            s,
            q_y_start: meta.selector(),
            q_y: meta.selector(),
            q_u_start: meta.selector(),
            q_u: meta.selector(),
            q_carry: meta.selector(),
            q_dot: meta.selector(),
            q_check: meta.selector(),
        };

        // v = Σ_t s^t · act_t, U = Σ_c r^c · weight_c.
        let v = |m: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>| {
            let s = m.query_challenge(cfg.s);
            let a: Vec<_> = cfg.act.iter().map(|&c| m.query_advice(c, Rotation::cur())).collect();
            horner(&a, &s)
        };
        let u = |m: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>| {
            let r = m.query_challenge(cfg.r);
            let w: Vec<_> = cfg.weight.iter().map(|&c| m.query_fixed(c, Rotation::cur())).collect();
            horner(&w, &r)
        };

        meta.create_gate(gate::Y_START, |m| {
            let q = m.query_selector(cfg.q_y_start);
            let acc = m.query_advice(cfg.acc, Rotation::cur());
            vec![("acc = v(y)", q * (acc - v(m)))]
        });
        meta.create_gate(gate::Y_STEP, |m| {
            let q = m.query_selector(cfg.q_y);
            let r = m.query_challenge(cfg.r);
            let acc = m.query_advice(cfg.acc, Rotation::cur());
            let prev = m.query_advice(cfg.acc, Rotation::prev());
            vec![("acc = acc[-1]·r + v(y)", q * (acc - (prev * r + v(m))))]
        });
        meta.create_gate(gate::U_START, |m| {
            let q = m.query_selector(cfg.q_u_start);
            let h = m.query_advice(cfg.h, Rotation::cur());
            vec![("h = U", q * (h - u(m)))]
        });
        meta.create_gate(gate::U_STEP, |m| {
            let q = m.query_selector(cfg.q_u);
            let r_l = pow_expr(&m.query_challenge(cfg.r), lanes);
            let h = m.query_advice(cfg.h, Rotation::cur());
            let prev = m.query_advice(cfg.h, Rotation::prev());
            vec![("h = h[-1]·r^L + U", q * (h - (prev * r_l + u(m))))]
        });
        meta.create_gate(gate::CARRY, |m| {
            let q = m.query_selector(cfg.q_carry);
            let acc = m.query_advice(cfg.acc, Rotation::cur());
            let prev = m.query_advice(cfg.acc, Rotation::prev());
            vec![("acc = acc[-1]", q * (acc - prev))]
        });
        meta.create_gate(gate::DOT, |m| {
            let q = m.query_selector(cfg.q_dot);
            let h = m.query_advice(cfg.h, Rotation::cur());
            let acc = m.query_advice(cfg.acc, Rotation::cur());
            let prev = m.query_advice(cfg.acc, Rotation::prev());
            vec![("acc = acc[-1] - h·v(x)", q * (acc - prev + h * v(m)))]
        });
        meta.create_gate(gate::CHECK, |m| {
            let q = m.query_selector(cfg.q_check);
            let acc = m.query_advice(cfg.acc, Rotation::cur());
            vec![("acc = 0", q * acc)]
        });
        cfg
    }

    /// Token columns `T`.
    pub fn tokens(&self) -> usize {
        self.act.len()
    }

    /// Weight lanes `L` (fixed columns).
    pub fn lanes(&self) -> usize {
        self.weight.len()
    }

    /// Weight blocks per input, `B = ⌈n / L⌉`.
    fn blocks(&self, w: &FixedMatrix) -> usize {
        w.rows().div_ceil(self.lanes())
    }

    /// Rows a product with `w` occupies: `n + d·⌈n / L⌉`.
    pub fn rows_needed(&self, w: &FixedMatrix) -> usize {
        Self::rows_for(w.rows(), w.cols(), self.lanes())
    }

    /// Rows an `n × d` product occupies with `lanes` weight lanes: `n + d·⌈n / L⌉`.
    pub fn rows_for(n: usize, d: usize, lanes: usize) -> usize {
        n + d * n.div_ceil(lanes)
    }

    /// Advice cells a product with `w` commits: `T·(n + d) + n + 2·d·⌈n / L⌉`.
    pub fn advice_cells(&self, w: &FixedMatrix) -> usize {
        self.tokens() * (w.rows() + w.cols()) + w.rows() + 2 * w.cols() * self.blocks(w)
    }
}

/// The phase-1 assignment of one product: the output and activation cells, and what the
/// phase-2 check needs.
#[derive(Clone, Debug)]
pub struct MatmulInputs {
    /// Activations `[T, d]`, token-major.
    pub x: Vec<MatCell>,
    /// Accumulators `[T, n]`, token-major.
    pub y: Vec<MatCell>,
    offset: usize,
    w: FixedMatrix,
}

/// Assigns matmul products; see the [module documentation](super).
#[derive(Clone, Debug)]
pub struct MatmulChip {
    config: MatmulConfig,
}

impl MatmulChip {
    /// A chip over configured columns.
    pub fn construct(config: MatmulConfig) -> Self {
        MatmulChip { config }
    }

    /// The configuration.
    pub fn config(&self) -> &MatmulConfig {
        &self.config
    }

    /// Phase 1: assigns `w` (fixed), the activations `x: [T, d]` and the claimed
    /// accumulators `y: [T, n]` (both token-major) in rows `offset .. offset +
    /// rows_needed(w)`, and enables the gates. `Error::Synthesis` if a length is wrong.
    pub fn assign_inputs(
        &self,
        layouter: &mut impl Layouter<Fr>,
        offset: usize,
        w: &FixedMatrix,
        x: &[Value<Fr>],
        y: &[Value<Fr>],
    ) -> Result<MatmulInputs, Error> {
        layouter.assign_region(
            || "matmul inputs",
            |mut region| self.assign_inputs_in(&mut region, offset, w, x, y),
        )
    }

    /// [`assign_inputs`](Self::assign_inputs) inside the caller's region (rows are absolute,
    /// as everywhere with halo2-axiom's `SimpleFloorPlanner`).
    pub fn assign_inputs_in(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        w: &FixedMatrix,
        x: &[Value<Fr>],
        y: &[Value<Fr>],
    ) -> Result<MatmulInputs, Error> {
        let cfg = &self.config;
        let (t, n, d, l, b) = (cfg.tokens(), w.rows(), w.cols(), cfg.lanes(), cfg.blocks(w));
        check_length(Chip::Matmul, "input", t * d, x.len())?;
        check_length(Chip::Matmul, "accumulators", t * n, y.len())?;
        let mut y_cells = vec![None; t * n];
        for k in 0..n {
            let row = offset + k;
            let j = n - 1 - k;
            if k == 0 {
                cfg.q_y_start.enable(region, row)?;
            } else {
                cfg.q_y.enable(region, row)?;
            }
            for (ti, &col) in cfg.act.iter().enumerate() {
                let value = y[ti * n + j];
                let cell = region.assign_advice(col, row, value).cell();
                y_cells[ti * n + j] = Some(MatCell { cell, value });
            }
        }
        let mut x_cells = vec![None; t * d];
        for i in 0..d {
            for (k, blk) in (0..b).rev().enumerate() {
                let row = offset + n + i * b + k;
                for (c, &col) in cfg.weight.iter().enumerate() {
                    region.assign_fixed(col, row, fr_from_i128(w.get(blk * l + c, i) as i128));
                }
                if k == 0 {
                    cfg.q_u_start.enable(region, row)?;
                } else {
                    cfg.q_u.enable(region, row)?;
                }
                if blk > 0 {
                    cfg.q_carry.enable(region, row)?;
                    continue;
                }
                cfg.q_dot.enable(region, row)?;
                if i == d - 1 {
                    cfg.q_check.enable(region, row)?;
                }
                for (ti, &col) in cfg.act.iter().enumerate() {
                    let value = x[ti * d + i];
                    let cell = region.assign_advice(col, row, value).cell();
                    x_cells[ti * d + i] = Some(MatCell { cell, value });
                }
            }
        }
        Ok(MatmulInputs {
            x: x_cells.into_iter().flatten().collect(),
            y: y_cells.into_iter().flatten().collect(),
            offset,
            w: w.clone(),
        })
    }

    /// Phase 2 (after `layouter.next_phase()`): assigns the running values that prove
    /// `Σ_t s^t Σ_j r^j y[t][j] = Σ_t s^t Σ_j r^j (W·x[t])_j`.
    pub fn assign_check(&self, layouter: &mut impl Layouter<Fr>, inputs: &MatmulInputs) -> Result<(), Error> {
        let cfg = &self.config;
        let r = layouter.get_challenge(cfg.r);
        let s = layouter.get_challenge(cfg.s);
        let xs: Value<Vec<Fr>> = inputs.x.iter().map(|c| c.value).collect();
        let ys: Value<Vec<Fr>> = inputs.y.iter().map(|c| c.value).collect();
        let trace = r.zip(s).zip(xs.zip(ys)).map(|((r, s), (xs, ys))| self.trace(&inputs.w, r, s, &xs, &ys));
        let rows = cfg.rows_needed(&inputs.w);
        let (n, b) = (inputs.w.rows(), cfg.blocks(&inputs.w));
        layouter.assign_region(
            || "matmul check",
            |mut region| {
                for k in 0..rows {
                    let row = inputs.offset + k;
                    region.assign_advice(cfg.acc, row, trace.as_ref().map(|(_, acc)| acc[k]));
                    if k >= n {
                        region.assign_advice(cfg.h, row, trace.as_ref().map(|(h, _)| h[k - n]));
                    }
                }
                debug_assert_eq!(rows, n + inputs.w.cols() * b);
                Ok(())
            },
        )
    }

    /// The honest `(h, acc)` columns: `h` for the weight rows, `acc` for all rows.
    fn trace(&self, w: &FixedMatrix, r: Fr, s: Fr, xs: &[Fr], ys: &[Fr]) -> (Vec<Fr>, Vec<Fr>) {
        let cfg = &self.config;
        let (t, n, d, l, b) = (cfg.tokens(), w.rows(), w.cols(), cfg.lanes(), cfg.blocks(w));
        let fold = |vals: &[Fr], stride: usize, idx: usize| {
            (0..t).rev().fold(Fr::ZERO, |v, ti| v * s + vals[ti * stride + idx])
        };
        let mut acc_col = Vec::with_capacity(n + d * b);
        let mut h_col = Vec::with_capacity(d * b);
        let mut acc = Fr::ZERO;
        for j in (0..n).rev() {
            acc = acc * r + fold(ys, n, j);
            acc_col.push(acc);
        }
        let r_l = r.pow_vartime([l as u64]);
        for i in 0..d {
            let v = fold(xs, d, i);
            let mut h = Fr::ZERO;
            for blk in (0..b).rev() {
                let u =
                    (0..l).rev().fold(Fr::ZERO, |u, c| u * r + fr_from_i128(w.get(blk * l + c, i) as i128));
                h = h * r_l + u;
                h_col.push(h);
                if blk == 0 {
                    acc -= h * v;
                }
                acc_col.push(acc);
            }
        }
        (h_col, acc_col)
    }
}
