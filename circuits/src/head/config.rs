//! The columns of a head chunk: column groups side by side, each with its own row cursor.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Column, ConstraintSystem, Instance};

use crate::argmax::ArgmaxConfig;
use crate::lookup::{LookupConfig, RSQRT_POINTS};
use crate::matmul::MatmulConfig;
use crate::norm::NormConfig;
use crate::pool::ColumnPool;
use crate::poseidon::{PoseidonChip, PoseidonConfig};
use crate::range::RangeTableConfig;
use crate::requant::RequantConfig;
use crate::rescale::RescaleConfig;

use super::shape::{HeadShape, HEAD_MATMUL_LANES};

/// Every column group of a head chunk.
#[derive(Clone, Debug)]
pub struct HeadConfig {
    /// The shape the columns were declared for.
    pub shape: HeadShape,
    /// The shared byte table of every range check.
    pub range_table: RangeTableConfig,
    /// The public instances (see the [module docs](super)).
    pub instance: Column<Instance>,
    /// The `lm_head` product (one token).
    pub matmul: MatmulConfig,
    /// Elementwise lanes: input range checks (in the rescale's output column) and the
    /// logits' requantizations.
    pub lanes: Vec<RequantConfig>,
    /// The final RMSNorm (with its own rescale and the rsqrt lookup), in the shared columns
    /// below the input commitment.
    pub norm: NormConfig,
    /// The argmax of the logits.
    pub argmax: ArgmaxConfig,
    /// The input commitment, in the shared columns from row 0.
    pub poseidon: PoseidonConfig,
}

impl HeadConfig {
    /// Declares the columns of `shape`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, shape: HeadShape) -> Self {
        let range_table = RangeTableConfig::configure_layout(meta, shape.range_layout());
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let matmul = MatmulConfig::configure(meta, 1, HEAD_MATMUL_LANES);
        let lanes = (0..shape.elem_lanes.max(1))
            .map(|_| {
                let rescale = RescaleConfig::configure(meta, range_table);
                let acc = meta.advice_column();
                RequantConfig::configure(meta, rescale, acc)
            })
            .collect();
        // The final RMSNorm and Poseidon stack in one shared set of columns.
        let mut pool = ColumnPool::shared("head");
        let norm_rescale = RescaleConfig::configure_in(meta, &mut pool, range_table);
        let (x, y) = (pool.advice(meta, false), pool.advice(meta, false));
        let rsqrt = LookupConfig::configure_for_in(meta, &mut pool, "rsqrt", x, y, RSQRT_POINTS, shape.k);
        let norm = NormConfig::configure_in(meta, &mut pool, range_table, rsqrt, norm_rescale);
        let argmax = ArgmaxConfig::configure(meta, range_table, shape.logit_bits);
        pool.rewind();
        let advice = pool.advice_array(meta, false);
        let rc = std::array::from_fn(|_| meta.fixed_column());
        let capacity = meta.fixed_column();
        let poseidon = PoseidonChip::configure(meta, advice, rc, capacity);
        HeadConfig { shape, range_table, instance, matmul, lanes, norm, argmax, poseidon }
    }
}
