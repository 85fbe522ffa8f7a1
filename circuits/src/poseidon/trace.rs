//! The witness of a commitment region: every advice cell, row by row.
//!
//! [`CommitTrace::sponge`] runs the sponge of [`super::native`] with the round function split
//! the way the gates of [`super::PoseidonConfig`] check it, recording each row's nine
//! advice cells. The chip only copies a trace into the region, so a test can tamper with
//! any cell and see which constraint catches it.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;

use super::native::{
    activation_capacity, constants, two_pow, ACTIVATIONS_PER_BLOCK, ACTIVATION_BITS, RATE, SLOTS_PER_ELEMENT,
    WIDTH,
};

/// Advice columns of the layout: the state `s0 s1 s2`, then six auxiliary cells.
pub const ADVICE_COLUMNS: usize = 9;

/// Rows of one absorbed block: the absorb row, 4 full rounds, 28 rows of two partial
/// rounds, 1 row with the last partial round, 4 full rounds.
pub const ROWS_PER_BLOCK: usize = 1 + 4 + 28 + 1 + 4;

/// What an absorb row adds to the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absorb {
    /// Six activations, packed three per rate element as [`super::native`] describes.
    Activations,
    /// Two field elements, as they are (the sponge of [`super::sponge_hash`]).
    Elements,
}

impl Absorb {
    /// Inputs taken per absorb row: 6 activations or 2 field elements.
    pub fn per_block(self) -> usize {
        match self {
            Absorb::Activations => ACTIVATIONS_PER_BLOCK,
            Absorb::Elements => RATE,
        }
    }

    /// Permutations (absorb rows) for `n` inputs: `max(1, ⌈n / per_block⌉)`.
    pub fn blocks(self, n: usize) -> usize {
        n.div_ceil(self.per_block()).max(1)
    }

    /// Rows of a sponge region over `n` inputs: `38·blocks + 1`.
    pub fn rows(self, n: usize) -> usize {
        ROWS_PER_BLOCK * self.blocks(n) + 1
    }

    /// Which of block `block`'s input slots hold an input (the rest are padding).
    pub fn present(self, n: usize, block: usize) -> Vec<bool> {
        let per = self.per_block();
        (0..per).map(|k| block * per + k < n).collect()
    }
}

/// What a row of the commitment region checks (each kind is one gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// Adds the next six packed activations to the rate (and, on the first row, checks the
    /// initial state).
    Absorb {
        /// Index of the block (0 for the first).
        block: usize,
    },
    /// One full round, with the given round index into the round constants.
    Full {
        /// Round index.
        round: usize,
    },
    /// Two partial rounds, `round` and `round + 1`.
    PartialPair {
        /// Index of the first of the two rounds.
        round: usize,
    },
    /// A single partial round (the 57th).
    PartialSingle {
        /// Round index.
        round: usize,
    },
    /// The last row: `s0` holds the commitment; no gate.
    Output,
}

/// Rows the commitment of `n` activations uses: `38·max(1, ⌈n/6⌉) + 1`.
pub fn rows(n: usize) -> usize {
    Absorb::Activations.rows(n)
}

/// The kind of row `offset` (relative to the region start) in a region of `blocks` blocks.
pub fn row_kind(offset: usize, blocks: usize) -> RowKind {
    if offset >= blocks * ROWS_PER_BLOCK {
        return RowKind::Output;
    }
    let (block, j) = (offset / ROWS_PER_BLOCK, offset % ROWS_PER_BLOCK);
    match j {
        0 => RowKind::Absorb { block },
        1..=4 => RowKind::Full { round: j - 1 },
        5..=32 => RowKind::PartialPair { round: 4 + 2 * (j - 5) },
        33 => RowKind::PartialSingle { round: 60 },
        _ => RowKind::Full { round: j - 34 + 61 },
    }
}

/// Every advice cell of a sponge region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitTrace {
    /// One entry per row, `[s0, s1, s2, aux0, …, aux5]`.
    pub rows: Vec<[Fr; ADVICE_COLUMNS]>,
}

impl CommitTrace {
    /// The honest witness for committing `activations` (field encodings of signed values).
    pub fn new(activations: &[Fr]) -> Self {
        Self::sponge(Absorb::Activations, activation_capacity(activations.len()), activations)
    }

    /// The honest witness for a sponge starting at `[0, 0, capacity]` over `inputs`.
    pub fn sponge(absorb: Absorb, capacity: Fr, inputs: &[Fr]) -> Self {
        let n = inputs.len();
        let nb = absorb.blocks(n);
        let c = constants();
        let mut rows = Vec::with_capacity(absorb.rows(n));
        let mut state = [Fr::ZERO, Fr::ZERO, capacity];
        for offset in 0..absorb.rows(n) {
            let mut row = [Fr::ZERO; ADVICE_COLUMNS];
            row[..WIDTH].copy_from_slice(&state);
            match row_kind(offset, nb) {
                RowKind::Absorb { block } => {
                    let first = block * absorb.per_block();
                    for k in 0..absorb.per_block() {
                        if let Some(&a) = inputs.get(first + k) {
                            row[WIDTH + k] = a;
                        }
                    }
                    let packed = absorbed(&row, absorb, &absorb.present(n, block));
                    state[0] += packed[0];
                    state[1] += packed[1];
                }
                RowKind::Full { round } => {
                    let rc = c.round_constants[round];
                    let mut x5 = [Fr::ZERO; WIDTH];
                    for j in 0..WIDTH {
                        let a = state[j] + rc[j];
                        let x2 = a.square();
                        let x4 = x2.square();
                        row[WIDTH + j] = x2;
                        row[2 * WIDTH + j] = x4;
                        x5[j] = x4 * a;
                    }
                    state = mds(&x5);
                }
                RowKind::PartialPair { round } => {
                    let (rc, rc_next) = (c.round_constants[round], c.round_constants[round + 1]);
                    let a = state[0] + rc[0];
                    let (a2, a4) = (a.square(), a.square().square());
                    let m = mds(&[a4 * a, state[1] + rc[1], state[2] + rc[2]]);
                    let b = m[0] + rc_next[0];
                    let (b2, b4) = (b.square(), b.square().square());
                    row[WIDTH..WIDTH + 5].copy_from_slice(&[a2, a4, m[0], b2, b4]);
                    state = mds(&[b4 * b, m[1] + rc_next[1], m[2] + rc_next[2]]);
                }
                RowKind::PartialSingle { round } => {
                    let rc = c.round_constants[round];
                    let a = state[0] + rc[0];
                    let (a2, a4) = (a.square(), a.square().square());
                    row[WIDTH] = a2;
                    row[WIDTH + 1] = a4;
                    state = mds(&[a4 * a, state[1] + rc[1], state[2] + rc[2]]);
                }
                RowKind::Output => {}
            }
            rows.push(row);
        }
        CommitTrace { rows }
    }

    /// The commitment: `s0` of the last row.
    pub fn commitment(&self) -> Fr {
        self.rows.last().map_or(Fr::ZERO, |row| row[0])
    }
}

/// The two rate elements an absorb row adds: for activations
/// `Σ_k present_k·(aux_{3r+k} + 2^63)·2^(64k)`, for field elements `present_r·aux_r`.
fn absorbed(row: &[Fr; ADVICE_COLUMNS], absorb: Absorb, present: &[bool]) -> [Fr; RATE] {
    let input = |slot: usize| if present[slot] { row[WIDTH + slot] } else { Fr::ZERO };
    match absorb {
        Absorb::Activations => std::array::from_fn(|r| {
            (0..SLOTS_PER_ELEMENT).fold(Fr::ZERO, |acc, k| {
                let slot = r * SLOTS_PER_ELEMENT + k;
                if present[slot] {
                    acc + (input(slot) + two_pow(ACTIVATION_BITS - 1)) * two_pow(ACTIVATION_BITS * k as u32)
                } else {
                    acc
                }
            })
        }),
        Absorb::Elements => std::array::from_fn(input),
    }
}

fn mds(x: &[Fr; WIDTH]) -> [Fr; WIDTH] {
    let m = &constants().mds;
    std::array::from_fn(|i| (0..WIDTH).fold(Fr::ZERO, |acc, j| acc + m[i][j] * x[j]))
}
