//! The block Score path for dense rows (`scoring::dense`) against the
//! per-row path it replaces on tensors: the same probabilities bit for bit,
//! the same fallbacks, and the same error for the first bad row, on every
//! bundled model (logistic and gbdt) and the synthetic one.

use leadscore::scoring::batch::{BatchError, Deadline};
use leadscore::scoring::dense::{contributions_dense_rows, score_dense_rows};
use leadscore::scoring::features::{FeatureEncoding, FeatureError, LeadInput};
use leadscore::scoring::model::{ModelArtifact, ScoringModel};

use crate::helpers::synthetic_artifact;

fn bundled(path: &str) -> ScoringModel {
    let full = format!("{}/models/{path}/model.json", env!("CARGO_MANIFEST_DIR"));
    ModelArtifact::read(full.as_ref()).expect("bundled model")
}

fn models() -> Vec<(&'static str, ScoringModel)> {
    vec![
        ("x_education/1 (logistic)", bundled("x_education/1")),
        ("x_education/2 (gbdt)", bundled("x_education/2")),
        ("x_education/3 (gbdt)", bundled("x_education/3")),
        ("leadforge_events/2 (gbdt)", bundled("leadforge_events/2")),
        (
            "synthetic",
            ScoringModel::from_artifact(synthetic_artifact().clone()).expect("valid"),
        ),
    ]
}

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }
}

/// A dense row: valid values, with a number outside the training range
/// (clipped) in about `clip` of the rows' numeric cells, and a bad value
/// (out-of-range index, non-0/1 flag, NaN) in about `bad` of all cells.
fn row(model: &ScoringModel, rng: &mut Lcg, clip: f64, bad: f64) -> Vec<f64> {
    model
        .pipeline()
        .specs()
        .iter()
        .map(|spec| {
            if rng.unit() < bad {
                return [f64::NAN, -1.0, 1e9, 0.5][(rng.next() % 4) as usize];
            }
            match &spec.encoding {
                FeatureEncoding::Numeric { min, max, .. } => {
                    if rng.unit() < clip {
                        max + 1.0 + rng.unit() * 10.0
                    } else {
                        let v = min + (max - min) * rng.unit();
                        // The edges themselves, now and then.
                        [v, v, v, *min, *max][(rng.next() % 5) as usize]
                    }
                }
                FeatureEncoding::Categorical { categories } => {
                    (rng.next() % categories.len() as u64) as f64
                }
                FeatureEncoding::Codes { levels } => (rng.next() % levels.len() as u64) as f64,
                FeatureEncoding::Boolean { .. } => (rng.next() % 2) as f64,
                FeatureEncoding::Passthrough {} => rng.unit() * 100.0 - 20.0,
            }
        })
        .collect()
}

/// Probabilities and fallbacks of a batch.
type Scores = (
    Vec<f64>,
    Vec<(usize, leadscore::scoring::features::Fallback)>,
);

/// The per-row path: each row as a dense lead through `ScoringModel::score`.
fn per_row(
    model: &ScoringModel,
    values: &[f64],
    width: usize,
) -> Result<Scores, (usize, FeatureError)> {
    let mut probabilities = Vec::new();
    let mut fallbacks = Vec::new();
    for (i, row) in values.chunks_exact(width).enumerate() {
        let s = model
            .score(&LeadInput::Dense(row.to_vec()))
            .map_err(|e| (i, e))?;
        probabilities.push(s.probability);
        fallbacks.extend(s.fallbacks);
    }
    Ok((probabilities, fallbacks))
}

#[test]
fn dense_blocks_score_every_bundled_model_as_the_per_row_path_does() {
    for (name, model) in models() {
        let width = model.pipeline().specs().len();
        for (seed, rows, clip) in [
            (1u64, 1usize, 0.0),
            (2, 63, 0.0),
            (3, 300, 0.02),
            (4, 65, 0.3),
        ] {
            // Arrange
            let mut rng = Lcg(seed);
            let values: Vec<f64> = (0..rows)
                .flat_map(|_| row(&model, &mut rng, clip, 0.0))
                .collect();

            // Act
            let fast = score_dense_rows(&model, &values, width, None).expect("valid rows");

            // Assert
            let (want, fallbacks) = per_row(&model, &values, width).expect("valid rows");
            assert_eq!(fast.probabilities.len(), rows, "{name}");
            for (i, (a, b)) in fast.probabilities.iter().zip(&want).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "{name}: row {i}: {a} vs {b}");
            }
            assert_eq!(fast.fallbacks, fallbacks, "{name}");
            if clip > 0.1 {
                assert!(!fallbacks.is_empty(), "{name}: some rows were clipped");
            }
        }
    }
}

#[test]
fn the_first_bad_row_gets_the_per_row_error() {
    for (name, model) in models() {
        let width = model.pipeline().specs().len();
        for seed in 10..20u64 {
            let mut rng = Lcg(seed);
            let values: Vec<f64> = (0..150)
                .flat_map(|_| row(&model, &mut rng, 0.01, 0.002))
                .collect();
            let fast = score_dense_rows(&model, &values, width, None);
            match (fast, per_row(&model, &values, width)) {
                (Ok(fast), Ok((want, _))) => assert_eq!(fast.probabilities, want, "{name}"),
                (Err(BatchError::Row { index, error }), Err((i, e))) => {
                    assert_eq!((index, error.to_string()), (i, e.to_string()), "{name}")
                }
                (fast, slow) => panic!("{name} seed {seed}: {fast:?} vs {slow:?}"),
            }
        }
    }
}

#[test]
fn a_wrong_width_and_a_passed_deadline_are_reported() {
    let model = bundled("x_education/1");
    let width = model.pipeline().specs().len();
    let mut rng = Lcg(5);
    let values: Vec<f64> = (0..3)
        .flat_map(|_| row(&model, &mut rng, 0.0, 0.0))
        .collect();

    let short = score_dense_rows(&model, &values[..width * 3 - 1], width - 1, None);
    assert!(
        matches!(
            &short,
            Err(BatchError::Row {
                index: 0,
                error: FeatureError::DenseLength { .. }
            })
        ),
        "{short:?}"
    );

    let past = Deadline(std::time::Instant::now() - std::time::Duration::from_millis(1));
    assert_eq!(
        score_dense_rows(&model, &values, width, Some(past)),
        Err(BatchError::DeadlineExceeded { done: 0, total: 3 })
    );
}

#[test]
fn contributions_of_dense_blocks_equal_each_rows_explanation() {
    for (name, model) in models() {
        // Arrange: 150 rows (two full blocks and a short one), some clipped.
        let width = model.pipeline().specs().len();
        let mut rng = Lcg(7);
        let values: Vec<f64> = (0..150)
            .flat_map(|_| row(&model, &mut rng, 0.05, 0.0))
            .collect();

        // Act
        let got = contributions_dense_rows(&model, &values, width, None).expect("valid rows");

        // Assert: what Explain gives each row, bit for bit.
        for (i, (row, got)) in values
            .chunks_exact(width)
            .zip(got.chunks_exact(width))
            .enumerate()
        {
            let e = model
                .explain(&LeadInput::Dense(row.to_vec()))
                .expect("explains");
            let mut want = vec![0.0; width];
            for c in &e.contributions {
                want[c.feature_index] = c.contribution;
            }
            assert!(
                want.iter()
                    .zip(got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name} row {i}: {want:?} vs {got:?}"
            );
        }
    }
}
