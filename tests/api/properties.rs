//! Properties that hold for any input (proptest): scores stay in range,
//! explanations add up, dense and named input agree, artifacts round-trip,
//! and no value or string makes the pipeline panic.

use std::collections::HashMap;

use leadscore::scoring::features::{FeatureEncoding, LeadInput, RawValue};
use leadscore::scoring::model::{Estimator, ModelArtifact, ScoringModel};
use proptest::prelude::*;

use crate::helpers::synthetic_artifact;

fn model() -> ScoringModel {
    ScoringModel::from_artifact(synthetic_artifact().clone()).expect("valid model")
}

/// Any f64 at all: finite, huge, tiny, subnormal, NaN, ±inf.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        proptest::num::f64::ANY,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE / 2.0),
        Just(f64::MAX),
        Just(-0.0),
    ]
}

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6..1e6f64,
        proptest::num::f64::NORMAL,
        Just(0.0),
        Just(f64::MAX),
        Just(f64::MIN)
    ]
}

/// A valid named lead for the synthetic model: numbers finite, categories any string.
fn named_lead() -> impl Strategy<Value = HashMap<String, RawValue>> {
    (
        finite_f64(),
        finite_f64(),
        finite_f64(),
        any::<bool>(),
        prop_oneof![
            Just("1-10".to_string()),
            Just("201-1000".to_string()),
            ".{0,12}"
        ],
        prop_oneof![Just("referral".to_string()), ".{0,12}"],
        proptest::collection::vec(any::<bool>(), 6),
    )
        .prop_map(|(a, b, c, report, size, source, present)| {
            let all = [
                ("demo_actions", RawValue::Number(a)),
                ("visits_30d", RawValue::Number(b)),
                ("email_opens", RawValue::Number(c)),
                ("report_created", RawValue::Flag(report)),
                ("company_size", RawValue::Category(size)),
                ("lead_source", RawValue::Category(source)),
            ];
            all.into_iter()
                .zip(present)
                .filter(|(_, keep)| *keep)
                .map(|((k, v), _)| (k.to_string(), v))
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_finite_lead_scores_in_range_and_explains_exactly(lead in named_lead()) {
        let model = model();
        let input = LeadInput::Named(lead);
        let score = model.score(&input).expect("finite input is valid");
        prop_assert!(score.probability > 0.0 && score.probability < 1.0, "{}", score.probability);
        prop_assert!((1..=99).contains(&score.score));
        let explanation = model.explain(&input).expect("explains");
        prop_assert_eq!(explanation.score.probability, score.probability);
        let sum: f64 = explanation.contributions.iter().map(|c| c.contribution).sum();
        let total = explanation.base_log_odds + sum;
        let scale = 1.0 + explanation.score.log_odds.abs();
        prop_assert!((total - explanation.score.log_odds).abs() <= 1e-9 * scale,
            "base + sum = {} vs log_odds {}", total, explanation.score.log_odds);
    }

    #[test]
    fn dense_and_named_agree(a in 0.0..30.0f64, b in 0.0..40.0f64, c in 0.0..10.0f64,
                             report in any::<bool>(), size in 0usize..7, source in 0usize..6) {
        let model = model();
        let specs = model.pipeline().specs();
        let category = |i: usize, k: usize| specs[i].categories()[k % specs[i].categories().len()].clone();
        let named = LeadInput::Named(HashMap::from([
            ("demo_actions".to_string(), RawValue::Number(a)),
            ("visits_30d".to_string(), RawValue::Number(b)),
            ("email_opens".to_string(), RawValue::Number(c)),
            ("report_created".to_string(), RawValue::Flag(report)),
            ("company_size".to_string(), RawValue::Category(category(4, size))),
            ("lead_source".to_string(), RawValue::Category(category(5, source))),
        ]));
        let dense = LeadInput::Dense(vec![
            a, b, c, f64::from(u8::from(report)),
            (size % specs[4].categories().len()) as f64,
            (source % specs[5].categories().len()) as f64,
        ]);
        let x = model.score(&named).expect("named");
        let y = model.score(&dense).expect("dense");
        prop_assert_eq!(x.probability.to_bits(), y.probability.to_bits());
    }

    #[test]
    fn any_value_or_string_never_panics(values in proptest::collection::vec(any_f64(), 0..9),
                                        names in proptest::collection::vec(".{0,20}", 0..4),
                                        strings in proptest::collection::vec(".{0,40}", 0..4),
                                        numbers in proptest::collection::vec(any_f64(), 0..4)) {
        let model = model();
        // Dense: any length, any value.
        let _ = model.score(&LeadInput::Dense(values.clone()));
        // Named: real and made-up names with any kind of value.
        let real = ["demo_actions", "visits_30d", "email_opens", "report_created", "company_size", "lead_source"];
        let mut map = HashMap::new();
        for (i, s) in strings.iter().enumerate() {
            map.insert(real[i % real.len()].to_string(), RawValue::Category(s.clone()));
        }
        for (i, x) in numbers.iter().enumerate() {
            map.insert(real[(i + 2) % real.len()].to_string(), RawValue::Number(*x));
        }
        for n in &names {
            map.insert(n.clone(), RawValue::Number(1.0));
        }
        match model.explain(&LeadInput::Named(map)) {
            Ok(e) => {
                prop_assert!(e.score.probability > 0.0 && e.score.probability < 1.0);
                prop_assert!(e.score.log_odds.is_finite());
            }
            Err(err) => prop_assert!(!err.field().is_empty()),
        }
    }

    #[test]
    fn artifacts_round_trip_exactly(scale in proptest::num::f64::NORMAL, shift in -1e3..1e3f64) {
        let mut artifact = synthetic_artifact().clone();
        let Estimator::Logistic { intercept, coefficients } = &mut artifact.estimator else {
            panic!("logistic model expected")
        };
        *intercept = shift;
        for (i, w) in coefficients.iter_mut().enumerate() {
            *w = (scale / 1e300) * (i as f64 + 0.1);
        }
        let json = artifact.to_json();
        let back = ModelArtifact::from_json(json.as_bytes(), "roundtrip").expect("loads");
        prop_assert_eq!(back.artifact(), &artifact);
    }

    #[test]
    fn broken_artifacts_are_refused_by_name(which in 0usize..6, bad in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-1.0)]) {
        let mut artifact = synthetic_artifact().clone();
        let expected = match which {
            0 => {
                let Estimator::Logistic { coefficients, .. } = &mut artifact.estimator else {
                    panic!("logistic model expected")
                };
                coefficients[0] = if bad.is_finite() { f64::NAN } else { bad };
                "non-finite coefficient"
            }
            1 => {
                let Estimator::Logistic { coefficients, .. } = &mut artifact.estimator else {
                    panic!("logistic model expected")
                };
                coefficients.push(1.0);
                "coefficients"
            }
            2 => {
                if let FeatureEncoding::Categorical { categories } = &mut artifact.features[4].encoding {
                    categories.pop();
                }
                "company_size"
            }
            3 => {
                if let FeatureEncoding::Numeric { std, .. } = &mut artifact.features[0].encoding {
                    *std = bad;
                }
                "demo_actions"
            }
            4 => {
                artifact.bands.reverse();
                "bands"
            }
            _ => {
                artifact.format_version = 99;
                "format_version 99"
            }
        };
        // Through JSON, as the registry reads it (NaN is not valid JSON, so
        // non-finite numbers are checked on the typed artifact as well).
        let typed = ScoringModel::from_artifact(artifact.clone()).map(|_| ()).expect_err("refused");
        prop_assert!(typed.to_string().contains(expected), "{} lacks {}", typed, expected);
        if let Ok(json) = serde_json::to_string(&artifact) {
            let err = ModelArtifact::from_json(json.as_bytes(), "models/x/1/model.json").map(|_| ()).expect_err("refused");
            prop_assert!(err.to_string().contains("models/x/1/model.json"), "{}", err);
        }
    }
}

#[test]
fn a_near_zero_std_that_could_overflow_the_log_odds_is_refused() {
    // Found by the artifact_mutated fuzz target (fuzz/regressions/): a std of
    // 1e-300 lets clipped inputs reach 1e300 standard deviations.
    let mut artifact = synthetic_artifact().clone();
    if let FeatureEncoding::Numeric { std, .. } = &mut artifact.features[0].encoding {
        *std = 1e-300;
    }
    let err = ScoringModel::from_artifact(artifact)
        .map(|_| ())
        .expect_err("refused");
    assert!(err.to_string().contains("non-finite log-odds"), "{err}");
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/artifact_loader/tiny_std_infinite_log_odds.json"),
    )
    .expect("regression input");
    assert!(ModelArtifact::from_json(&bytes, "regression").is_err());
}
