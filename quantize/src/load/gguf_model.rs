//! A GGUF file as a weight source: config from metadata, q/k rows un-permuted.
