//! A small real circuit for the prover tests: rows of `(a, b, c)` with `c = a · b` (or
//! `c = a + b`), every `c` public, every `a` looked up in an 8-bit table.
//!
//! | row | a | b | c | q_op | q_byte | instance |
//! |---|---|---|---|---|---|---|
//! | i | aᵢ | bᵢ | cᵢ | 1 | 1 | cᵢ |
//!
//! Gate `op`: `q_op · (a · b − c) = 0` (or `q_op · (a + b − c) = 0`).
//! Lookup `a is a byte`: `q_byte · a ∈ {0, …, 255}`.

#![allow(dead_code)]

use std::path::PathBuf;

use zkinfer_prover::halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use zkinfer_prover::halo2_proofs::plonk::{
    Advice, Circuit, Column, ConstraintSystem, Error, Instance, Selector, TableColumn,
};
use zkinfer_prover::halo2_proofs::poly::Rotation;
use zkinfer_prover::Fr;

/// The `k` every test circuit uses: 512 rows hold the 256-entry table.
pub const K: u32 = 9;

/// Which relation the gate enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Op {
    /// `c = a · b`.
    #[default]
    Mul,
    /// `c = a + b`.
    Add,
}

impl Op {
    pub fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            Op::Mul => a * b,
            Op::Add => a + b,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestConfig {
    a: Column<Advice>,
    b: Column<Advice>,
    c: Column<Advice>,
    out: Column<Instance>,
    q_op: Selector,
    q_byte: Selector,
    bytes: TableColumn,
}

/// Proves knowledge of `(aᵢ, bᵢ)` with `aᵢ` a byte and `op(aᵢ, bᵢ) = cᵢ` public.
#[derive(Clone, Debug)]
pub struct TestCircuit {
    pub op: Op,
    pub rows: Vec<(Value<Fr>, Value<Fr>)>,
}

impl TestCircuit {
    pub fn new(op: Op, rows: &[(u64, u64)]) -> Self {
        Self {
            op,
            rows: rows.iter().map(|&(a, b)| (Value::known(Fr::from(a)), Value::known(Fr::from(b)))).collect(),
        }
    }

    /// The public `cᵢ`, as the single instance column.
    pub fn instances(op: Op, rows: &[(u64, u64)]) -> Vec<Vec<Fr>> {
        vec![rows.iter().map(|&(a, b)| Fr::from(op.apply(a, b))).collect()]
    }
}

impl Circuit<Fr> for TestCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = Op;

    fn without_witnesses(&self) -> Self {
        Self { op: self.op, rows: vec![(Value::unknown(), Value::unknown()); self.rows.len()] }
    }

    fn params(&self) -> Op {
        self.op
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, op: Op) -> TestConfig {
        let (a, b, c) = (meta.advice_column(), meta.advice_column(), meta.advice_column());
        let out = meta.instance_column();
        meta.enable_equality(c);
        meta.enable_equality(out);
        let q_op = meta.selector();
        let q_byte = meta.complex_selector();
        let bytes = meta.lookup_table_column();
        meta.create_gate("op", |meta| {
            let q = meta.query_selector(q_op);
            let a = meta.query_advice(a, Rotation::cur());
            let b = meta.query_advice(b, Rotation::cur());
            let c = meta.query_advice(c, Rotation::cur());
            let lhs = match op {
                Op::Mul => a * b,
                Op::Add => a + b,
            };
            vec![q * (lhs - c)]
        });
        meta.lookup("a is a byte", |meta| {
            let q = meta.query_selector(q_byte);
            let a = meta.query_advice(a, Rotation::cur());
            vec![(q * a, bytes)]
        });
        TestConfig { a, b, c, out, q_op, q_byte, bytes }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        Self::configure_with_params(meta, Op::default())
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_table(
            || "bytes",
            |mut table| {
                for i in 0..256u64 {
                    table.assign_cell(|| "byte", config.bytes, i as usize, || Value::known(Fr::from(i)))?;
                }
                Ok(())
            },
        )?;
        let op = self.op;
        let cells = layouter.assign_region(
            || "rows",
            |mut region| {
                let mut cells = Vec::with_capacity(self.rows.len());
                for (row, &(a, b)) in self.rows.iter().enumerate() {
                    config.q_op.enable(&mut region, row)?;
                    config.q_byte.enable(&mut region, row)?;
                    region.assign_advice(config.a, row, a);
                    region.assign_advice(config.b, row, b);
                    let c = a.zip(b).map(|(a, b)| match op {
                        Op::Mul => a * b,
                        Op::Add => a + b,
                    });
                    cells.push(region.assign_advice(config.c, row, c).cell());
                }
                Ok(cells)
            },
        )?;
        for (row, cell) in cells.into_iter().enumerate() {
            layouter.constrain_instance(cell, config.out, row);
        }
        Ok(())
    }
}

/// The rows most tests prove.
pub const ROWS: [(u64, u64); 4] = [(3, 5), (255, 1000), (0, 7), (17, 17)];

/// A fresh temporary directory for caches.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"))
}

/// A path inside `dir`.
pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
