//! A byte-level run-length encoding for verifying keys, whose compressed selectors are
//! mostly long runs of `0x00` and `0xFF` (one bit per row per selector).
//!
//! The encoding is a sequence of items, each a tag byte then a LEB128 length `n ≥ 1`:
//! tag 0 — `n` literal bytes follow; tag 1 — one byte follows, repeated `n` times.
//! Runs shorter than `MIN_RUN` (8 bytes) stay in literals.

/// The shortest run encoded as a repeat.
const MIN_RUN: usize = 8;

/// Why bytes do not decode.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RleError {
    /// The input ends inside an item.
    #[error("run-length data is truncated")]
    Truncated,
    /// A tag other than 0 or 1, or a zero or overlong length.
    #[error("run-length data is malformed at byte {0}")]
    Malformed(usize),
    /// The decoded bytes would exceed the caller's limit.
    #[error("run-length data decodes to more than {0} bytes")]
    TooLong(usize),
}

fn push_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn push_literal(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty() {
        out.push(0);
        push_len(out, bytes.len());
        out.extend_from_slice(bytes);
    }
}

/// Encodes `bytes`.
pub fn pack(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 4 + 16);
    let (mut literal_start, mut i) = (0, 0);
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|&&b| b == bytes[i]).count();
        if run >= MIN_RUN {
            push_literal(&mut out, &bytes[literal_start..i]);
            out.push(1);
            push_len(&mut out, run);
            out.push(bytes[i]);
            literal_start = i + run;
        }
        i += run;
    }
    push_literal(&mut out, &bytes[literal_start..]);
    out
}

/// Decodes `packed`, refusing to produce more than `limit` bytes.
pub fn unpack(packed: &[u8], limit: usize) -> Result<Vec<u8>, RleError> {
    let mut out = Vec::new();
    let mut at = 0;
    let byte = |at: usize| packed.get(at).copied().ok_or(RleError::Truncated);
    while at < packed.len() {
        let (tag, start) = (packed[at], at);
        at += 1;
        let mut n: usize = 0;
        for shift in (0..).step_by(7) {
            let b = byte(at)?;
            at += 1;
            if shift > 56 {
                return Err(RleError::Malformed(start));
            }
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        if n == 0 {
            return Err(RleError::Malformed(start));
        }
        if out.len().saturating_add(n) > limit {
            return Err(RleError::TooLong(limit));
        }
        match tag {
            0 => {
                let bytes = packed.get(at..at + n).ok_or(RleError::Truncated)?;
                out.extend_from_slice(bytes);
                at += n;
            }
            1 => {
                out.resize(out.len() + n, byte(at)?);
                at += 1;
            }
            _ => return Err(RleError::Malformed(start)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_runs_and_literals() {
        let mut bytes: Vec<u8> = (0..=255).collect();
        bytes.extend(std::iter::repeat_n(0, 100_000));
        bytes.extend([7, 7, 7]);
        bytes.extend(std::iter::repeat_n(0xff, 300));
        bytes.push(1);
        let packed = pack(&bytes);
        assert!(packed.len() < 300, "{} bytes", packed.len());
        assert_eq!(unpack(&packed, bytes.len()), Ok(bytes.clone()));
        assert_eq!(unpack(&pack(&[]), 0), Ok(vec![]));
        assert_eq!(unpack(&packed, bytes.len() - 1), Err(RleError::TooLong(bytes.len() - 1)));
    }

    #[test]
    fn refuses_malformed_data() {
        assert_eq!(unpack(&[2, 1, 0], 10), Err(RleError::Malformed(0)));
        assert_eq!(unpack(&[0, 0], 10), Err(RleError::Malformed(0)));
        assert_eq!(unpack(&[0, 3, 1, 2], 10), Err(RleError::Truncated));
        assert_eq!(unpack(&[1, 5], 10), Err(RleError::Truncated));
        assert_eq!(unpack(&[1, 0x80], 10), Err(RleError::Truncated));
        assert_eq!(
            unpack(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0], 10),
            Err(RleError::Malformed(0))
        );
    }
}
