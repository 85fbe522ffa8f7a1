//! Phase 1 of a block chunk: every activation, in one region, with a cursor per column
//! group (RMSNorm, Poseidon and the attention share one); the matmul checks follow in phase 2.

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::Error;

use crate::attention::AttentionChip;
use crate::failure::{check, internal, Chip, Problem, Span};
use crate::field::{fr_to_i128, i128_to_fr, AssignedFr};
use crate::lookup::ExtendedLookupChip;
use crate::matmul::{MatmulChip, MatmulInputs};
use crate::norm::{NormChip, NormSite};
use crate::poseidon::PoseidonChip;
use crate::product::{ProductChip, SwigluChip};
use crate::range::{range_rows, RangeChip, RangeLayout};
use crate::requant::RequantChip;
use crate::residual::ResidualChip;
use crate::rope::RopeChip;

use super::config::BlockConfig;
use super::consts::{AttnConsts, BlockConsts, Linear, MlpConsts};
use super::cursor::Lanes;
use super::shape::{usable_rows, RowCounts};

const NORM: usize = 0;
const POSEIDON: usize = 1;
const ATTENTION: usize = 2;

/// What phase 1 hands on: the commitment cells and the products to check.
pub(super) struct Phase1 {
    pub input_commitment: Cell,
    pub output_commitment: Cell,
    pub products: Vec<MatmulInputs>,
}

/// The chips of one block chunk and their cursors.
pub(super) struct Synth<'c> {
    cfg: &'c BlockConfig,
    c: &'c BlockConsts,
    elem: Lanes,
    /// The cursors of RMSNorm, Poseidon and the attention; one, when they stack in shared
    /// columns.
    shared_rows: [usize; 3],
    /// Where the stacked chips must end (the first row of the lanes below them).
    shared_cap: usize,
    matmul_row: usize,
    cap: usize,
    products: Vec<MatmulInputs>,
}

/// The integer values of cells (unknown at keygen; `Error::Synthesis` if one is not an
/// integer of 63 bits).
fn int_values(cells: &[AssignedFr<'_>]) -> Result<Value<Vec<i64>>, Error> {
    let v: Value<Vec<Option<i128>>> =
        cells.iter().map(|c| c.value().map(|v| fr_to_i128(v.evaluate()))).collect();
    let i64s = Span::new(i64::MIN.into(), i64::MAX.into());
    check(&v, Chip::Matmul, |v| Problem::first_outside("input", v.iter().copied(), i64s))?;
    Ok(v.map(|v| v.into_iter().flatten().filter_map(|v| i64::try_from(v).ok()).collect()))
}

impl<'c> Synth<'c> {
    pub fn new(cfg: &'c BlockConfig, c: &'c BlockConsts) -> Self {
        let (shape, cap) = (cfg.shape, usable_rows(cfg.shape.k));
        let rows = RowCounts::of(c, &shape);
        // Lanes in the shared columns take the rows below the stacked chips, which then
        // must stay above them.
        let (pool_lanes, shared_cap) =
            if shape.stacked && shape.pool_lanes > 0 { (shape.pool_lanes, rows.stacked()) } else { (0, cap) };
        let own = cfg.lanes.len().saturating_sub(pool_lanes);
        let ranges = (0..own).map(|_| 0..cap).chain((0..pool_lanes).map(|_| shared_cap..cap)).collect();
        let mut elem = Lanes::with_ranges(ranges, shape.k);
        elem.reserve_tail(0, rows.swiglu);
        Synth { cfg, c, elem, shared_rows: [0; 3], shared_cap, matmul_row: 0, cap, products: vec![] }
    }

    /// The layout of the chunk's range checks in the chips' columns (deferred to the bus
    /// when the shape has one).
    fn limb(&self) -> RangeLayout {
        self.cfg.shape.range_layout()
    }

    /// The cursor of `group` (one of [`NORM`], [`POSEIDON`], [`ATTENTION`]).
    fn group(&self, group: usize) -> usize {
        if self.cfg.shape.stacked {
            0
        } else {
            group
        }
    }

    /// Reserves `rows` rows of a single-lane group whose cursor is `row`.
    fn take(cursor: &mut usize, rows: usize, cap: usize, k: u32) -> Result<usize, Error> {
        let start = *cursor;
        if start + rows > cap {
            return Err(Error::NotEnoughRowsAvailable { current_k: k });
        }
        *cursor += rows;
        Ok(start)
    }

    /// Runs the chunk on `input` (`[t, d]`, unknown at keygen).
    pub fn run(mut self, region: &mut Region<'_, Fr>, input: Value<&[i64]>) -> Result<Phase1, Error> {
        let (t, d) = (self.c.t, self.c.config.hidden_size);
        let bits = self.c.resid.bits;
        let mut x = Vec::with_capacity(t * d);
        for i in 0..t * d {
            let (lane, row) = self.elem.place(range_rows(bits, self.limb()))?;
            let v = input.map(|v| v.get(i).map_or(Fr::from(u64::MAX), |&v| i128_to_fr(v.into())));
            let range = RangeChip::construct(self.cfg.lanes[lane].rescale.output);
            x.push(range.assign_signed(region, row, v, bits)?);
        }
        let input_commitment = self.commit(region, &x)?;
        let mut h = x;
        if let Some(a) = &self.c.attn {
            h = self.attention_half(region, a, &h)?;
        }
        if let Some(m) = &self.c.mlp {
            h = self.mlp_half(region, m, &h)?;
        }
        let output_commitment = self.commit(region, &h)?;
        Ok(Phase1 { input_commitment, output_commitment, products: self.products })
    }

    fn commit(&mut self, region: &mut Region<'_, Fr>, cells: &[AssignedFr<'_>]) -> Result<Cell, Error> {
        let row = Self::take(
            &mut self.shared_rows[self.group(POSEIDON)],
            PoseidonChip::rows(cells.len()),
            self.shared_cap,
            self.cfg.shape.k,
        )?;
        Ok(PoseidonChip::construct(self.cfg.poseidon.clone()).commit(region, row, cells)?.cell())
    }

    /// RMSNorm of every token of `x: [t, d]`.
    fn norm<'v>(
        &mut self,
        region: &mut Region<'_, Fr>,
        site: &NormSite,
        x: &[AssignedFr<'_>],
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let chip = NormChip::construct(self.cfg.norm, &self.c.tables.rsqrt);
        let mut y = Vec::with_capacity(x.len());
        let rows = site.rows(self.limb());
        for token in x.chunks(site.d()) {
            let row =
                Self::take(&mut self.shared_rows[self.group(NORM)], rows, self.shared_cap, self.cfg.shape.k)?;
            y.extend(chip.assign(region, row, token, site)?.y);
        }
        Ok(y)
    }

    /// `requant(W·x)` for `x: [t, cols]`; returns `[t, rows]`.
    fn linear<'v>(
        &mut self,
        region: &mut Region<'_, Fr>,
        l: &Linear,
        x: &[AssignedFr<'_>],
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let n = l.rows();
        let xs = int_values(x)?;
        let acc = xs.map(|xs| l.w.accumulators(&xs));
        check(&acc, Chip::Matmul, |a| a.as_ref().err().map(|e| Problem::Unsupported(e.to_string())))?;
        let acc = acc.map(|a| a.unwrap_or_default());
        let y: Vec<Value<Fr>> = (0..self.c.t * n)
            .map(|i| acc.as_ref().map(|a| a.get(i).map_or(Fr::zero(), |&v| i128_to_fr(v))))
            .collect();
        let xv: Vec<Value<Fr>> = x.iter().map(|c| c.value().map(|v| v.evaluate())).collect();
        let chip = MatmulChip::construct(self.cfg.matmul.clone());
        let rows = chip.config().rows_needed(&l.w);
        let row = Self::take(&mut self.matmul_row, rows, self.cap, self.cfg.shape.k)?;
        let inputs = chip.assign_inputs_in(region, row, &l.w, &xv, &y)?;
        for (cell, copy) in x.iter().zip(&inputs.x) {
            region.constrain_equal(cell.cell(), copy.cell);
        }
        let mut out = Vec::with_capacity(inputs.y.len());
        for (i, acc) in inputs.y.iter().enumerate() {
            let (lane, row) = self.elem.place(l.site.rows(self.limb()))?;
            let chip = RequantChip::construct(self.cfg.lanes[lane].requant);
            out.push(chip.assign(region, row, acc.cell, acc.value, l.mult[i % n], &l.site)?);
        }
        self.products.push(inputs);
        Ok(out)
    }

    /// The saturating residual add `a + b`, elementwise.
    fn residual<'v>(
        &mut self,
        region: &mut Region<'_, Fr>,
        a: &[AssignedFr<'_>],
        b: &[AssignedFr<'_>],
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let site = self.c.residual;
        a.iter()
            .zip(b)
            .map(|(a, b)| {
                let (lane, row) = self.elem.place(site.rows(self.limb()))?;
                ResidualChip::construct(self.cfg.lanes[lane].residual).assign(region, row, a, b, &site)
            })
            .collect()
    }

    /// RoPE of `x: [t, heads, D]` at positions `0..t`.
    fn rope<'v>(
        &mut self,
        region: &mut Region<'_, Fr>,
        a: &AttnConsts,
        x: &[AssignedFr<'_>],
        heads: usize,
        site: &crate::rescale::RescaleSite,
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let hd = self.c.config.head_dim;
        let half = hd / 2;
        let mut y: Vec<Option<AssignedFr<'v>>> = vec![None; x.len()];
        for pos in 0..self.c.t {
            for head in 0..heads {
                let base = (pos * heads + head) * hd;
                for i in 0..half {
                    let constants = (a.rope.cos[pos * half + i], a.rope.sin[pos * half + i]);
                    let (lane, row) = self.elem.place(RopeChip::pair_rows(site, self.limb()))?;
                    let chip = RopeChip::construct(self.cfg.lanes[lane].rope);
                    let (re, im) =
                        chip.assign_pair(region, row, &x[base + i], &x[base + i + half], constants, site)?;
                    y[base + i] = Some(re);
                    y[base + i + half] = Some(im);
                }
            }
        }
        y.into_iter().map(|c| c.ok_or_else(|| internal(Chip::Rope, "an output was not assigned"))).collect()
    }

    fn attention_half<'v>(
        &mut self,
        region: &mut Region<'_, Fr>,
        a: &AttnConsts,
        x: &[AssignedFr<'_>],
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let cfg = &self.c.config;
        let h = self.norm(region, &a.norm, x)?;
        let q = self.linear(region, &a.q, &h)?;
        let k = self.linear(region, &a.k, &h)?;
        let v = self.linear(region, &a.v, &h)?;
        let q = self.rope(region, a, &q, cfg.num_attention_heads, &a.rope_q)?;
        let k = self.rope(region, a, &k, cfg.num_key_value_heads, &a.rope_k)?;
        let chip = AttentionChip::construct(
            self.cfg.attention.clone().ok_or_else(|| internal(Chip::Block, "no attention columns"))?,
            &self.c.tables,
        )?;
        let shape = a.shape(cfg, self.c.t);
        let rows = a.attention_rows(cfg, self.c.t, self.limb())?;
        let row = Self::take(
            &mut self.shared_rows[self.group(ATTENTION)],
            rows,
            self.shared_cap,
            self.cfg.shape.k,
        )?;
        let heads = chip.assign(region, row, &shape, a.q.out.bits, a.k.out.bits, &q, &k, &v)?;
        let o = self.linear(region, &a.o, &heads)?;
        self.residual(region, x, &o)
    }

    fn mlp_half<'v>(
        &mut self,
        region: &mut Region<'_, Fr>,
        m: &MlpConsts,
        x: &[AssignedFr<'_>],
    ) -> Result<Vec<AssignedFr<'v>>, Error> {
        let h = self.norm(region, &m.norm, x)?;
        let gate = self.linear(region, &m.gate, &h)?;
        let up = self.linear(region, &m.up, &h)?;
        let lane0 = &self.cfg.lanes[0];
        let silu_cfg = lane0.silu.ok_or_else(|| internal(Chip::Block, "no SiLU columns"))?;
        let swiglu = SwigluChip::construct(
            ExtendedLookupChip::construct(silu_cfg, &self.c.tables.silu)?,
            ProductChip::construct(lane0.product),
        );
        let rows = SwigluChip::rows(m.gate.out.bits, &m.swiglu, self.limb());
        let mut mid = Vec::with_capacity(gate.len());
        for (g, u) in gate.iter().zip(&up) {
            let row = self.elem.place_in(0, rows)?;
            mid.push(swiglu.assign(region, row, g, u, m.gate.out.bits, &m.swiglu)?.1);
        }
        let down = self.linear(region, &m.down, &mid)?;
        self.residual(region, x, &down)
    }
}
