//! safetensors parsing: validated header, memory-mapped tensor data.
