//! HF model folders: config.json plus one or sharded safetensors files.
