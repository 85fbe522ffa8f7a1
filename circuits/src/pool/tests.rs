use super::*;

#[test]
fn a_shared_pool_reuses_columns_after_a_rewind_and_only_then() {
    let mut meta = ConstraintSystem::<Fr>::default();
    let table = RangeTableConfig::configure(&mut meta);
    let mut pool = ColumnPool::shared("p");
    let (a, b) = (pool.advice(&mut meta, false), pool.advice(&mut meta, true));
    let r = pool.range(&mut meta, "ignored", table);
    assert_ne!(a, b);
    pool.rewind();
    let (a2, b2, c2) =
        (pool.advice(&mut meta, false), pool.advice(&mut meta, false), pool.advice(&mut meta, false));
    let (r2, s2) = (pool.range(&mut meta, "x", table), pool.range(&mut meta, "y", table));
    assert_eq!((a2, b2), (a, b));
    assert_ne!(c2, a);
    assert_eq!(r2.z, r.z);
    assert_ne!(s2.z, r.z);
    assert_eq!(meta.num_advice_columns(), 5);
    assert_eq!(meta.lookups().len(), 2);
    assert_eq!(meta.lookups()[0].name(), "p range 0");
}

#[test]
fn a_fresh_pool_never_reuses_and_keeps_the_names() {
    let mut meta = ConstraintSystem::<Fr>::default();
    let table = RangeTableConfig::configure(&mut meta);
    let mut pool = ColumnPool::fresh();
    let a = pool.advice(&mut meta, false);
    let r = pool.range(&mut meta, "mine", table);
    pool.rewind();
    assert_ne!(pool.advice(&mut meta, false), a);
    assert_ne!(pool.range(&mut meta, "mine too", table).z, r.z);
    assert_eq!(meta.lookups()[0].name(), "mine");
    assert_eq!(meta.num_advice_columns(), 4);
}

/// Two rescale chips drawn from one shared pool after a rewind: the same columns and the
/// same range lookups, each switched on by its own selector on its own rows.
mod stacked_rescales {
    use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
    use halo2_proofs::dev::{MockProver, VerifyFailure};
    use halo2_proofs::plonk::{Circuit, Error};

    use super::*;
    use crate::range::limbs;
    use crate::rescale::{RescaleChip, RescaleConfig, RescaleSite, RescaleWitness};
    use crate::testing::{constraint_failures, k_for, lookup_failures};

    #[derive(Clone, Debug)]
    struct Config {
        chips: [RescaleConfig; 2],
    }

    /// Elements in turn: chip `i % 2` assigns witness `i` at the rows after the previous one.
    #[derive(Clone, Default)]
    struct Stacked {
        elems: Vec<RescaleWitness>,
    }

    impl Circuit<Fr> for Stacked {
        type Config = Config;
        type FloorPlanner = SimpleFloorPlanner;
        type Params = ();

        fn without_witnesses(&self) -> Self {
            self.clone()
        }

        fn configure(meta: &mut ConstraintSystem<Fr>) -> Config {
            let table = RangeTableConfig::configure(meta);
            let mut pool = ColumnPool::shared("stack");
            let a = RescaleConfig::configure_in(meta, &mut pool, table);
            pool.rewind();
            let b = RescaleConfig::configure_in(meta, &mut pool, table);
            Config { chips: [a, b] }
        }

        fn synthesize(&self, config: Config, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
            config.chips[0].output.table.load(&mut layouter)?;
            layouter.assign_region(
                || "stacked",
                |mut region| {
                    let mut row = 0;
                    for (i, w) in self.elems.iter().enumerate() {
                        let chip = RescaleChip::construct(config.chips[i % 2]);
                        chip.assign_witness(&mut region, row, &SITE, Value::known(*w))?;
                        row += SITE.rows(crate::range::RangeLayout::DEFAULT);
                    }
                    Ok(())
                },
            )
        }
    }

    const SITE: RescaleSite = RescaleSite { shift: 6, bits: 16, x_bits: 40 };

    fn run(elems: Vec<RescaleWitness>) -> Result<(), Vec<VerifyFailure>> {
        let rows = elems.len() * SITE.rows(crate::range::RangeLayout::DEFAULT);
        let circuit = Stacked { elems };
        MockProver::run(
            k_for(rows.max(RangeTableConfig::rows_for(crate::range::LIMB_BITS))),
            &circuit,
            vec![],
        )
        .expect("synthesis")
        .verify()
    }

    fn honest(xs: &[i128]) -> Vec<RescaleWitness> {
        xs.iter().map(|&x| RescaleWitness::new(x, &SITE)).collect()
    }

    #[test]
    fn the_chips_share_columns_but_not_selectors() {
        let mut meta = ConstraintSystem::<Fr>::default();
        let [a, b] = Stacked::configure(&mut meta).chips;
        assert_eq!(
            (a.x, a.q, a.remainder.z, a.output.z, a.excess.z),
            (b.x, b.q, b.remainder.z, b.output.z, b.excess.z)
        );
        assert_ne!(a.q_rescale, b.q_rescale);
        assert_eq!(meta.lookups().len(), 3, "one range lookup per shared range column");
    }

    #[test]
    fn honest_elements_of_both_chips_pass() {
        assert_eq!(run(honest(&[1000, -1000, 1 << 30, -(1 << 30), 5])), Ok(()));
    }

    #[test]
    fn a_remainder_out_of_range_in_the_second_chip_fails_the_shared_lookup() {
        let mut elems = honest(&[1000, 1000, 7]);
        let w = &mut elems[1];
        w.q -= 1;
        w.y -= 1;
        w.r += 1 << 6;
        let err = run(elems).expect_err("r ≥ 2^n");
        let top = SITE.rows(crate::range::RangeLayout::DEFAULT) + limbs(6, crate::range::LIMB_BITS) - 1;
        assert_eq!(lookup_failures(&err), vec![("stack range 0".to_string(), top)]);
    }

    #[test]
    fn a_broken_equation_in_either_chip_fails_that_chips_gate() {
        for i in [0usize, 1] {
            let mut elems = honest(&[1000, -1000]);
            elems[i].r += 1;
            let err = run(elems).expect_err("equation broken");
            assert_eq!(
                constraint_failures(&err),
                vec![(
                    "rescale".to_string(),
                    "x + 2^(n-1) = q*2^n + r".to_string(),
                    i * SITE.rows(crate::range::RangeLayout::DEFAULT)
                )]
            );
        }
    }

    #[test]
    fn a_saturated_output_that_lies_fails_in_the_second_chip() {
        // q far above the 16-bit range, flagged `above`, but y is not the clamp.
        let mut elems = honest(&[1000, 1 << 30]);
        elems[1].y -= 1;
        let err = run(elems).expect_err("y ≠ hi");
        let failures = constraint_failures(&err);
        assert!(
            failures
                .iter()
                .all(|(gate, _, row)| gate == "rescale"
                    && *row == SITE.rows(crate::range::RangeLayout::DEFAULT)),
            "{failures:?}"
        );
        assert!(failures.iter().any(|(_, c, _)| c == "above: y = hi"), "{failures:?}");
    }
}
