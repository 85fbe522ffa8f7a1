//! Why a chip refused to synthesize.
//!
//! halo2's [`Error`] carries no data and `Circuit::synthesize` must return it, so a chip
//! that refuses an input records a [`Failure`] (which chip, what went wrong, the value and
//! the bounds) for the current thread with [`fail`], then returns `Error::Synthesis`.
//! Whoever ran the synthesis — keygen, the prover, `MockProver` — reads it with
//! [`explain`]: halo2-axiom synthesizes on the calling thread. A later failure replaces an
//! earlier one (like `errno`); the top-level circuits [`clear`] the record when their
//! synthesis starts, so a detail is never left over from another run.

use std::cell::RefCell;
use std::fmt;

use halo2_proofs::circuit::Value;
use halo2_proofs::plonk::Error;

/// The chip (or circuit) that refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chip {
    /// [`crate::range`].
    Range,
    /// [`crate::rescale`].
    Rescale,
    /// [`crate::lookup`], a plain table lookup.
    Lookup,
    /// [`crate::lookup::extended`], a table with out-of-domain branches.
    ExtendedLookup,
    /// [`crate::norm`].
    Norm,
    /// [`crate::rope`].
    Rope,
    /// [`crate::product`], an elementwise product.
    Product,
    /// [`crate::product`], SwiGLU.
    Swiglu,
    /// [`crate::residual`].
    Residual,
    /// [`crate::requant`].
    Requant,
    /// [`crate::matmul`].
    Matmul,
    /// [`crate::softmax`].
    Softmax,
    /// [`crate::attention`] as a whole.
    Attention,
    /// The attention's score dot products.
    AttentionScore,
    /// The attention's head outputs.
    AttentionHead,
    /// [`crate::argmax`].
    Argmax,
    /// [`crate::poseidon`].
    Poseidon,
    /// [`crate::block`]: the block circuit around the chips.
    Block,
    /// [`crate::head`]: the head circuit around the chips.
    Head,
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Chip::Range => "range check",
            Chip::Rescale => "rescale",
            Chip::Lookup => "lookup",
            Chip::ExtendedLookup => "extended lookup",
            Chip::Norm => "RMSNorm",
            Chip::Rope => "RoPE",
            Chip::Product => "product",
            Chip::Swiglu => "SwiGLU",
            Chip::Residual => "residual add",
            Chip::Requant => "requant",
            Chip::Matmul => "matmul",
            Chip::Softmax => "softmax",
            Chip::Attention => "attention",
            Chip::AttentionScore => "attention score",
            Chip::AttentionHead => "attention head output",
            Chip::Argmax => "argmax",
            Chip::Poseidon => "Poseidon",
            Chip::Block => "block",
            Chip::Head => "head",
        })
    }
}

/// An integer value as a chip saw it: `None` for a field element that is not an `i128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int(pub Option<i128>);

impl fmt::Display for Int {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{}", Pow2(v)),
            None => f.write_str("(a field element beyond 127 bits)"),
        }
    }
}

/// Writes `±2^n` and `2^n − 1` for powers of two from 2^10 on, else the decimal.
struct Pow2(i128);

impl fmt::Display for Pow2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sign, m) = if self.0 < 0 { ("-", self.0.unsigned_abs()) } else { ("", self.0.unsigned_abs()) };
        if m >= 1 << 10 && m.is_power_of_two() {
            write!(f, "{sign}2^{}", m.trailing_zeros())
        } else if m >= (1 << 10) - 1 && m.wrapping_add(1).is_power_of_two() && sign.is_empty() {
            write!(f, "2^{} − 1", m.wrapping_add(1).trailing_zeros())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// The inclusive range `[lo, hi]` a value had to lie in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The smallest value allowed.
    pub lo: i128,
    /// The largest value allowed.
    pub hi: i128,
}

impl Span {
    /// `[lo, hi]`.
    pub fn new(lo: i128, hi: i128) -> Self {
        Span { lo, hi }
    }

    /// `[−2^(bits−1), 2^(bits−1) − 1]` (clamped to `i128`; empty for 0 bits).
    pub fn signed(bits: u32) -> Self {
        match bits {
            0 => Span { lo: 0, hi: -1 },
            b if b >= 128 => Span { lo: i128::MIN, hi: i128::MAX },
            b => Span { lo: -(1i128 << (b - 1)), hi: (1i128 << (b - 1)) - 1 },
        }
    }

    /// `[0, 2^bits − 1]` (clamped to `i128`).
    pub fn unsigned(bits: u32) -> Self {
        match bits {
            b if b >= 127 => Span { lo: 0, hi: i128::MAX },
            b => Span { lo: 0, hi: (1i128 << b) - 1 },
        }
    }

    /// Whether `v` lies in the span.
    pub fn contains(&self, v: i128) -> bool {
        (self.lo..=self.hi).contains(&v)
    }

    /// The index and value of the first of `values` that is not an integer in the span.
    pub fn first_outside(&self, values: impl IntoIterator<Item = Option<i128>>) -> Option<(usize, Int)> {
        values
            .into_iter()
            .enumerate()
            .find(|(_, v)| !v.is_some_and(|v| self.contains(v)))
            .map(|(i, v)| (i, Int(v)))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |m: i128| m.checked_add(1).map(|n| n.unsigned_abs()).filter(|n| n.is_power_of_two());
        if let Some(n) = width(self.hi).filter(|&n| self.lo == -(n as i128) && n > 1) {
            write!(f, "the signed {}-bit range ", n.trailing_zeros() + 1)?;
        } else if let Some(n) = width(self.hi).filter(|&n| self.lo == 0 && n > 1) {
            write!(f, "the unsigned {}-bit range ", n.trailing_zeros())?;
        }
        write!(f, "[{}, {}]", Pow2(self.lo), Pow2(self.hi))
    }
}

/// Where in a list a value sits, when it sits in one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At(pub Option<usize>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(i) => write!(f, "[{i}]"),
            None => Ok(()),
        }
    }
}

/// What a chip refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A value outside the range its site was laid out (calibrated) for.
    #[error("{what}{at} = {value} is outside {span}")]
    OutOfRange {
        /// What the value is (`"input"`, `"accumulator·multiplier"`, …).
        what: &'static str,
        /// Its position in the chip's input, when it is one of many.
        at: At,
        /// The value.
        value: Int,
        /// Where it had to lie.
        span: Span,
    },
    /// A list of the wrong length.
    #[error("{what} has {got} values; {expected} expected")]
    Length {
        /// What the list is.
        what: &'static str,
        /// The length the chip was laid out for.
        expected: usize,
        /// The length it got.
        got: usize,
    },
    /// A width beyond what the chip can check.
    #[error("{what} of {got} bits is beyond the maximum of {max}")]
    TooWide {
        /// What the width is of.
        what: &'static str,
        /// The width asked for.
        got: u32,
        /// The widest the chip supports.
        max: u32,
    },
    /// A shape or constant the chip cannot lay out.
    #[error("{0}")]
    Unsupported(String),
    /// Columns, tables or rows that do not fit together: a bug in the circuit, not in
    /// the input.
    #[error("internal error (a bug in the circuit, not the input): {0}")]
    Internal(&'static str),
}

impl Problem {
    /// `what[at] = value` outside `span`.
    pub fn outside(what: &'static str, at: Option<usize>, value: Int, span: Span) -> Self {
        Problem::OutOfRange { what, at: At(at), value, span }
    }

    /// `what = value` outside `span`, unless `value` is an integer in it.
    pub fn unless_in(what: &'static str, value: Option<i128>, span: Span) -> Option<Self> {
        (!value.is_some_and(|v| span.contains(v))).then_some(Problem::outside(what, None, Int(value), span))
    }

    /// The first of `values` outside `span`, if any, as `what[i] = v` outside `span`.
    pub fn first_outside(
        what: &'static str,
        values: impl IntoIterator<Item = Option<i128>>,
        span: Span,
    ) -> Option<Self> {
        span.first_outside(values).map(|(i, v)| Problem::outside(what, Some(i), v, span))
    }

    /// `what` has `got` values where `expected` were laid out; `None` when they agree.
    pub fn length(what: &'static str, expected: usize, got: usize) -> Option<Self> {
        (expected != got).then_some(Problem::Length { what, expected, got })
    }
}

/// A chip's refusal: which chip and what it refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{chip}: {problem}")]
pub struct Failure {
    /// The chip.
    pub chip: Chip,
    /// What it refused.
    pub problem: Problem,
}

thread_local! {
    static LAST: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Records that `chip` refused because of `problem` and returns `Error::Synthesis`, the
/// error synthesis must return.
pub fn fail(chip: Chip, problem: Problem) -> Error {
    record(Failure { chip, problem })
}

/// Records `failure` and returns `Error::Synthesis`.
pub fn record(failure: Failure) -> Error {
    LAST.with(|last| *last.borrow_mut() = Some(failure));
    Error::Synthesis
}

/// [`fail`] with [`Problem::Internal`]: a configuration that cannot happen unless the
/// circuit has a bug.
pub fn internal(chip: Chip, what: &'static str) -> Error {
    fail(chip, Problem::Internal(what))
}

/// [`fail`] with [`Problem::TooWide`].
pub fn too_wide(chip: Chip, what: &'static str, got: u32, max: u32) -> Error {
    fail(chip, Problem::TooWide { what, got, max })
}

/// [`fail`] with [`Problem::Unsupported`].
pub fn unsupported(chip: Chip, why: impl Into<String>) -> Error {
    fail(chip, Problem::Unsupported(why.into()))
}

/// [`fail`] with [`Problem::Length`].
pub fn wrong_length(chip: Chip, what: &'static str, expected: usize, got: usize) -> Error {
    fail(chip, Problem::Length { what, expected, got })
}

/// Fails as `chip` with [`Problem::Length`] unless `got == expected`.
pub fn check_length(chip: Chip, what: &'static str, expected: usize, got: usize) -> Result<(), Error> {
    match Problem::length(what, expected, got) {
        Some(problem) => Err(fail(chip, problem)),
        None => Ok(()),
    }
}

/// Fails as `chip` with the problem `check` finds in `value` when it is known (at keygen
/// values are unknown and nothing is checked).
pub fn check<T>(
    value: &Value<T>,
    chip: Chip,
    check: impl FnOnce(&T) -> Option<Problem>,
) -> Result<(), Error> {
    let mut found = None;
    value.as_ref().map(|v| found = check(v));
    match found {
        Some(problem) => Err(fail(chip, problem)),
        None => Ok(()),
    }
}

/// Forgets the recorded failure; call when a synthesis starts.
pub fn clear() {
    LAST.with(|last| *last.borrow_mut() = None);
}

/// The recorded failure behind `error` (taken, so it is reported once), or `None` when
/// `error` is not `Error::Synthesis` or nothing was recorded.
pub fn explain(error: &Error) -> Option<Failure> {
    match error {
        Error::Synthesis => take(),
        _ => None,
    }
}

/// The recorded failure, taken. For callers that lose halo2's error: halo2-axiom's
/// `create_proof` unwraps a synthesis error into a panic, so a prover that catches the
/// panic asks here whether a chip refused (after [`clear`] before proving).
pub fn take() -> Option<Failure> {
    LAST.with(|last| last.borrow_mut().take())
}

/// What went wrong behind `error`: the recorded failure (taken) when it is
/// `Error::Synthesis` and one was recorded, else halo2's own message.
pub fn describe(error: &Error) -> String {
    explain(error).map_or_else(|| error.to_string(), |failure| failure.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_values_read_as_powers_of_two() {
        assert_eq!(Span::signed(57).to_string(), "the signed 57-bit range [-2^56, 2^56 − 1]");
        assert_eq!(Span::unsigned(16).to_string(), "the unsigned 16-bit range [0, 2^16 − 1]");
        assert_eq!(Span::new(-3, 700).to_string(), "[-3, 700]");
        assert_eq!(Int(Some(1 << 61)).to_string(), "2^61");
        assert_eq!(Int(Some(40_000)).to_string(), "40000");
        assert_eq!(Int(None).to_string(), "(a field element beyond 127 bits)");
    }

    #[test]
    fn a_failure_is_explained_once_and_only_for_synthesis_errors() {
        clear();
        let e = fail(Chip::Rescale, Problem::outside("input", None, Int(Some(1 << 61)), Span::signed(57)));
        assert!(explain(&Error::BoundsFailure).is_none());
        let failure = explain(&e).map(|f| f.to_string());
        assert_eq!(
            failure.as_deref(),
            Some("rescale: input = 2^61 is outside the signed 57-bit range [-2^56, 2^56 − 1]")
        );
        assert!(explain(&e).is_none());
    }

    #[test]
    fn check_looks_only_at_known_values() {
        clear();
        let problem = |v: &i128| Problem::first_outside("x", [Some(*v)], Span::signed(8));
        assert!(check(&Value::unknown(), Chip::Range, problem).is_ok());
        assert!(check(&Value::known(5), Chip::Range, problem).is_ok());
        assert!(matches!(check(&Value::known(300), Chip::Range, problem), Err(Error::Synthesis)));
        let failure = explain(&Error::Synthesis);
        assert!(matches!(
            failure,
            Some(Failure { chip: Chip::Range, problem: Problem::OutOfRange { at: At(Some(0)), .. } })
        ));
    }
}
