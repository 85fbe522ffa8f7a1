//! zkinfer-quantize: load Llama-family models (HF safetensors, GGUF), quantize them to
//! lookup-friendly fixed-point integers, and run the float and the bit-exact integer
//! reference forward passes that the circuits constrain.
#![deny(missing_docs)]

pub mod census;
pub mod config;
pub mod error;
pub mod fixed;
pub mod float;
pub mod int;
pub mod load;
pub mod names;
pub mod open;
pub mod prompts;
pub mod qmodel;
pub mod quant;
pub mod report;
pub mod rss;
pub mod synthetic;
pub mod tensor;
pub mod tokenizer;

pub use config::LlamaConfig;
pub use error::{Error, LoadError};
pub use load::WeightSource;
pub use names::{LayerTensor, TensorId};
pub use tensor::Tensor;
