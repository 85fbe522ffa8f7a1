//! The chunk planner: splits a model into chunks of consecutive operations whose circuit
//! fits a row budget `2^max_k`, and estimates each chunk's rows, columns, proving time and
//! memory.
//!
//! The estimate is a cost model, not a measurement. Each operation family lives in its own
//! columns, so a chunk's height is the tallest family's row count (at least the 2^14 rows of the folded tables
//! when the chunk uses them); its columns are the sum over the families it uses. Row and
//! cell formulas per family:
//!
//! | family | advice cols | rows | source |
//! |---|---|---|---|
//! | fixed-weight matmul (`n×d`, `T` tokens, `L` lanes) | `T + 2` | `n + d·⌈n/L⌉` | [`crate::matmul`] |
//! | rescale / saturating add (per value) | 7 | 7 | [`crate::rescale`] (64-bit input, ~24-bit shift) |
//! | extended lookup: exp, silu (per value) | 7 | 5 | [`crate::lookup`] |
//! | plain lookup: rsqrt, recip (per value) | 2 | 1 | [`crate::lookup`] |
//! | activation × activation MAC | 3 | 1 | projected: a running-sum product gate |
//! | Poseidon boundary commitment (per value) | 9 | 6.33 | [`crate::poseidon`] |
//!
//! Time, memory and points come from the one cost model ([`crate::cost::Layout`]), with the
//! lookup arguments each family uses (a rescale 3, an extended lookup 2, a plain one 1) and
//! half the advice columns equality-enabled, as in the real chunk layouts.

use serde::Serialize;
use zkinfer_quantize::census::{self, Census};
use zkinfer_quantize::LlamaConfig;

use crate::cost::Layout;

/// Weight lanes of the matmul chip the planner assumes.
pub const LANES: usize = 32;
/// Rows the 2^16-entry lookup tables occupy, folded four times ([`crate::lookup`]).
const TABLE_ROWS: u64 = 1 << 14;
/// Rows halo2 reserves for blinding at the end of every column.
const BLINDING_ROWS: u64 = 10;

/// One operation of the model, the unit the planner packs into chunks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Op {
    /// What it is, e.g. `layer 3 mlp` or `layer 3 gate rows 0..5504`.
    pub name: String,
    /// Its operation counts.
    pub census: Census,
    /// Fixed-weight matrices `(rows, cols)` it multiplies by.
    pub matrices: Vec<(usize, usize)>,
}

/// The circuit-size estimate of a set of operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Rows used (before blinding).
    pub rows: u64,
    /// Smallest `k` with `rows + blinding ≤ 2^k`.
    pub k: u32,
    /// Advice columns.
    pub advice_columns: u64,
    /// Fixed columns.
    pub fixed_columns: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Advice cells actually assigned.
    pub assigned_cells: u64,
    /// Points its proof and key carry into an aggregation circuit ([`Layout::points`]).
    pub points: usize,
    /// Estimated proving seconds on 2 cores.
    pub prove_seconds: f64,
    /// Estimated proving memory in bytes.
    pub memory_bytes: u64,
}

/// Estimates the circuit of `ops` over `t` tokens with two boundary commitments of
/// `boundary` values each.
pub fn estimate(ops: &[Op], t: usize, boundary: u64) -> Estimate {
    let mut c = Census::default();
    let (mut mm_rows, mut mm_cells) = (0u64, 0u64);
    for op in ops {
        c = c.plus(op.census);
        for &(n, d) in &op.matrices {
            let (n, d, tt, blocks) = (n as u64, d as u64, t as u64, n.div_ceil(LANES) as u64);
            mm_rows += n + d * blocks;
            mm_cells += tt * (n + d) + n + 2 * d * blocks;
        }
    }
    let rescale_rows = 7 * (c.rescales + c.adds);
    let ext_rows = 5 * (c.exp + c.silu);
    let plain_rows = c.rsqrt + c.recip;
    let mac_rows = c.advice_macs;
    let pos_rows = (2 * boundary * 19).div_ceil(3) + 2;
    let mut rows =
        [mm_rows, rescale_rows, ext_rows, plain_rows, mac_rows, pos_rows].into_iter().max().unwrap_or(0);
    if c.exp + c.silu + c.rsqrt + c.recip > 0 {
        rows = rows.max(TABLE_ROWS);
    }
    let uses = |n: u64| (n > 0) as u64;
    let advice_columns = uses(mm_rows) * (t as u64 + 2)
        + uses(rescale_rows) * 7
        + uses(ext_rows) * 7
        + uses(plain_rows) * 2
        + uses(mac_rows) * 3
        + 9;
    let fixed_columns = uses(mm_rows) * LANES as u64 + 12 + 3 * uses(ext_rows + plain_rows);
    let k = (64 - (rows + BLINDING_ROWS - 1).leading_zeros()).max(4);
    let layout = Layout {
        k,
        advice: advice_columns as usize,
        fixed: fixed_columns as usize,
        lookups: (3 * uses(rescale_rows) + 2 * uses(ext_rows) + uses(plain_rows)) as usize,
        equality: advice_columns.div_ceil(2) as usize,
        degree: 5,
        ..Layout::default()
    };
    Estimate {
        rows,
        k,
        advice_columns,
        fixed_columns,
        macs: c.macs(),
        assigned_cells: mm_cells
            + 18 * c.rescales
            + 12 * c.adds
            + 11 * (c.exp + c.silu)
            + 2 * (c.rsqrt + c.recip)
            + 2 * c.advice_macs
            + 2 * boundary * 19,
        points: layout.points(),
        prove_seconds: layout.prove_seconds(),
        memory_bytes: layout.memory_bytes(),
    }
}

/// The model as a list of operations: per layer the attention half and the MLP half, then
/// the head (final norm and `lm_head` at the last position). A half that alone exceeds
/// `2^max_k` rows is split into its matrices, and a matrix by output rows.
pub fn ops(c: &LlamaConfig, t: usize, max_k: u32) -> Vec<Op> {
    let budget = 1u64 << max_k;
    let d = c.hidden_size as u64;
    let mut out = Vec::new();
    for l in 0..c.num_hidden_layers {
        let attn = Op {
            name: format!("layer {l} attention"),
            census: census::attention(c, t),
            matrices: vec![
                (c.q_dim(), c.hidden_size),
                (c.kv_dim(), c.hidden_size),
                (c.kv_dim(), c.hidden_size),
                (c.hidden_size, c.q_dim()),
            ],
        };
        let mlp = Op {
            name: format!("layer {l} mlp"),
            census: census::mlp(c, t),
            matrices: vec![(c.intermediate_size, c.hidden_size); 2]
                .into_iter()
                .chain([(c.hidden_size, c.intermediate_size)])
                .collect(),
        };
        out.push(attn);
        out.push(mlp);
    }
    out.push(Op {
        name: "final norm + lm_head".into(),
        census: census::head(c, t, 1),
        matrices: vec![(c.vocab_size, c.hidden_size)],
    });
    out.into_iter()
        .flat_map(|op| {
            if estimate(std::slice::from_ref(&op), t, d * t as u64).rows + BLINDING_ROWS <= budget {
                vec![op]
            } else {
                split(&op, budget)
            }
        })
        .collect()
}

/// Splits an operation into one op per matrix (carrying its share of the other work), and
/// each matrix into row blocks that fit `budget`.
fn split(op: &Op, budget: u64) -> Vec<Op> {
    let total: u64 = op.matrices.iter().map(|&(n, d)| (n * d) as u64).sum::<u64>().max(1);
    // Every weight is used by the same number of tokens (T, or 1 for the head).
    let per_weight = op.census.fixed_macs / total;
    let mut out = Vec::new();
    for (i, &(n, d)) in op.matrices.iter().enumerate() {
        let share = (n * d) as f64 / total as f64;
        let scale = |x: u64| (x as f64 * share).ceil() as u64;
        // Rows per output row ≈ 1 + d/L: the largest block that fits.
        let per = 1 + d.div_ceil(LANES) as u64;
        let max_rows = ((budget.saturating_sub(BLINDING_ROWS + 16)) / per).max(1) as usize;
        let parts = n.div_ceil(max_rows);
        for p in 0..parts {
            let (lo, hi) = (p * n / parts, (p + 1) * n / parts);
            let f = (hi - lo) as f64 / n as f64;
            let cs = &op.census;
            let part = |x: u64| (scale(x) as f64 * f).ceil() as u64;
            out.push(Op {
                name: format!("{} matrix {i} rows {lo}..{hi}", op.name),
                census: Census {
                    fixed_macs: ((hi - lo) * d) as u64 * per_weight,
                    advice_macs: part(cs.advice_macs),
                    rescales: part(cs.rescales),
                    rsqrt: part(cs.rsqrt),
                    exp: part(cs.exp),
                    recip: part(cs.recip),
                    silu: part(cs.silu),
                    adds: part(cs.adds),
                },
                matrices: vec![(hi - lo, d)],
            });
        }
    }
    out
}

/// A planned chunk: consecutive operations and their estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Chunk {
    /// Position in the chain.
    pub index: usize,
    /// The operations, in order.
    pub ops: Vec<String>,
    /// The estimate.
    pub estimate: Estimate,
}

/// Packs the model's operations greedily into chunks of at most `2^max_k` rows.
pub fn plan(c: &LlamaConfig, t: usize, max_k: u32) -> Vec<Chunk> {
    let boundary = (c.hidden_size * t) as u64;
    let budget = 1u64 << max_k;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut cur: Vec<Op> = Vec::new();
    let flush = |cur: &mut Vec<Op>, chunks: &mut Vec<Chunk>| {
        if !cur.is_empty() {
            chunks.push(Chunk {
                index: chunks.len(),
                ops: cur.iter().map(|o| o.name.clone()).collect(),
                estimate: estimate(cur, t, boundary),
            });
            cur.clear();
        }
    };
    for op in ops(c, t, max_k) {
        cur.push(op);
        if estimate(&cur, t, boundary).rows + BLINDING_ROWS > budget && cur.len() > 1 {
            let last = cur.pop();
            flush(&mut cur, &mut chunks);
            cur.extend(last);
        }
    }
    flush(&mut cur, &mut chunks);
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkinfer_quantize::synthetic::{llama2_7b_layer_config, tiny_config};

    fn smollm2() -> LlamaConfig {
        LlamaConfig {
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            head_dim: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 1e5,
            vocab_size: 49152,
            tie_word_embeddings: true,
        }
    }

    #[test]
    fn every_chunk_fits_and_every_mac_is_planned() {
        for (cfg, max_k) in
            [(smollm2(), 18), (smollm2(), 20), (tiny_config(), 17), (llama2_7b_layer_config(2, 32000), 20)]
        {
            let chunks = plan(&cfg, 4, max_k);
            assert!(!chunks.is_empty());
            for ch in &chunks {
                assert!(ch.estimate.k <= max_k, "{:?} k={} > {max_k}", ch.ops, ch.estimate.k);
            }
            let planned: u64 = chunks.iter().map(|c| c.estimate.macs).sum();
            let want: u64 = (0..cfg.num_hidden_layers)
                .map(|_| census::attention(&cfg, 4).plus(census::mlp(&cfg, 4)).fixed_macs)
                .sum::<u64>()
                + census::head(&cfg, 4, 1).fixed_macs;
            let planned_fixed: u64 = ops(&cfg, 4, max_k).iter().map(|o| o.census.fixed_macs).sum();
            assert_eq!(planned_fixed, want, "fixed MACs lost in splitting");
            assert!(planned >= want);
        }
    }

    #[test]
    fn the_matmul_rows_follow_the_chip_formula() {
        let op = Op { name: "m".into(), census: Census::default(), matrices: vec![(192, 576)] };
        let e = estimate(&[op], 4, 0);
        assert_eq!(e.rows, 192 + 576 * 6); // n + d·⌈n/32⌉
        assert_eq!(e.k, 12);
    }
}
