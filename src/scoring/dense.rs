//! Scoring rows of dense numbers in blocks: the Score path of tensors (the
//! Open Inference Protocol's `ModelInfer`), with no display strings, no
//! per-row allocation and the rows of a block evaluated together.
//!
//! [`score_dense_rows`] reads each row's values in schema order as the
//! dense-lead path does ([`LeadInput::Dense`]: category and level indices,
//! 0/1 flags, numbers), and gives each row the probability that path gives,
//! bit for bit:
//! - a logistic model adds, row by row, only the non-zero terms of the
//!   design row's dot product, in column order (a zero term leaves an
//!   IEEE sum unchanged), [`BLOCK`] rows side by side so their sums
//!   overlap;
//! - a gbdt model encodes the block's design rows once and walks them with
//!   [`crate::scoring::tree_blocks::CompleteForest::margins`].
//!
//! A row the fast path cannot take as it is (a value to reject, or a number
//! outside the training range, which is clipped with a warning) goes through
//! [`ScoringModel::score`] instead, so errors and fallbacks are exactly the
//! per-row path's.

use crate::scoring::batch::{BatchError, Deadline, DEADLINE_CHECK_EVERY};
use crate::scoring::features::{Fallback, FeatureEncoding, FeatureError, LeadInput};
use crate::scoring::model::{Estimator, ScoringModel};

/// Rows encoded and evaluated together (and between two deadline checks).
pub const BLOCK: usize = DEADLINE_CHECK_EVERY;

/// The probabilities of a batch of dense rows, and the fallbacks (feature
/// index, kind) of the rows that needed one, for metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DenseScores {
    /// The served (calibrated) probability of each row.
    pub probabilities: Vec<f64>,
    /// Every row's fallbacks (imputations, clipping), in row order.
    pub fallbacks: Vec<(usize, Fallback)>,
}

/// How one source feature's dense value becomes design columns.
#[derive(Debug, Clone, Copy)]
enum Column<'a> {
    /// `(x − mean) / std` at `offset`, then a one-hot bin after it when
    /// `bin_edges` is not empty; values outside `[min, max]` are clipped by
    /// the per-row path.
    Numeric {
        offset: usize,
        mean: f64,
        std: f64,
        min: f64,
        max: f64,
        bin_edges: &'a [f64],
    },
    /// A category index: 1 at `offset + index`.
    OneHot { offset: usize, levels: usize },
    /// 0 or 1 at `offset`.
    Flag { offset: usize },
    /// A level code, the code itself at `offset`.
    Code { offset: usize, levels: usize },
    /// Any finite number, itself at `offset`.
    Number { offset: usize },
}

impl Column<'_> {
    /// The design value at this feature's first column for dense value `v`
    /// (`None` for a one-hot level, whose columns are all 0 or 1), and the
    /// column of the 1 (a one-hot level or a bin) relative to the feature's
    /// offset; `None` when the row takes the per-row path.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn read(&self, v: f64) -> Option<(Option<f64>, Option<usize>)> {
        let is_index = |n: usize| is_index(v, n);
        match *self {
            Column::Numeric {
                mean,
                std,
                min,
                max,
                bin_edges,
                ..
            } => {
                if !(v >= min && v <= max) {
                    return None; // clipped (or not finite) on the per-row path
                }
                let z = (v - mean) / std;
                let bin =
                    (!bin_edges.is_empty()).then(|| 1 + bin_edges.partition_point(|e| *e <= v));
                Some((Some(z), bin))
            }
            Column::OneHot { levels, .. } => is_index(levels).then_some((None, Some(v as usize))),
            Column::Flag { .. } => (v == 0.0 || v == 1.0).then_some((Some(v), None)),
            Column::Code { levels, .. } => is_index(levels).then_some((Some(v), None)),
            Column::Number { .. } => v.is_finite().then_some((Some(v), None)),
        }
    }

    fn offset(&self) -> usize {
        match *self {
            Column::Numeric { offset, .. }
            | Column::OneHot { offset, .. }
            | Column::Flag { offset }
            | Column::Code { offset, .. }
            | Column::Number { offset } => offset,
        }
    }
}

/// Whether `v` is a whole number in `0..n` (without `f64::fract`, which is
/// a library call on baseline x86-64: the truncating conversion is exact for
/// whole numbers in range).
#[inline(always)]
fn is_index(v: f64, n: usize) -> bool {
    v >= 0.0 && v < n as f64 && (v as usize) as f64 == v
}

/// The columns of `model`'s features in schema order. (A category index
/// names one level: [`crate::scoring::features::FeaturePipeline::new`]
/// refuses a feature that lists a level twice.)
fn columns(model: &ScoringModel) -> Vec<Column<'_>> {
    let pipeline = model.pipeline();
    pipeline
        .specs()
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let offset = pipeline.columns_of(i).start;
            match &spec.encoding {
                FeatureEncoding::Numeric {
                    mean,
                    std,
                    min,
                    max,
                    bin_edges,
                    ..
                } => Column::Numeric {
                    offset,
                    mean: *mean,
                    std: *std,
                    min: *min,
                    max: *max,
                    bin_edges,
                },
                FeatureEncoding::Categorical { categories } => Column::OneHot {
                    offset,
                    levels: categories.len(),
                },
                FeatureEncoding::Boolean { .. } => Column::Flag { offset },
                FeatureEncoding::Codes { levels } => Column::Code {
                    offset,
                    levels: levels.len(),
                },
                FeatureEncoding::Passthrough {} => Column::Number { offset },
            }
        })
        .collect()
}

/// Scores `values` (rows of `width` numbers each, row-major, one per
/// source feature in schema order) as [`ScoringModel::score`] scores each
/// row as a [`LeadInput::Dense`], stopping at the first row error or once
/// `deadline` has passed (checked before each block of [`BLOCK`] rows).
///
/// # Errors
/// [`BatchError::Row`] with the per-row path's error for the first bad
/// row, or [`BatchError::DeadlineExceeded`].
pub fn score_dense_rows(
    model: &ScoringModel,
    values: &[f64],
    width: usize,
    deadline: Option<Deadline>,
) -> Result<DenseScores, BatchError<FeatureError>> {
    let rows = values.len().checked_div(width).unwrap_or(0);
    let columns = columns(model);
    if columns.len() != width || rows * width != values.len() {
        // A wrong width: every row through the per-row path, which names
        // the problem.
        return score_each(model, values, width, rows, deadline);
    }
    let mut out = DenseScores {
        probabilities: Vec::with_capacity(rows),
        fallbacks: Vec::new(),
    };
    let design_width = model.pipeline().design_width();
    let mut design = Vec::new();
    let mut log_odds = [0.0; BLOCK];
    for start in (0..rows).step_by(BLOCK) {
        check_deadline(deadline, start, rows)?;
        let n = BLOCK.min(rows - start);
        let block = &values[start * width..(start + n) * width];
        let mut slow = [false; BLOCK];
        match &model.artifact().estimator {
            Estimator::Logistic {
                intercept,
                coefficients,
            } => logistic_block(
                &columns,
                *intercept,
                coefficients,
                block,
                width,
                &mut slow,
                &mut log_odds,
            ),
            Estimator::Gbdt(_) => {
                design.clear();
                design.resize(n * design_width, 0.0);
                encode_block(&columns, block, width, &mut design, design_width, &mut slow);
                model.log_odds_rows(&design, design_width, &mut log_odds[..n]);
            }
        }
        for r in 0..n {
            if slow[r] {
                let row = &block[r * width..(r + 1) * width];
                let scored = model
                    .score(&LeadInput::Dense(row.to_vec()))
                    .map_err(|error| BatchError::Row {
                        index: start + r,
                        error,
                    })?;
                out.probabilities.push(scored.probability);
                out.fallbacks.extend(scored.fallbacks);
            } else {
                out.probabilities.push(model.probability(log_odds[r]));
            }
        }
    }
    Ok(out)
}

/// [`BatchError::DeadlineExceeded`] after `done` of `total` rows once
/// `deadline` has passed.
fn check_deadline(
    deadline: Option<Deadline>,
    done: usize,
    total: usize,
) -> Result<(), BatchError<FeatureError>> {
    match deadline {
        Some(d) if d.expired() => Err(BatchError::DeadlineExceeded { done, total }),
        _ => Ok(()),
    }
}

/// Every row through [`ScoringModel::score`].
fn score_each(
    model: &ScoringModel,
    values: &[f64],
    width: usize,
    rows: usize,
    deadline: Option<Deadline>,
) -> Result<DenseScores, BatchError<FeatureError>> {
    let rows = rows.max(usize::from(!values.is_empty() && rows == 0));
    let mut out = DenseScores::default();
    let scores = crate::scoring::batch::map_rows_until(rows, deadline, |r| {
        let row = values.get(r * width..(r + 1) * width).unwrap_or(values);
        model.score(&LeadInput::Dense(row.to_vec()))
    })?;
    for s in scores {
        out.probabilities.push(s.probability);
        out.fallbacks.extend(s.fallbacks);
    }
    Ok(out)
}

/// A logistic model's log-odds of a block of rows: per row,
/// `intercept + Σ w·x` over the non-zero design terms in column order
/// (the full dot product's value, as a zero term changes no IEEE sum),
/// feature by feature across the block's rows.
fn logistic_block(
    columns: &[Column<'_>],
    intercept: f64,
    coefficients: &[f64],
    block: &[f64],
    width: usize,
    slow: &mut [bool; BLOCK],
    log_odds: &mut [f64; BLOCK],
) {
    let mut sums = [0.0f64; BLOCK];
    for (i, column) in columns.iter().enumerate() {
        let offset = column.offset();
        let w = coefficients.get(offset).copied().unwrap_or(0.0);
        for ((row, sum), slow) in block
            .chunks_exact(width)
            .zip(&mut sums)
            .zip(slow.iter_mut())
        {
            match column.read(row[i]) {
                Some((x, extra)) => {
                    if let Some(x) = x {
                        *sum += w * x;
                    }
                    if let Some(k) = extra {
                        *sum += coefficients.get(offset + k).copied().unwrap_or(0.0);
                    }
                }
                None => *slow = true,
            }
        }
    }
    for (out, sum) in log_odds.iter_mut().zip(sums) {
        *out = intercept + sum;
    }
}

/// The design rows of a block (`design` zeroed, `design_width` a row), as
/// [`crate::scoring::features::FeaturePipeline::write_columns`] writes them.
fn encode_block(
    columns: &[Column<'_>],
    block: &[f64],
    width: usize,
    design: &mut [f64],
    design_width: usize,
    slow: &mut [bool; BLOCK],
) {
    for (r, (row, out)) in block
        .chunks_exact(width)
        .zip(design.chunks_exact_mut(design_width))
        .enumerate()
    {
        for (column, &v) in columns.iter().zip(row) {
            let offset = column.offset();
            match column.read(v) {
                Some((x, extra)) => {
                    if let (Some(x), Some(slot)) = (x, out.get_mut(offset)) {
                        *slot = x;
                    }
                    if let Some(slot) = extra.and_then(|k| out.get_mut(offset + k)) {
                        *slot = 1.0;
                    }
                }
                None => slow[r] = true,
            }
        }
    }
}

/// Each row's exact contribution per source feature (row-major, schema
/// order), as [`ScoringModel::contributions`] gives for the row read as a
/// [`LeadInput::Dense`], bit for bit: rows encoded one by one, then the
/// design contributions of a block of [`BLOCK`] rows at a time
/// ([`ScoringModel::design_contributions_rows`]: a gbdt's TreeSHAP tables
/// read once for several rows), summed per feature in column order.
/// Checks `deadline` before each block.
///
/// # Errors
/// [`BatchError::Row`] with the per-row path's error for the first bad
/// row, or [`BatchError::DeadlineExceeded`].
pub fn contributions_dense_rows(
    model: &ScoringModel,
    values: &[f64],
    width: usize,
    deadline: Option<Deadline>,
) -> Result<Vec<f64>, BatchError<FeatureError>> {
    let pipeline = model.pipeline();
    let design_width = pipeline.design_width();
    let features = pipeline.specs().len();
    let rows = values.len().checked_div(width).unwrap_or(0);
    let mut out = vec![0.0; rows * features];
    let mut design = Vec::with_capacity(BLOCK * design_width);
    let mut per_column = vec![0.0; BLOCK * design_width];
    for start in (0..rows).step_by(BLOCK) {
        check_deadline(deadline, start, rows)?;
        let n = BLOCK.min(rows - start);
        design.clear();
        for r in start..start + n {
            let row = &values[r * width..(r + 1) * width];
            let encoded = pipeline
                .encode_for_scoring(&LeadInput::Dense(row.to_vec()))
                .map_err(|error| BatchError::Row { index: r, error })?;
            design.extend_from_slice(&encoded.design);
        }
        let phi = &mut per_column[..n * design_width];
        model.design_contributions_rows(&design, design_width, phi);
        for (row_phi, row_out) in phi
            .chunks_exact(design_width.max(1))
            .zip(out[start * features..(start + n) * features].chunks_exact_mut(features.max(1)))
        {
            for (i, slot) in row_out.iter_mut().enumerate() {
                *slot = pipeline.columns_of(i).map(|c| row_phi[c]).sum();
            }
        }
    }
    Ok(out)
}
