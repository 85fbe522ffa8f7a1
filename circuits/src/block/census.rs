//! The range checks a chunk makes, by width: counted by laying the chunk's first phase out
//! once, without witnesses and without storing anything, in a shape roomy enough for any
//! chunk. The checks and their widths depend only on the constants — not on `k`, the lanes,
//! the range layout or where the chips sit — so one census prices a range bus
//! ([`crate::range::bus`]) for every layout.

use std::cell::RefCell;
use std::collections::BTreeMap;

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error, FloorPlanner};

use crate::probe::LastRows;

use crate::range::{range_rows, RangeLayout};

use super::config::BlockConfig;
use super::consts::BlockConsts;
use super::shape::{BlockShape, MATMUL_LANE_CHOICES, MAX_K};
use super::synth::Synth;

/// How many range checks of each width a chunk makes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeCensus {
    /// `(bits, checks)`, by width.
    pub widths: BTreeMap<u32, usize>,
}

impl RangeCensus {
    /// The census of the chunk with constants `c`.
    pub fn of(c: &BlockConsts) -> Result<Self, Error> {
        census(c)
    }

    /// Rows the checks take in a bus laid out as `layout` (each check in place, one after
    /// another).
    pub fn rows(&self, layout: RangeLayout) -> usize {
        self.widths.iter().map(|(&bits, &n)| n * range_rows(bits, layout)).sum()
    }
}

fn census(c: &BlockConsts) -> Result<RangeCensus, Error> {
    let layout = RangeLayout::compact(crate::range::LIMB_BITS);
    let shape = BlockShape {
        t: c.t,
        attention: c.attn.is_some(),
        mlp: c.mlp.is_some(),
        elem_lanes: 1,
        k: MAX_K,
        stacked: true,
        pool_lanes: 0,
        matmul_lanes: MATMUL_LANE_CHOICES[MATMUL_LANE_CHOICES.len() - 1],
        limb_bits: layout.limb_bits,
        compact_ranges: layout.compact,
        range_bus: 1,
    };
    let mut cs = ConstraintSystem::<Fr>::default();
    let config = BlockConfig::configure(&mut cs, shape);
    let census = Census { c, widths: RefCell::default() };
    SimpleFloorPlanner::synthesize(&mut LastRows::new(), &census, config, vec![])?;
    Ok(RangeCensus { widths: census.widths.into_inner() })
}

/// The chunk's first phase, counting the checks it defers by width.
struct Census<'a> {
    c: &'a BlockConsts,
    widths: RefCell<BTreeMap<u32, usize>>,
}

impl Circuit<Fr> for Census<'_> {
    type Config = BlockConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        Census { c: self.c, widths: RefCell::default() }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> BlockConfig {
        BlockConfig::configure(meta, BlockShape::default())
    }

    fn synthesize(&self, config: BlockConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let checks = layouter.assign_region(
            || "census",
            |mut region| {
                let run = || Synth::new(&config, self.c).run(&mut region, Value::unknown());
                Ok(crate::range::bus::collect(run)?.1)
            },
        )?;
        let mut widths = self.widths.borrow_mut();
        for check in checks {
            *widths.entry(check.bits).or_default() += 1;
        }
        Ok(())
    }
}
