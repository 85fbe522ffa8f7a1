//! Phase 1 of a head chunk: every activation in one region, each column group from row 0
//! (the elementwise work spread over the lanes); the matmul check follows in phase 2.

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::Error;

use crate::argmax::{ArgmaxChip, Prior};
use crate::block::{usable_rows, Lanes};
use crate::failure::{check, Chip, Problem, Span};
use crate::field::{cell_i128, i128_to_fr, AssignedFr};
use crate::matmul::{MatmulChip, MatmulInputs};
use crate::norm::NormChip;
use crate::poseidon::PoseidonChip;
use crate::range::{range_rows, RangeChip};

use crate::requant::RequantChip;

use super::config::HeadConfig;
use super::consts::HeadConsts;

/// What phase 1 hands on: the cells tied to the instances and the product to check.
pub(super) struct Phase1 {
    pub input_commitment: Cell,
    pub prior: Option<(Cell, Cell)>,
    pub index: Cell,
    pub max: Cell,
    pub product: MatmulInputs,
}

/// Runs the head on `input` (`[t, d]`) and the `prior` best of earlier slices (both
/// unknown at keygen).
pub(super) fn run(
    cfg: &HeadConfig,
    c: &HeadConsts,
    region: &mut Region<'_, Fr>,
    input: Value<&[i64]>,
    prior: Option<Value<Prior>>,
) -> Result<Phase1, Error> {
    let (t, d, k) = (c.t, c.d, cfg.shape.k);
    let cap = usable_rows(k);
    let fits =
        |rows: usize| if rows <= cap { Ok(()) } else { Err(Error::NotEnoughRowsAvailable { current_k: k }) };
    let mut elem = Lanes::new(cfg.lanes.len(), cap, k);

    let bits = c.resid.bits;
    let mut x = Vec::with_capacity(t * d);
    for i in 0..t * d {
        let (lane, row) = elem.place(range_rows(bits, cfg.range_table.layout()))?;
        let v = input.map(|v| v.get(i).map_or(Fr::from(u64::MAX), |&v| i128_to_fr(v.into())));
        x.push(RangeChip::construct(cfg.lanes[lane].rescale.output).assign_signed(region, row, v, bits)?);
    }
    // The input commitment, then the final norm below it in the same (shared) columns.
    let norm_row = PoseidonChip::rows(x.len());
    fits(norm_row + c.norm.rows(cfg.range_table.layout()))?;
    let input_commitment = PoseidonChip::construct(cfg.poseidon.clone()).commit(region, 0, &x)?.cell();
    let h = NormChip::construct(cfg.norm, &c.tables.rsqrt)
        .assign(region, norm_row, &x[(t - 1) * d..], &c.norm)?
        .y;

    let product = lm_head(cfg, c, region, &h)?;
    let mut logits: Vec<AssignedFr<'_>> = Vec::with_capacity(product.y.len());
    for (j, acc) in product.y.iter().enumerate() {
        let (lane, row) = elem.place(c.lm.site.rows(cfg.range_table.layout()))?;
        let chip = RequantChip::construct(cfg.lanes[lane]);
        logits.push(chip.assign(region, row, acc.cell, acc.value, c.lm.mult[j], &c.lm.site)?);
    }

    let argmax = ArgmaxChip::construct(cfg.argmax);
    fits(argmax.config().rows(logits.len() + usize::from(prior.is_some())))?;
    let best = argmax.assign(region, 0, prior, &logits, c.vocab.start as u64)?;
    Ok(Phase1 {
        input_commitment,
        prior: best.prior.map(|(i, l)| (i.cell(), l.cell())),
        index: best.index.cell(),
        max: best.max.cell(),
        product,
    })
}

/// Phase-1 inputs of the `lm_head` product over the normalized token `h`: `h` copied in,
/// the exact accumulators claimed.
fn lm_head(
    cfg: &HeadConfig,
    c: &HeadConsts,
    region: &mut Region<'_, Fr>,
    h: &[AssignedFr<'_>],
) -> Result<MatmulInputs, Error> {
    let chip = MatmulChip::construct(cfg.matmul.clone());
    let rows = chip.config().rows_needed(&c.lm.w);
    if rows > usable_rows(cfg.shape.k) {
        return Err(Error::NotEnoughRowsAvailable { current_k: cfg.shape.k });
    }
    let values: Value<Vec<Option<i128>>> = h.iter().map(cell_i128).collect();
    let i64s = Span::new(i64::MIN.into(), i64::MAX.into());
    check(&values, Chip::Head, |v| Problem::first_outside("normed input", v.iter().copied(), i64s))?;
    let xs = values.map(|v| v.into_iter().map(|v| v.unwrap_or_default() as i64).collect::<Vec<_>>());
    let acc = xs.map(|xs| c.lm.w.accumulators(&xs));
    check(&acc, Chip::Matmul, |a| a.as_ref().err().map(|e| Problem::Unsupported(e.to_string())))?;
    let acc = acc.map(|a| a.unwrap_or_default());
    let y: Vec<Value<Fr>> = (0..c.lm.rows())
        .map(|j| acc.as_ref().map(|a| a.get(j).map_or(Fr::zero(), |&v| i128_to_fr(v))))
        .collect();
    let xv: Vec<Value<Fr>> = h.iter().map(|c| c.value().map(|v| v.evaluate())).collect();
    let inputs = chip.assign_inputs_in(region, 0, &c.lm.w, &xv, &y)?;
    for (cell, copy) in h.iter().zip(&inputs.x) {
        region.constrain_equal(cell.cell(), copy.cell);
    }
    Ok(inputs)
}
