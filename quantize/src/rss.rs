//! Peak resident memory of this process.
//!
//! Read from `/proc/self/status` (Linux); elsewhere, or where that file is unreadable,
//! both functions return `None`. Used by the CLI and the tests to show that model import
//! and export stream one tensor at a time instead of holding the whole model.

/// The highest resident set size this process has reached so far (`VmHWM`), in bytes;
/// `None` where `/proc/self/status` is unavailable.
pub fn peak_rss_bytes() -> Option<u64> {
    status_field_bytes("VmHWM")
}

/// The current resident set size of this process (`VmRSS`), in bytes; `None` where
/// `/proc/self/status` is unavailable.
pub fn current_rss_bytes() -> Option<u64> {
    status_field_bytes("VmRSS")
}

/// Current and peak resident set size read from one snapshot of `/proc/self/status`, as
/// `(current, peak)` in bytes. Two separate reads can disagree (another thread may free
/// memory in between, and the kernel updates its high-water mark lazily); one snapshot
/// cannot, because the kernel reports the peak as at least the current value.
pub fn rss_snapshot() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    Some((parse_kb_field(&text, "VmRSS")?, parse_kb_field(&text, "VmHWM")?))
}

fn status_field_bytes(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kb_field(&text, key)
}

/// The value of a `Key:   1234 kB` line of a `/proc/*/status` text, in bytes.
fn parse_kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    let mut parts = line.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Name:\tcat\nVmPeak:\t    9000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t     999 kB\n";

    #[test]
    fn parses_status_fields() {
        assert_eq!(parse_kb_field(SAMPLE, "VmHWM"), Some(1234 * 1024));
        assert_eq!(parse_kb_field(SAMPLE, "VmRSS"), Some(999 * 1024));
        assert_eq!(parse_kb_field(SAMPLE, "VmPeak"), Some(9000 * 1024));
    }

    #[test]
    fn rejects_missing_or_malformed_fields() {
        assert_eq!(parse_kb_field(SAMPLE, "VmSwap"), None);
        assert_eq!(parse_kb_field(SAMPLE, "VmH"), None, "a key prefix is not a key");
        assert_eq!(parse_kb_field("VmHWM:\t12 MB\n", "VmHWM"), None);
        assert_eq!(parse_kb_field("VmHWM:\tlots kB\n", "VmHWM"), None);
        assert_eq!(parse_kb_field("VmHWM:\n", "VmHWM"), None);
        assert_eq!(parse_kb_field("VmHWM:\t18446744073709551615 kB\n", "VmHWM"), None);
    }

    #[test]
    fn live_values_are_consistent() {
        if !std::path::Path::new("/proc/self/status").exists() {
            assert_eq!(peak_rss_bytes(), None);
            assert_eq!(current_rss_bytes(), None);
            assert_eq!(rss_snapshot(), None);
            return;
        }
        assert!(matches!(current_rss_bytes(), Some(c) if c > 0));
        assert!(matches!(peak_rss_bytes(), Some(c) if c > 0));
        // Other test threads allocate and free concurrently, so only values from one
        // snapshot are comparable.
        let (cur, peak) = rss_snapshot().expect("status readable");
        assert!(cur > 0 && peak >= cur, "peak {peak} < current {cur}");
    }

    #[test]
    fn resident_memory_counts_a_touched_allocation() {
        if current_rss_bytes().is_none() {
            return;
        }
        let n = 64 << 20;
        let mut big = vec![0u8; n];
        // Touch every page so it becomes resident.
        for i in (0..n).step_by(4096) {
            big[i] = 1;
        }
        let (cur, peak) = rss_snapshot().unwrap_or((0, 0));
        assert!(std::hint::black_box(&big).iter().step_by(4096).all(|&b| b == 1));
        assert!(cur >= n as u64, "resident {cur} while holding {n} touched bytes");
        assert!(peak >= cur, "peak {peak} < current {cur}");
    }
}
