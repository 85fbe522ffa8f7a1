//! The Poseidon permutation and activation-commitment chip.
//!
//! One region commits `n` activation cells: `max(1, ⌈n/6⌉)` blocks of 38 rows (an absorb
//! row and the 65 rounds of the permutation on 37 rows), then one output row whose `s0` is
//! the commitment. Every gate is a selector times a polynomial of degree 2, so the circuit
//! stays at degree 3 and halo2 keeps the extended domain at `2n` (an `x^5` S-box in one
//! gate would be degree 6 and quadruple it): each S-box input `a` gets two auxiliary cells,
//! `a^2` and `a^4`, and `a^5 = a^4·a` appears only inside degree-2 expressions.
//!
//! # Columns
//!
//! | column | kind | use |
//! |---|---|---|
//! | `s0 s1 s2` | advice | the state entering the row (`s0` has equality: the commitment) |
//! | `aux0 … aux5` | advice, equality | round intermediates, or six activations on absorb rows |
//! | `rc0 … rc5` | fixed | round constants (round `r` in `rc0..2`, round `r+1` in `rc3..5`); on absorb rows, the flag `present_k` of slot `k` |
//! | `capacity` | fixed | the initial capacity (`DOMAIN_TAG + n·2^128` for activations), on the first row only |
//!
//! # Rows of one block (offsets relative to the block)
//!
//! | offset | gate | `aux0` | `aux1` | `aux2` | `aux3` | `aux4` | `aux5` |
//! |---|---|---|---|---|---|---|---|
//! | 0 | `sponge absorb` (+ `sponge initial state` on the first block) | `v_0` | `v_1` | `v_2` | `v_3` | `v_4` | `v_5` |
//! | 1–4 | `poseidon full round` | `x2_0` | `x2_1` | `x2_2` | `x4_0` | `x4_1` | `x4_2` |
//! | 5–32 | `poseidon partial round pair` | `a2` | `a4` | `m0` | `b2` | `b4` | – |
//! | 33 | `poseidon partial round` | `a2` | `a4` | – | – | – | – |
//! | 34–37 | `poseidon full round` | `x2_0` | `x2_1` | `x2_2` | `x4_0` | `x4_1` | `x4_2` |
//!
//! # Gates (`'` marks the next row, `M` the MDS matrix, `c` the round constants)
//!
//! - `poseidon full round`: with `a_j = s_j + c_j`: `x2_j = a_j^2`, `x4_j = x2_j^2`,
//!   `s_i' = Σ_j M_ij·x4_j·a_j`.
//! - `poseidon partial round pair` (rounds `r`, `r+1`): with `a = s0 + c_0`,
//!   `x = a4·a`, `m_i = M_i0·x + M_i1·(s1 + c_1) + M_i2·(s2 + c_2)` (only `m0` is a cell,
//!   `m1`, `m2` are degree-2 expressions), `b = m0 + c_3`: `a2 = a^2`, `a4 = a2^2`,
//!   `m0 = m_0`, `b2 = b^2`, `b4 = b2^2`,
//!   `s_i' = M_i0·b4·b + M_i1·(m_1 + c_4) + M_i2·(m_2 + c_5)`.
//! - `poseidon partial round`: `a2 = a^2`, `a4 = a2^2`,
//!   `s_i' = M_i0·a4·a + M_i1·(s1 + c_1) + M_i2·(s2 + c_2)`.
//! - `sponge absorb`: `s0' = s0 + Σ_{k<3} present_k·(aux_k + 2^63)·2^(64k)`,
//!   `s1' = s1 + Σ_{k<3} present_{3+k}·(aux_{3+k} + 2^63)·2^(64k)`, `s2' = s2`.
//! - `sponge absorb elements` (for [`PoseidonChip::hash_elements`], on its absorb rows
//!   instead of `sponge absorb`): `s0' = s0 + present_0·aux0`, `s1' = s1 + present_1·aux1`,
//!   `s2' = s2`.
//! - `sponge initial state`: `s0 = 0`, `s1 = 0`, `s2 = capacity`.
//!
//! Activation cells are copied in with equality constraints; the chip does not range check
//! them (their producers do), it only packs them as [`super::native`] does.

use halo2_proofs::circuit::{AssignedCell, Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Assigned, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use super::native::{activation_capacity, constants, two_pow, ACTIVATION_BITS, SLOTS_PER_ELEMENT, WIDTH};
use super::trace::{row_kind, Absorb, CommitTrace, RowKind, ADVICE_COLUMNS};
use crate::failure::{check, internal, Chip, Problem};

/// An advice cell holding one field element, as halo2-axiom's `Region::assign_advice`
/// returns it.
pub type AssignedFr<'v> = AssignedCell<&'v Assigned<Fr>, Fr>;

/// An assigned cell another chip hands over as an activation: where it is and its value.
pub trait ActivationCell {
    /// The cell to copy from.
    fn activation_cell(&self) -> Cell;
    /// Its value (unknown during key generation).
    fn activation_value(&self) -> Value<Fr>;
}

impl ActivationCell for AssignedCell<Fr, Fr> {
    fn activation_cell(&self) -> Cell {
        self.cell()
    }
    fn activation_value(&self) -> Value<Fr> {
        self.value().copied()
    }
}

impl ActivationCell for AssignedCell<&Assigned<Fr>, Fr> {
    fn activation_cell(&self) -> Cell {
        self.cell()
    }
    fn activation_value(&self) -> Value<Fr> {
        self.value().map(|v| v.evaluate())
    }
}

/// Columns and selectors of the Poseidon commitment chip (see the module docs).
#[derive(Debug, Clone)]
pub struct PoseidonConfig {
    /// `s0 s1 s2, aux0 … aux5`.
    pub advice: [Column<Advice>; ADVICE_COLUMNS],
    /// Round constants, or present-slot flags on absorb rows.
    pub rc: [Column<Fixed>; 2 * WIDTH],
    /// The initial capacity element, on the first row of a region.
    pub capacity: Column<Fixed>,
    q_full: Selector,
    q_pair: Selector,
    q_single: Selector,
    q_absorb: Selector,
    q_init: Selector,
    q_absorb_elements: Selector,
}

/// Commits activation cells with Poseidon, in-circuit.
#[derive(Debug, Clone)]
pub struct PoseidonChip {
    config: PoseidonConfig,
}

impl PoseidonChip {
    /// Declares the gates on the given columns and enables equality on `s0` and `aux0..5`.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        advice: [Column<Advice>; ADVICE_COLUMNS],
        rc: [Column<Fixed>; 2 * WIDTH],
        capacity: Column<Fixed>,
    ) -> PoseidonConfig {
        meta.enable_equality(advice[0]);
        for &column in &advice[WIDTH..] {
            meta.enable_equality(column);
        }
        let config = PoseidonConfig {
            advice,
            rc,
            capacity,
            q_full: meta.selector(),
            q_pair: meta.selector(),
            q_single: meta.selector(),
            q_absorb: meta.selector(),
            q_init: meta.selector(),
            q_absorb_elements: meta.selector(),
        };
        let m = constants().mds.map(|row| row.map(Expression::Constant));
        let mds_row = |i: usize, x: [Expression<Fr>; WIDTH]| -> Expression<Fr> {
            let [x0, x1, x2] = x;
            m[i][0].clone() * x0 + m[i][1].clone() * x1 + m[i][2].clone() * x2
        };

        meta.create_gate("poseidon full round", |vc| {
            let q = vc.query_selector(config.q_full);
            let s: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::cur()));
            let next: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::next()));
            let x2: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[WIDTH + j], Rotation::cur()));
            let x4: [_; WIDTH] =
                std::array::from_fn(|j| vc.query_advice(advice[2 * WIDTH + j], Rotation::cur()));
            let a: [_; WIDTH] =
                std::array::from_fn(|j| s[j].clone() + vc.query_fixed(rc[j], Rotation::cur()));
            let x5: [_; WIDTH] = std::array::from_fn(|j| x4[j].clone() * a[j].clone());
            let mut out = Vec::with_capacity(3 * WIDTH);
            for j in 0..WIDTH {
                out.push((format!("x2_{j} = (s{j} + c{j})^2"), x2[j].clone() - a[j].clone().square()));
            }
            for j in 0..WIDTH {
                out.push((format!("x4_{j} = x2_{j}^2"), x4[j].clone() - x2[j].clone().square()));
            }
            for (i, n) in next.into_iter().enumerate() {
                out.push((format!("s{i}' = (M·x^5)_{i}"), n - mds_row(i, x5.clone())));
            }
            out.into_iter().map(move |(name, poly)| (name, q.clone() * poly)).collect::<Vec<_>>()
        });

        meta.create_gate("poseidon partial round pair", |vc| {
            let q = vc.query_selector(config.q_pair);
            let s: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::cur()));
            let next: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::next()));
            let aux: [_; 5] = std::array::from_fn(|k| vc.query_advice(advice[WIDTH + k], Rotation::cur()));
            let c: [_; 2 * WIDTH] = std::array::from_fn(|k| vc.query_fixed(rc[k], Rotation::cur()));
            let [a2, a4, m0, b2, b4] = aux;
            let a = s[0].clone() + c[0].clone();
            let t1 = s[1].clone() + c[1].clone();
            let t2 = s[2].clone() + c[2].clone();
            let mid = |i| mds_row(i, [a4.clone() * a.clone(), t1.clone(), t2.clone()]);
            let b = m0.clone() + c[3].clone();
            let y = [b4.clone() * b.clone(), mid(1) + c[4].clone(), mid(2) + c[5].clone()];
            let mut out = vec![
                ("a2 = (s0 + c0)^2".to_string(), a2.clone() - a.clone().square()),
                ("a4 = a2^2".to_string(), a4.clone() - a2.square()),
                ("m0 = (M·(a^5, s1 + c1, s2 + c2))_0".to_string(), m0 - mid(0)),
                ("b2 = (m0 + c3)^2".to_string(), b2.clone() - b.square()),
                ("b4 = b2^2".to_string(), b4 - b2.square()),
            ];
            for (i, n) in next.into_iter().enumerate() {
                out.push((format!("s{i}' = (M·(b^5, m1 + c4, m2 + c5))_{i}"), n - mds_row(i, y.clone())));
            }
            out.into_iter().map(move |(name, poly)| (name, q.clone() * poly)).collect::<Vec<_>>()
        });

        meta.create_gate("poseidon partial round", |vc| {
            let q = vc.query_selector(config.q_single);
            let s: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::cur()));
            let next: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::next()));
            let a2 = vc.query_advice(advice[WIDTH], Rotation::cur());
            let a4 = vc.query_advice(advice[WIDTH + 1], Rotation::cur());
            let c: [_; WIDTH] = std::array::from_fn(|k| vc.query_fixed(rc[k], Rotation::cur()));
            let a = s[0].clone() + c[0].clone();
            let x = [a4.clone() * a.clone(), s[1].clone() + c[1].clone(), s[2].clone() + c[2].clone()];
            let mut out = vec![
                ("a2 = (s0 + c0)^2".to_string(), a2.clone() - a.square()),
                ("a4 = a2^2".to_string(), a4 - a2.square()),
            ];
            for (i, n) in next.into_iter().enumerate() {
                out.push((format!("s{i}' = (M·(a^5, s1 + c1, s2 + c2))_{i}"), n - mds_row(i, x.clone())));
            }
            out.into_iter().map(move |(name, poly)| (name, q.clone() * poly)).collect::<Vec<_>>()
        });

        meta.create_gate("sponge absorb", |vc| {
            let q = vc.query_selector(config.q_absorb);
            let s: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::cur()));
            let next: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::next()));
            let offset = Expression::Constant(two_pow(ACTIVATION_BITS - 1));
            let packed = |vc: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>, r: usize| {
                (0..SLOTS_PER_ELEMENT).fold(Expression::Constant(Fr::ZERO), |acc, k| {
                    let slot = r * SLOTS_PER_ELEMENT + k;
                    let v = vc.query_advice(advice[WIDTH + slot], Rotation::cur());
                    let flag = vc.query_fixed(rc[slot], Rotation::cur());
                    acc + flag
                        * (v + offset.clone())
                        * Expression::Constant(two_pow(ACTIVATION_BITS * k as u32))
                })
            };
            let e0 = packed(vc, 0);
            let e1 = packed(vc, 1);
            let [s0, s1, s2] = s;
            let [n0, n1, n2] = next;
            vec![
                ("s0' = s0 + pack(aux0, aux1, aux2)", q.clone() * (n0 - s0 - e0)),
                ("s1' = s1 + pack(aux3, aux4, aux5)", q.clone() * (n1 - s1 - e1)),
                ("s2' = s2", q * (n2 - s2)),
            ]
        });

        meta.create_gate("sponge absorb elements", |vc| {
            let q = vc.query_selector(config.q_absorb_elements);
            let s: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::cur()));
            let next: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::next()));
            let e: [_; 2] = std::array::from_fn(|r| {
                vc.query_fixed(rc[r], Rotation::cur()) * vc.query_advice(advice[WIDTH + r], Rotation::cur())
            });
            let [s0, s1, s2] = s;
            let [n0, n1, n2] = next;
            let [e0, e1] = e;
            vec![
                ("s0' = s0 + present0·aux0", q.clone() * (n0 - s0 - e0)),
                ("s1' = s1 + present1·aux1", q.clone() * (n1 - s1 - e1)),
                ("s2' = s2", q * (n2 - s2)),
            ]
        });

        meta.create_gate("sponge initial state", |vc| {
            let q = vc.query_selector(config.q_init);
            let s: [_; WIDTH] = std::array::from_fn(|j| vc.query_advice(advice[j], Rotation::cur()));
            let cap = vc.query_fixed(capacity, Rotation::cur());
            let [s0, s1, s2] = s;
            vec![("s0 = 0", q.clone() * s0), ("s1 = 0", q.clone() * s1), ("s2 = capacity", q * (s2 - cap))]
        });

        config
    }

    /// The chip for a configuration.
    pub fn construct(config: PoseidonConfig) -> Self {
        PoseidonChip { config }
    }

    /// The configuration.
    pub fn config(&self) -> &PoseidonConfig {
        &self.config
    }

    /// Rows [`Self::commit`] uses for `n` activations: `38·max(1, ⌈n/6⌉) + 1`.
    pub fn rows(n: usize) -> usize {
        Absorb::Activations.rows(n)
    }

    /// Commits `activations` on rows `offset .. offset + Self::rows(n)`; returns the cell
    /// holding the commitment (equal to [`super::commit_activations`] of their values),
    /// ready for `Layouter::constrain_instance`.
    pub fn commit<'v, A: ActivationCell>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        activations: &[A],
    ) -> Result<AssignedFr<'v>, Error> {
        let capacity = activation_capacity(activations.len());
        self.sponge(region, offset, Absorb::Activations, capacity, activations)
    }

    /// Hashes field-element cells on rows `offset .. offset + Absorb::Elements.rows(n)`;
    /// returns the cell holding [`super::sponge_hash`]`(capacity, values)`.
    pub fn hash_elements<'v, A: ActivationCell>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        capacity: Fr,
        elements: &[A],
    ) -> Result<AssignedFr<'v>, Error> {
        self.sponge(region, offset, Absorb::Elements, capacity, elements)
    }

    fn sponge<'v, A: ActivationCell>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        absorb: Absorb,
        capacity: Fr,
        inputs: &[A],
    ) -> Result<AssignedFr<'v>, Error> {
        let values: Value<Vec<Fr>> = inputs.iter().map(ActivationCell::activation_value).collect();
        let trace = values.map(|v| CommitTrace::sponge(absorb, capacity, &v));
        self.assign_sponge(region, offset, absorb, capacity, inputs, trace.as_ref())
    }

    /// Assigns a given witness `trace` of a sponge over `inputs` starting at
    /// `[0, 0, capacity]` (as [`CommitTrace::sponge`] computes it, or altered by a test);
    /// the constraints are those of [`Self::commit`] and [`Self::hash_elements`].
    /// Fails with `Error::Synthesis` when the trace does not have `absorb.rows(n)` rows.
    pub fn assign_sponge<'v, A: ActivationCell>(
        &self,
        region: &mut Region<'_, Fr>,
        offset: usize,
        absorb: Absorb,
        capacity: Fr,
        inputs: &[A],
        trace: Value<&CommitTrace>,
    ) -> Result<AssignedFr<'v>, Error> {
        let cfg = &self.config;
        let n = inputs.len();
        let blocks = absorb.blocks(n);
        check(&trace, Chip::Poseidon, |t| Problem::length("trace rows", absorb.rows(n), t.rows.len()))?;
        let rc = &constants().round_constants;
        let mut last = None;
        for r in 0..absorb.rows(n) {
            let row = offset + r;
            let kind = row_kind(r, blocks);
            let mut cells = Vec::with_capacity(ADVICE_COLUMNS);
            for (c, &column) in cfg.advice.iter().enumerate() {
                let used = match kind {
                    RowKind::Output => c < WIDTH,
                    RowKind::PartialSingle { .. } => c < WIDTH + 2,
                    _ => true,
                };
                if used {
                    cells.push(Some(region.assign_advice(column, row, trace.map(|t| t.rows[r][c]))));
                } else {
                    cells.push(None);
                }
            }
            match kind {
                RowKind::Absorb { block } => {
                    match absorb {
                        Absorb::Activations => cfg.q_absorb.enable(region, row)?,
                        Absorb::Elements => cfg.q_absorb_elements.enable(region, row)?,
                    }
                    if block == 0 {
                        cfg.q_init.enable(region, row)?;
                        region.assign_fixed(cfg.capacity, row, capacity);
                    }
                    for (k, is_present) in absorb.present(n, block).into_iter().enumerate() {
                        region.assign_fixed(cfg.rc[k], row, if is_present { Fr::ONE } else { Fr::ZERO });
                        if let (true, Some(cell)) = (is_present, &cells[WIDTH + k]) {
                            let input = &inputs[block * absorb.per_block() + k];
                            region.constrain_equal(input.activation_cell(), cell.cell());
                        }
                    }
                }
                RowKind::Full { round } => {
                    cfg.q_full.enable(region, row)?;
                    for (&column, &c) in cfg.rc.iter().zip(&rc[round]) {
                        region.assign_fixed(column, row, c);
                    }
                }
                RowKind::PartialPair { round } => {
                    cfg.q_pair.enable(region, row)?;
                    for (&column, &c) in cfg.rc.iter().zip(rc[round].iter().chain(&rc[round + 1])) {
                        region.assign_fixed(column, row, c);
                    }
                }
                RowKind::PartialSingle { round } => {
                    cfg.q_single.enable(region, row)?;
                    for (&column, &c) in cfg.rc.iter().zip(&rc[round]) {
                        region.assign_fixed(column, row, c);
                    }
                }
                RowKind::Output => last = cells.swap_remove(0),
            }
        }
        last.ok_or_else(|| internal(Chip::Poseidon, "no output row was assigned"))
    }
}
