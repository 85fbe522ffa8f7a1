//! GGUF v3 container parsing: header, metadata, tensor infos.
