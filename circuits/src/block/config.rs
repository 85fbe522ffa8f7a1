//! The columns of a block chunk circuit: column groups ("lanes"), each with its own row
//! cursor, so that work of different kinds runs side by side in the same rows.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Column, ConstraintSystem, Instance};

use crate::attention::AttentionConfig;
use crate::lookup::{ExtendedLookupConfig, Extension, LookupConfig, RSQRT_POINTS, SILU_POINTS};
use crate::matmul::MatmulConfig;
use crate::norm::NormConfig;
use crate::pool::ColumnPool;
use crate::poseidon::{PoseidonChip, PoseidonConfig};
use crate::product::ProductConfig;
use crate::range::bus::RangeBusConfig;
use crate::range::RangeTableConfig;
use crate::requant::RequantConfig;
use crate::rescale::RescaleConfig;
use crate::residual::ResidualConfig;
use crate::rope::RopeConfig;

use super::shape::BlockShape;

/// An elementwise lane: one rescale chip and the gates that feed it, over two shared
/// operand columns `a`, `b` (9 advice columns), plus the SiLU lookup on lane 0.
#[derive(Clone, Debug)]
pub struct ElemLane {
    /// The rescale every element of the lane ends in.
    pub rescale: RescaleConfig,
    /// Linear outputs: `x = acc·m` (operand `a`).
    pub requant: RequantConfig,
    /// SwiGLU's product (operands `a`, `b`).
    pub product: ProductConfig,
    /// Residual adds (operands `a`, `b`).
    pub residual: ResidualConfig,
    /// RoPE pairs (operands `a`, `b`).
    pub rope: RopeConfig,
    /// SwiGLU's SiLU (lane 0 of a chunk with the MLP half).
    pub silu: Option<ExtendedLookupConfig>,
}

impl ElemLane {
    /// Declares a lane's columns drawn from `pool`, with the SiLU lookup when `silu`.
    pub fn configure_in(
        meta: &mut ConstraintSystem<Fr>,
        pool: &mut ColumnPool,
        range_table: RangeTableConfig,
        silu: bool,
        k: u32,
    ) -> Self {
        let rescale = RescaleConfig::configure_in(meta, pool, range_table);
        let (a, b) = (pool.advice(meta, false), pool.advice(meta, false));
        let silu = silu.then(|| {
            let (x, y) = (pool.advice(meta, false), pool.advice(meta, false));
            let table = LookupConfig::configure_for_in(meta, pool, "silu table", x, y, SILU_POINTS, k);
            ExtendedLookupConfig::configure_in(meta, pool, "silu", table, range_table, Extension::silu())
        });
        ElemLane {
            rescale,
            requant: RequantConfig::configure(meta, rescale, a),
            product: ProductConfig::configure(meta, rescale, a, b),
            residual: ResidualConfig::configure(meta, rescale, a, b),
            rope: RopeConfig::configure(meta, rescale, a, b),
            silu,
        }
    }
}

/// Every column group of a block chunk.
#[derive(Clone, Debug)]
pub struct BlockConfig {
    /// The shape the columns were declared for.
    pub shape: BlockShape,
    /// The shared byte table of every range check.
    pub range_table: RangeTableConfig,
    /// `[input commitment, output commitment]`.
    pub instance: Column<Instance>,
    /// Every matrix product (its own columns).
    pub matmul: MatmulConfig,
    /// Elementwise lanes: [`BlockShape::own_lanes`] in their own columns, then
    /// [`BlockShape::pool_lanes`] in the shared columns, below the stacked chips. SiLU is on
    /// lane 0 (the first lane of its own, or the first in the shared columns when there is
    /// none).
    pub lanes: Vec<ElemLane>,
    /// RMSNorm (with its own rescale and the rsqrt lookup), in the shared columns.
    pub norm: NormConfig,
    /// The activation commitments, in the shared columns.
    pub poseidon: PoseidonConfig,
    /// Causal attention, in the shared columns, in chunks with the attention half.
    pub attention: Option<AttentionConfig>,
    /// The range bus every range check is copied into, when the shape has one
    /// ([`BlockShape::range_bus`]); otherwise each range column checks in place.
    pub range_bus: Option<RangeBusConfig>,
}

impl BlockConfig {
    /// Declares the columns of `shape`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, shape: BlockShape) -> Self {
        let range_table = RangeTableConfig::configure_layout(meta, shape.range_layout());
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let matmul = MatmulConfig::configure(meta, shape.t.max(1), shape.matmul_lanes.max(1));
        let deferred = shape.range_bus > 0;
        let mut fresh = ColumnPool::fresh().deferring(deferred);
        let own = shape.own_lanes();
        let mut lanes: Vec<ElemLane> = (0..own)
            .map(|i| ElemLane::configure_in(meta, &mut fresh, range_table, i == 0 && shape.mlp, shape.k))
            .collect();
        // RMSNorm, the attention and Poseidon stack in one shared set of columns (or, when
        // the shape says so, each owns its columns).
        let pool = if shape.stacked { ColumnPool::shared("block") } else { ColumnPool::fresh() };
        let mut pool = pool.deferring(deferred);
        let norm_rescale = RescaleConfig::configure_in(meta, &mut pool, range_table);
        let (x, y) = (pool.advice(meta, false), pool.advice(meta, false));
        let rsqrt = LookupConfig::configure_for_in(meta, &mut pool, "rsqrt", x, y, RSQRT_POINTS, shape.k);
        let norm = NormConfig::configure_in(meta, &mut pool, range_table, rsqrt, norm_rescale);
        pool.rewind();
        let advice = pool.advice_array(meta, false);
        let rc = std::array::from_fn(|_| meta.fixed_column());
        let capacity = meta.fixed_column();
        let poseidon = PoseidonChip::configure(meta, advice, rc, capacity);
        let attention =
            shape.attention.then(|| AttentionConfig::configure_in(meta, &mut pool, range_table, shape.k));
        // Lanes below the stacked chips, in the shared columns; the first carries SiLU when
        // no lane has columns of its own.
        if shape.stacked {
            pool.rewind();
            for i in 0..shape.pool_lanes {
                let silu = own == 0 && i == 0 && shape.mlp;
                lanes.push(ElemLane::configure_in(meta, &mut pool, range_table, silu, shape.k));
            }
        }
        let range_bus = deferred
            .then(|| RangeBusConfig::configure(meta, "block range bus", shape.range_bus, range_table));
        BlockConfig { shape, range_table, instance, matmul, lanes, norm, poseidon, attention, range_bus }
    }
}
