//! Built-in calibration and evaluation texts.

/// Calibration prompts used when none are given: varied English prose, dialogue, a list,
/// numbers and code, so every activation site sees typical and extreme values.
pub const CALIBRATION: &[&str] = &[
    "Once upon a time, in a small village at the edge of a great forest, there lived an old \
     woodcutter and his daughter. Every morning they walked into the trees with an axe and a \
     basket of bread, and every evening they came home tired but happy.",
    "The committee reviewed the quarterly report on Tuesday. Revenue rose 12.5% to $4.38 \
     million, while operating costs fell by 3%. The board expects growth to continue in 2025, \
     although supply-chain risks remain.",
    "<|im_start|>user\nWhat is the capital of France, and why is it famous?<|im_end|>\n\
     <|im_start|>assistant\nThe capital of France is Paris. It is famous for the Eiffel Tower, \
     the Louvre museum, its cafés and its long history as a centre of art and science.",
    "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    \
     return a\n\nprint([fibonacci(i) for i in range(10)])",
];

/// A held-out English text (≥ 64 tokens) for measuring integer-vs-float agreement.
pub const EVALUATION: &str = "The history of the printing press begins in the middle of the \
fifteenth century, when Johannes Gutenberg combined movable metal type, oil-based ink and a \
wooden press adapted from those used to make wine. Before his invention, books were copied by \
hand, which made them rare and expensive. Within fifty years, printing shops had spread to \
more than two hundred cities across Europe, and millions of books were in circulation. Ideas \
travelled faster than ever before, and scholars could compare the same text in many places.";

/// Tokenizes `text`, dropping ids outside `vocab` (for models with a cut vocabulary such
/// as the SmolLM2 test slice). Used for calibration and evaluation texts only.
pub fn tokenize_in_vocab(
    tok: &crate::tokenizer::Tokenizer,
    text: &str,
    vocab: usize,
) -> Result<Vec<u32>, crate::Error> {
    let ids: Vec<u32> = tok.encode(text)?.into_iter().filter(|&i| (i as usize) < vocab).collect();
    if ids.is_empty() {
        return Err(crate::Error::EmptyPrompt);
    }
    Ok(ids)
}
