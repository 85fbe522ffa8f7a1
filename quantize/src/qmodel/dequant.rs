//! A quantized model's weights seen as floats (`w · s_row`, norms `w · 2^-frac`), so the
//! float reference can run on a quantized file when its source model is not at hand.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::file::QuantizedModel;
use super::{QLayer, QLinear, QNorm};
use crate::config::LlamaConfig;
use crate::error::LoadError;
use crate::load::WeightSource;
use crate::names::{LayerTensor, TensorId};
use crate::tensor::Tensor;

/// The float weights a quantized model stands for.
pub struct DequantizedModel<'a> {
    model: &'a QuantizedModel,
    /// The last block read (a float pass asks for its nine tensors in turn).
    last: Mutex<Option<(usize, Arc<QLayer>)>>,
}

impl<'a> DequantizedModel<'a> {
    /// Views `model` as float weights.
    pub fn new(model: &'a QuantizedModel) -> Self {
        DequantizedModel { model, last: Mutex::new(None) }
    }
}

fn linear(l: &QLinear, in_frac: u32) -> Tensor {
    let mut data = Vec::with_capacity(l.weight.len());
    for (j, &m) in l.mult.iter().enumerate() {
        let s = m as f64 / (l.shift as f64).exp2() * (in_frac as f64 - l.out.frac as f64).exp2();
        data.extend(l.effective_row(j).iter().map(|&w| (w as f64 * s) as f32));
    }
    Tensor { shape: vec![l.rows, l.cols], data }
}

fn norm(n: &QNorm) -> Tensor {
    let s = (-(n.frac as f64)).exp2();
    Tensor { shape: vec![n.weight.len()], data: n.weight.iter().map(|&w| (w as f64 * s) as f32).collect() }
}

impl DequantizedModel<'_> {
    fn layer(&self, l: usize) -> Result<Arc<QLayer>, LoadError> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((i, q)) = last.as_ref() {
            if *i == l {
                return Ok(q.clone());
            }
        }
        let q = Arc::new(self.model.layer(l)?);
        *last = Some((l, q.clone()));
        Ok(q)
    }
}

impl WeightSource for DequantizedModel<'_> {
    fn config(&self) -> &LlamaConfig {
        self.model.config()
    }

    fn path(&self) -> &Path {
        self.model.path()
    }

    fn load(&self, id: TensorId) -> Result<Tensor, LoadError> {
        let m = self.model;
        Ok(match id {
            TensorId::Embedding => linear(&m.embedding()?, 0),
            TensorId::FinalNorm => norm(&m.final_norm()?),
            TensorId::LmHead => linear(&m.lm_head()?, m.final_norm()?.out.frac),
            TensorId::Layer(l, t) => {
                let q = self.layer(l)?;
                match t {
                    LayerTensor::AttnNorm => norm(&q.attn_norm),
                    LayerTensor::FfnNorm => norm(&q.ffn_norm),
                    LayerTensor::Q => linear(&q.q, q.attn_norm.out.frac),
                    LayerTensor::K => linear(&q.k, q.attn_norm.out.frac),
                    LayerTensor::V => linear(&q.v, q.attn_norm.out.frac),
                    LayerTensor::O => linear(&q.o, q.v.out.frac),
                    LayerTensor::Gate => linear(&q.gate, q.ffn_norm.out.frac),
                    LayerTensor::Up => linear(&q.up, q.ffn_norm.out.frac),
                    LayerTensor::Down => linear(&q.down, q.mid.frac),
                }
            }
        })
    }
}
