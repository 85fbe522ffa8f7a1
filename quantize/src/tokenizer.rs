//! GPT-2-style byte-level BPE tokenizer (SmolLM pre-tokenizer).
