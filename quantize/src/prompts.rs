//! Built-in calibration and evaluation texts, and turning texts into token ids: exactly for a
//! prompt to run or prove, leniently for calibration.

use crate::tokenizer::Tokenizer;
use crate::Error;

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
/// as the SmolLM2 test slice). Used for calibration and evaluation texts only: a prompt to
/// run or prove goes through [`tokenize_prompt`].
pub fn tokenize_in_vocab(tok: &Tokenizer, text: &str, vocab: usize) -> Result<Vec<u32>, Error> {
    let ids: Vec<u32> = tok.encode(text)?.into_iter().filter(|&i| (i as usize) < vocab).collect();
    if ids.is_empty() {
        return Err(Error::EmptyPrompt);
    }
    Ok(ids)
}

/// The token ids of a prompt to run or prove, exactly as the tokenizer gives them: a model
/// without a tokenizer ([`Error::NoTokenizer`]), an id outside `vocab`
/// ([`Error::PromptOutOfVocab`]) and an empty prompt are refused, never replaced or dropped.
pub fn tokenize_prompt(tok: Option<&Tokenizer>, text: &str, vocab: usize) -> Result<Vec<u32>, Error> {
    let tok = tok.ok_or(Error::NoTokenizer)?;
    let ids = tok.encode(text)?;
    if let Some(&token) = ids.iter().find(|&&id| id as usize >= vocab) {
        let piece = tok.decode(&[token]).unwrap_or_default();
        return Err(Error::PromptOutOfVocab { token, piece, vocab });
    }
    if ids.is_empty() {
        return Err(Error::EmptyPrompt);
    }
    Ok(ids)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_is_tokenized_exactly_or_refused() {
        let bytes = Tokenizer::bytes();
        assert_eq!(tokenize_prompt(Some(&bytes), "Hi!", 256).unwrap(), [72, 105, 33]);
        let err = tokenize_prompt(None, "Hi!", 256).unwrap_err();
        assert!(matches!(err, Error::NoTokenizer), "{err}");
        // 'i' is 105: outside a vocabulary cut to 100 ids, where calibration drops it.
        let err = tokenize_prompt(Some(&bytes), "Hi!", 100).unwrap_err();
        assert!(
            matches!(err, Error::PromptOutOfVocab { token: 105, vocab: 100, ref piece } if piece == "i"),
            "{err}"
        );
        assert_eq!(tokenize_in_vocab(&bytes, "Hi!", 100).unwrap(), [72, 33]);
        assert!(matches!(tokenize_prompt(Some(&bytes), "", 256).unwrap_err(), Error::EmptyPrompt));
    }
}
