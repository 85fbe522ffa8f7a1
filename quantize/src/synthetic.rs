//! Deterministic synthetic Llama models, in memory and written as HF folders.
