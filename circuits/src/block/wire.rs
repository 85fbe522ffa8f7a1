//! A [`BlockShape`] as files and peers send it: fields written before a shape had them
//! take their old values, and a shape whose configuration would panic or declare an
//! unbounded number of columns (a hostile keys file or job) is refused while decoding.

use super::shape::{BlockShape, MATMUL_LANES, MATMUL_LANE_CHOICES, MAX_K, MAX_POOL_LANES};
use crate::range::{LIMB_BITS, MAX_LIMB_BITS};

/// Most tokens a shape may declare (one matmul activation column each).
pub const MAX_SHAPE_TOKENS: usize = 4096;
/// Most elementwise lanes of their own a shape may declare (9 advice columns each).
pub const MAX_ELEM_LANES: usize = 256;
/// Most range-bus columns a shape may declare (each an advice column with its own lookup).
pub const MAX_RANGE_BUS: usize = 256;

fn default_matmul_lanes() -> usize {
    MATMUL_LANES
}

pub(crate) fn default_limb_bits() -> u32 {
    LIMB_BITS
}

/// The bounds every chunk shape's wire form shares, each with what to say when it fails:
/// tokens, lanes of its own, `k` and the range limb width.
pub(crate) fn common_checks(t: usize, elem_lanes: usize, k: u32, limb_bits: u32) -> [(bool, String); 4] {
    [
        (t <= MAX_SHAPE_TOKENS, format!("{t} tokens (at most {MAX_SHAPE_TOKENS})")),
        (elem_lanes <= MAX_ELEM_LANES, format!("{elem_lanes} elementwise lanes (at most {MAX_ELEM_LANES})")),
        (k <= MAX_K, format!("k = {k} (at most {MAX_K})")),
        (
            (LIMB_BITS..=MAX_LIMB_BITS).contains(&limb_bits),
            format!("{limb_bits}-bit range limbs ({LIMB_BITS} to {MAX_LIMB_BITS})"),
        ),
    ]
}

/// `Err("<what> shape with <the first failed check>")`, or `Ok` when every check holds.
pub(crate) fn refuse_first(
    what: &str,
    checks: impl IntoIterator<Item = (bool, String)>,
) -> Result<(), String> {
    match checks.into_iter().find(|(ok, _)| !ok) {
        Some((_, why)) => Err(format!("{what} shape with {why}")),
        None => Ok(()),
    }
}

/// The serialized fields of a [`BlockShape`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireShape {
    t: usize,
    attention: bool,
    mlp: bool,
    elem_lanes: usize,
    k: u32,
    #[serde(default)]
    stacked: bool,
    #[serde(default)]
    pool_lanes: usize,
    #[serde(default = "default_matmul_lanes")]
    matmul_lanes: usize,
    #[serde(default = "default_limb_bits")]
    limb_bits: u32,
    #[serde(default)]
    compact_ranges: bool,
    #[serde(default)]
    range_bus: usize,
}

impl TryFrom<WireShape> for BlockShape {
    type Error = String;

    fn try_from(w: WireShape) -> Result<Self, String> {
        let max_lanes = MATMUL_LANE_CHOICES[MATMUL_LANE_CHOICES.len() - 1];
        let own = [
            (
                w.pool_lanes <= MAX_POOL_LANES,
                format!("{} pool lanes (at most {MAX_POOL_LANES})", w.pool_lanes),
            ),
            (
                (1..=max_lanes).contains(&w.matmul_lanes),
                format!("{} matmul lanes (1 to {max_lanes})", w.matmul_lanes),
            ),
            (
                w.range_bus <= MAX_RANGE_BUS,
                format!("{} range bus columns (at most {MAX_RANGE_BUS})", w.range_bus),
            ),
        ];
        refuse_first("block", common_checks(w.t, w.elem_lanes, w.k, w.limb_bits).into_iter().chain(own))?;
        Ok(BlockShape {
            t: w.t,
            attention: w.attention,
            mlp: w.mlp,
            elem_lanes: w.elem_lanes,
            k: w.k,
            stacked: w.stacked,
            pool_lanes: w.pool_lanes,
            matmul_lanes: w.matmul_lanes,
            limb_bits: w.limb_bits,
            compact_ranges: w.compact_ranges,
            range_bus: w.range_bus,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str =
        r#"{"t":8,"attention":true,"mlp":true,"elem_lanes":1,"k":15,"stacked":true,"pool_lanes":3}"#;

    fn with(field: &str, value: &str) -> String {
        OLD.replacen('}', &format!(r#","{field}":{value}}}"#), 1)
    }

    #[test]
    fn fields_from_before_take_their_old_values_and_round_trip() {
        let s: BlockShape = serde_json::from_str(OLD).expect("an old shape");
        assert_eq!((s.limb_bits, s.matmul_lanes), (LIMB_BITS, MATMUL_LANES));
        assert!(!s.compact_ranges, "shapes from before end their range checks in a zero row");
        assert_eq!(s.range_bus, 0, "shapes from before check their ranges in place");
        let back: BlockShape =
            serde_json::from_str(&serde_json::to_string(&s).expect("writes")).expect("reads");
        assert_eq!(back, s);
        let compact: BlockShape = serde_json::from_str(&with("compact_ranges", "true")).expect("compact");
        assert!(compact.compact_ranges);
        assert!(serde_json::from_str::<BlockShape>(&with("compact_ranges", "2")).is_err());
    }

    /// Shapes that would make `configure` panic (a limb width outside the table's range) or
    /// declare millions of columns are refused, each naming its field.
    #[test]
    fn hostile_shapes_are_refused_with_the_field() {
        for (field, value, needle) in [
            ("limb_bits", "40", "range limbs"),
            ("limb_bits", "0", "range limbs"),
            ("matmul_lanes", "0", "matmul lanes"),
            ("matmul_lanes", "1000000000", "matmul lanes"),
            ("range_bus", "1000000000", "range bus"),
        ] {
            let err = serde_json::from_str::<BlockShape>(&with(field, value)).expect_err(field).to_string();
            assert!(err.contains(needle), "{field} = {value}: {err}");
        }
        let huge = OLD.replace(r#""elem_lanes":1"#, r#""elem_lanes":100000000"#);
        assert!(serde_json::from_str::<BlockShape>(&huge)
            .expect_err("lanes")
            .to_string()
            .contains("elementwise"));
        let huge = OLD.replace(r#""t":8"#, r#""t":1000000"#);
        assert!(serde_json::from_str::<BlockShape>(&huge)
            .expect_err("tokens")
            .to_string()
            .contains("tokens"));
        let deep = OLD.replace(r#""k":15"#, r#""k":40"#);
        assert!(serde_json::from_str::<BlockShape>(&deep).expect_err("k").to_string().contains("k = 40"));
        assert!(
            serde_json::from_str::<BlockShape>(&with("extra", "1")).is_err(),
            "unknown fields stay refused"
        );
    }
}
