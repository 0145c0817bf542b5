//! Gradient-boosted tree growth: the trainer's half of our tree format (the
//! format and its evaluator live in [`crate::scoring::trees`]).
//!
//! [`fit`] boosts binary log-loss with second-order (gradient and hessian)
//! histogram split finding and best-first (leaf-wise) growth, the algorithm of
//! LightGBM; the hyperparameters in [`GbdtParams`] have LightGBM's names and
//! defaults. Each column is bucketed once, up front, into at most `max_bins`
//! bins: one per distinct value when there are few enough, otherwise
//! quantile bins of roughly equal row counts. It is single-threaded and
//! deterministic: the same data and parameters give the same model, bit for
//! bit.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::scoring::trees::{GbdtModel, Missing, Node, Tree, MAX_TREE_DEPTH};

/// Hyperparameters of [`fit`], with LightGBM's names and default values
/// (`[params.gbdt]` in `train.toml`; the five most used also have
/// `leadscore-train` flags, whose `--help` lines are the `help` texts below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct GbdtParams {
    /// Number of boosting rounds (trees). Default 100.
    #[arg(
        long = "trees",
        value_name = "TREES",
        required = false,
        help = "Boosting rounds (trees)"
    )]
    pub n_trees: usize,
    /// Shrinkage applied to every leaf value. Default 0.1.
    #[arg(long, required = false, help = "Boosting learning rate")]
    pub learning_rate: f64,
    /// Maximum leaves per tree; trees grow best-first (the leaf with the
    /// largest gain is split next) until they have this many. Default 31.
    #[arg(long, required = false, help = "Leaves per tree")]
    pub num_leaves: usize,
    /// Maximum depth of a leaf (root = 0); 0 means no limit besides
    /// [`MAX_TREE_DEPTH`]. Default 0.
    #[arg(long, required = false, help = "Tree depth limit (0 = none)")]
    pub max_depth: usize,
    /// Minimum number of training rows in a leaf (rows, not weights).
    /// Default 20.
    #[arg(long, required = false, help = "Fewest training rows in a leaf")]
    pub min_data_in_leaf: usize,
    /// Minimum sum of hessians (the leaf's cover) in a leaf. Default 1e-3.
    #[arg(skip = GbdtParams::default().min_sum_hessian_in_leaf)]
    pub min_sum_hessian_in_leaf: f64,
    /// L2 regularisation λ on leaf values. Default 0.
    #[arg(skip)]
    pub lambda_l2: f64,
    /// Maximum number of histogram bins per column. Default 255.
    #[arg(skip = GbdtParams::default().max_bins)]
    pub max_bins: usize,
    /// A split is made only when its gain exceeds this. Default 0.
    #[arg(skip)]
    pub min_gain_to_split: f64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: 0,
            min_data_in_leaf: 20,
            min_sum_hessian_in_leaf: 1e-3,
            lambda_l2: 0.0,
            max_bins: 255,
            min_gain_to_split: 0.0,
        }
    }
}

impl GbdtParams {
    /// Checks every hyperparameter's range.
    ///
    /// # Errors
    /// [`GrowError::InvalidParam`] naming the first parameter out of range.
    pub fn check(&self) -> Result<(), GrowError> {
        let bad = |name, expected: String, got: &dyn std::fmt::Display| {
            Err(GrowError::InvalidParam {
                name,
                expected,
                got: got.to_string(),
            })
        };
        if self.n_trees == 0 {
            return bad("n_trees", "at least 1".into(), &self.n_trees);
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                "finite and > 0".into(),
                &self.learning_rate,
            );
        }
        if !(2..=131_072).contains(&self.num_leaves) {
            return bad("num_leaves", "in 2..=131072".into(), &self.num_leaves);
        }
        if self.max_depth > MAX_TREE_DEPTH {
            return bad(
                "max_depth",
                format!("at most {MAX_TREE_DEPTH} (0 = unlimited)"),
                &self.max_depth,
            );
        }
        if !(self.min_sum_hessian_in_leaf.is_finite() && self.min_sum_hessian_in_leaf >= 0.0) {
            return bad(
                "min_sum_hessian_in_leaf",
                "finite and >= 0".into(),
                &self.min_sum_hessian_in_leaf,
            );
        }
        if !(self.lambda_l2.is_finite() && self.lambda_l2 >= 0.0) {
            return bad("lambda_l2", "finite and >= 0".into(), &self.lambda_l2);
        }
        if !(2..=65_535).contains(&self.max_bins) {
            return bad("max_bins", "in 2..=65535".into(), &self.max_bins);
        }
        if !(self.min_gain_to_split.is_finite() && self.min_gain_to_split >= 0.0) {
            return bad(
                "min_gain_to_split",
                "finite and >= 0".into(),
                &self.min_gain_to_split,
            );
        }
        Ok(())
    }
}

/// Why [`fit`] (or [`GbdtParams::check`]) refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GrowError {
    /// A hyperparameter is out of range.
    #[error("{name} must be {expected}, got {got}")]
    InvalidParam {
        /// The [`GbdtParams`] field.
        name: &'static str,
        /// The allowed range.
        expected: String,
        /// The value given.
        got: String,
    },
    /// `x` has no rows.
    #[error("no training rows")]
    NoRows,
    /// `y` and `x` differ in length.
    #[error("{labels} labels for {rows} rows")]
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Rows of `x`.
        rows: usize,
    },
    /// More rows than a row index (`u32`) can address.
    #[error("too many rows ({rows}); at most {max}")]
    TooManyRows {
        /// Rows of `x`.
        rows: usize,
        /// The limit.
        max: u32,
    },
    /// The weights and `x` differ in length.
    #[error("{weights} weights for {rows} rows")]
    WeightCount {
        /// Weights given.
        weights: usize,
        /// Rows of `x`.
        rows: usize,
    },
    /// A weight is negative or not finite.
    #[error("weight of row {row} is {weight}; weights must be finite and >= 0")]
    BadWeight {
        /// The row.
        row: usize,
        /// Its weight.
        weight: f64,
    },
    /// A cell of `x` is NaN or infinite.
    #[error("row {row}, column {column} is {value}; impute missing values before training")]
    NonFinite {
        /// The row.
        row: usize,
        /// The design column.
        column: usize,
        /// The value.
        value: f64,
    },
    /// One class has no weight.
    #[error("both classes need positive total weight")]
    SingleClass,
    /// The weighted positive rate has no finite log-odds.
    #[error("positive rate {rate} gives no finite log-odds")]
    NoBaseScore {
        /// The weighted positive rate.
        rate: f64,
    },
    /// The grown model fails [`GbdtModel::validate`] (a bug, not a data problem).
    #[error("training produced an invalid model: {problem}")]
    InvalidModel {
        /// What the validation said.
        problem: String,
    },
}

// ---------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------

/// Fits a binary log-loss GBDT (second-order histogram boosting with
/// best-first leaf growth, like LightGBM) to `x` (rows × design columns) and
/// `y`, with optional non-negative sample `weights`.
///
/// `base_score` is the log-odds of the weighted positive rate; each tree's
/// leaf values are `−G / (H + λ) · learning_rate`. Boosting stops early when a
/// tree can make no split (so the model may have fewer than `n_trees` trees).
/// `on_tree(i)` is called after tree `i` (0-based) is added, for progress
/// reporting. The returned model passes [`GbdtModel::validate`] for
/// `x.ncols()`.
///
/// # Errors
/// [`GrowError`]: bad parameters (see [`GbdtParams::check`]); mismatched lengths; no rows;
/// a non-finite value in `x` (impute first); negative or non-finite weights;
/// a class with no positive weight.
pub fn fit(
    x: ArrayView2<f64>,
    y: &[bool],
    weights: Option<&[f64]>,
    params: &GbdtParams,
    on_tree: &mut dyn FnMut(usize),
) -> Result<GbdtModel, GrowError> {
    params.check()?;
    let (n_rows, n_cols) = x.dim();
    if n_rows == 0 {
        return Err(GrowError::NoRows);
    }
    if y.len() != n_rows {
        return Err(GrowError::LabelCount {
            labels: y.len(),
            rows: n_rows,
        });
    }
    if u32::try_from(n_rows).is_err() {
        return Err(GrowError::TooManyRows {
            rows: n_rows,
            max: u32::MAX,
        });
    }
    let weights: Vec<f64> = match weights {
        Some(w) => {
            if w.len() != n_rows {
                return Err(GrowError::WeightCount {
                    weights: w.len(),
                    rows: n_rows,
                });
            }
            if let Some(row) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(GrowError::BadWeight {
                    row,
                    weight: w[row],
                });
            }
            w.to_vec()
        }
        None => vec![1.0; n_rows],
    };
    for ((row, column), &value) in x.indexed_iter() {
        if !value.is_finite() {
            return Err(GrowError::NonFinite { row, column, value });
        }
    }
    let (mut positive, mut total) = (0.0, 0.0);
    for (&label, &w) in y.iter().zip(&weights) {
        total += w;
        if label {
            positive += w;
        }
    }
    if !(positive > 0.0 && positive < total) {
        return Err(GrowError::SingleClass);
    }
    let rate = positive / total;
    let base_score = crate::scoring::math::log_odds(rate);
    if !base_score.is_finite() {
        return Err(GrowError::NoBaseScore { rate });
    }

    let uppers: Vec<Vec<f64>> = (0..n_cols)
        .map(|c| {
            let mut values: Vec<f64> = x.column(c).iter().copied().collect();
            values.sort_by(f64::total_cmp);
            bin_upper_bounds(&values, params.max_bins)
        })
        .collect();
    let narrow = uppers.iter().all(|u| u.len() < 256);
    let trees = if narrow {
        let data = BinnedData::<u8>::new(x, uppers);
        boost(&data, y, &weights, base_score, params, on_tree)
    } else {
        let data = BinnedData::<u16>::new(x, uppers);
        boost(&data, y, &weights, base_score, params, on_tree)
    };
    let model = GbdtModel {
        base_score,
        trees,
        sum: Default::default(),
    };
    model
        .validate(n_cols)
        .map_err(|e| GrowError::InvalidModel {
            problem: e.to_string(),
        })?;
    Ok(model)
}

/// Upper bounds of a column's bins from its sorted values: bin `b` holds the
/// values `<= upper[b]` (and `> upper[b − 1]`); the last bin has no bound.
/// One bin per distinct value when there are at most `max_bins`; otherwise
/// greedy quantile bins of about equal row counts, each bin boundary placed
/// between distinct values (so a heavily repeated value is never split).
fn bin_upper_bounds(sorted: &[f64], max_bins: usize) -> Vec<f64> {
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &v in sorted {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|w| midpoint(w[0].0, w[1].0))
            .collect();
    }
    let mut uppers = Vec::with_capacity(max_bins - 1);
    let mut rows_left = sorted.len() as f64;
    let mut bins_left = max_bins;
    let mut in_bin = 0usize;
    for (i, &(value, count)) in distinct.iter().enumerate() {
        // Close the bin before this value when that lands nearer the target
        // size than taking it in (keeps big repeated values in own bins).
        if in_bin > 0 && bins_left > 1 && i > 0 {
            let target = rows_left / bins_left as f64;
            let without = in_bin as f64;
            let with = (in_bin + count) as f64;
            if with > target && target - without < with - target {
                uppers.push(midpoint(distinct[i - 1].0, value));
                rows_left -= without;
                bins_left -= 1;
                in_bin = 0;
            }
        }
        in_bin += count;
        if bins_left > 1 && i + 1 < distinct.len() {
            let target = rows_left / bins_left as f64;
            if in_bin as f64 >= target {
                uppers.push(midpoint(value, distinct[i + 1].0));
                rows_left -= in_bin as f64;
                bins_left -= 1;
                in_bin = 0;
            }
        }
    }
    uppers
}

/// A threshold `t` with `a <= t < b` for finite `a < b`, the midpoint when
/// it is representable strictly below `b`.
fn midpoint(a: f64, b: f64) -> f64 {
    let m = a * 0.5 + b * 0.5;
    if m >= a && m < b {
        m
    } else {
        a
    }
}

/// A bin index stored in one (u8) or two (u16) bytes.
trait BinCode: Copy {
    fn from_bin(bin: usize) -> Self;
    fn bin(self) -> usize;
}

impl BinCode for u8 {
    fn from_bin(bin: usize) -> Self {
        bin as u8
    }
    fn bin(self) -> usize {
        usize::from(self)
    }
}

impl BinCode for u16 {
    fn from_bin(bin: usize) -> Self {
        bin as u16
    }
    fn bin(self) -> usize {
        usize::from(self)
    }
}

/// The training matrix as bin codes, row-major (a row's codes are
/// contiguous, which suits building histograms over a leaf's rows).
struct BinnedData<T> {
    n_rows: usize,
    n_cols: usize,
    codes: Vec<T>,
    /// `offsets[c]..offsets[c + 1]` is column `c`'s slice of a histogram.
    offsets: Vec<usize>,
    /// Per column, the threshold value of each bin (see `bin_upper_bounds`).
    uppers: Vec<Vec<f64>>,
}

impl<T: BinCode> BinnedData<T> {
    fn new(x: ArrayView2<f64>, uppers: Vec<Vec<f64>>) -> Self {
        let (n_rows, n_cols) = x.dim();
        let mut codes = vec![T::from_bin(0); n_rows * n_cols];
        for (c, column) in x.columns().into_iter().enumerate() {
            let bounds = &uppers[c];
            for (r, v) in column.iter().enumerate() {
                codes[r * n_cols + c] = T::from_bin(bounds.partition_point(|u| u < v));
            }
        }
        let mut offsets = Vec::with_capacity(n_cols + 1);
        let mut total = 0;
        offsets.push(0);
        for bounds in &uppers {
            total += bounds.len() + 1;
            offsets.push(total);
        }
        Self {
            n_rows,
            n_cols,
            codes,
            offsets,
            uppers,
        }
    }

    fn code(&self, row: usize, col: usize) -> usize {
        self.codes[row * self.n_cols + col].bin()
    }
}

/// Sums of gradients, hessians and rows falling in one histogram bin.
#[derive(Debug, Default, Clone, Copy)]
struct HistBin {
    g: f64,
    h: f64,
    n: u32,
}

/// The best split found for a leaf.
#[derive(Debug, Clone, Copy)]
struct SplitCandidate {
    gain: f64,
    feature: usize,
    bin: usize,
    left_g: f64,
    left_h: f64,
}

/// A leaf of the tree being grown.
struct GrowingLeaf {
    /// The leaf's rows are `indices[begin..end]`.
    begin: usize,
    end: usize,
    /// Index of this leaf's node in the tree.
    node: usize,
    depth: usize,
    sum_g: f64,
    sum_h: f64,
    /// Kept only while the leaf may still be split (parent − sibling trick).
    hist: Option<Vec<HistBin>>,
    best: Option<SplitCandidate>,
}

/// Buffers reused across trees.
struct Workspace {
    /// `(gradient, hessian)` of each row, contiguous.
    grad_hess: Vec<(f64, f64)>,
    /// Row indices, partitioned so that each leaf owns a contiguous range.
    indices: Vec<u32>,
    scratch: Vec<u32>,
    hist_pool: Vec<Vec<HistBin>>,
}

fn boost<T: BinCode>(
    data: &BinnedData<T>,
    y: &[bool],
    weights: &[f64],
    base_score: f64,
    params: &GbdtParams,
    on_tree: &mut dyn FnMut(usize),
) -> Vec<Tree> {
    let n = data.n_rows;
    let mut margins = vec![base_score; n];
    let mut work = Workspace {
        grad_hess: vec![(0.0, 0.0); n],
        indices: Vec::with_capacity(n),
        scratch: Vec::with_capacity(n),
        hist_pool: Vec::new(),
    };
    let mut trees = Vec::with_capacity(params.n_trees);
    for t in 0..params.n_trees {
        for (((gh, &m), &label), &w) in work.grad_hess.iter_mut().zip(&margins).zip(y).zip(weights)
        {
            let p = crate::scoring::math::sigmoid(m);
            let target = if label { 1.0 } else { 0.0 };
            *gh = (w * (p - target), w * p * (1.0 - p));
        }
        let (tree, leaves) = grow_tree(data, params, &mut work);
        let single_leaf = leaves.len() == 1;
        if single_leaf && t > 0 {
            break; // nothing left to split: LightGBM stops here too
        }
        for (begin, end, value) in leaves {
            for &r in &work.indices[begin..end] {
                margins[r as usize] += value;
            }
        }
        trees.push(tree);
        on_tree(t);
        if single_leaf {
            break;
        }
    }
    trees
}

fn leaf_output(sum_g: f64, sum_h: f64, params: &GbdtParams) -> f64 {
    let denominator = sum_h + params.lambda_l2;
    if denominator > 0.0 {
        -sum_g / denominator * params.learning_rate
    } else {
        0.0
    }
}

/// Grows one tree best-first. Returns the tree and, per leaf, its row range in
/// `work.indices` and its value.
fn grow_tree<T: BinCode>(
    data: &BinnedData<T>,
    params: &GbdtParams,
    work: &mut Workspace,
) -> (Tree, Vec<(usize, usize, f64)>) {
    let n = data.n_rows;
    work.indices.clear();
    work.indices.extend(0..n as u32);
    let (mut sum_g, mut sum_h) = (0.0, 0.0);
    for &(g, h) in &work.grad_hess {
        sum_g += g;
        sum_h += h;
    }
    let min_rows = params.min_data_in_leaf.max(1);
    let depth_limit = if params.max_depth == 0 {
        MAX_TREE_DEPTH
    } else {
        params.max_depth
    };
    let splittable = |rows: usize, depth: usize| rows >= 2 * min_rows && depth < depth_limit;

    let mut nodes = vec![Node::Leaf {
        value: 0.0,
        cover: sum_h,
    }];
    let mut root = GrowingLeaf {
        begin: 0,
        end: n,
        node: 0,
        depth: 0,
        sum_g,
        sum_h,
        hist: None,
        best: None,
    };
    if splittable(n, 0) {
        let mut hist = take_hist(&mut work.hist_pool, data);
        build_hist(&mut hist, &work.indices, data, &work.grad_hess);
        root.best = best_split(&hist, data, sum_g, sum_h, n, params);
        root.hist = Some(hist);
    }
    let mut leaves = vec![root];

    while leaves.len() < params.num_leaves {
        // The leaf with the largest gain; ties go to the earliest leaf.
        let mut chosen: Option<(usize, f64)> = None;
        for (i, leaf) in leaves.iter().enumerate() {
            if let Some(best) = leaf.best {
                if chosen.is_none_or(|(_, g)| best.gain > g) {
                    chosen = Some((i, best.gain));
                }
            }
        }
        let Some((li, _)) = chosen else { break };
        let leaf = &mut leaves[li];
        let Some(split) = leaf.best.take() else { break };
        let parent_hist = leaf.hist.take();
        let (begin, end, depth) = (leaf.begin, leaf.end, leaf.depth);
        let (parent_g, parent_h, parent_node) = (leaf.sum_g, leaf.sum_h, leaf.node);

        let n_left = partition(
            &mut work.indices[begin..end],
            &mut work.scratch,
            data,
            split.feature,
            split.bin,
        );
        let mid = begin + n_left;
        let left_node = nodes.len();
        let right_node = left_node + 1;
        let (left_g, left_h) = (split.left_g, split.left_h);
        let (right_g, right_h) = (parent_g - left_g, parent_h - left_h);
        nodes[parent_node] = Node::Split {
            feature: split.feature,
            threshold: data.uppers[split.feature][split.bin],
            left: left_node,
            right: right_node,
            cover: parent_h,
            gain: split.gain,
            default_left: false,
            missing: Missing::Nan,
            categories: None,
        };
        nodes.push(Node::Leaf {
            value: 0.0,
            cover: left_h,
        });
        nodes.push(Node::Leaf {
            value: 0.0,
            cover: right_h,
        });
        let mut left = GrowingLeaf {
            begin,
            end: mid,
            node: left_node,
            depth: depth + 1,
            sum_g: left_g,
            sum_h: left_h,
            hist: None,
            best: None,
        };
        let mut right = GrowingLeaf {
            begin: mid,
            end,
            node: right_node,
            depth: depth + 1,
            sum_g: right_g,
            sum_h: right_h,
            hist: None,
            best: None,
        };
        let room = leaves.len() + 1 < params.num_leaves;
        let left_ok = room && splittable(left.end - left.begin, left.depth);
        let right_ok = room && splittable(right.end - right.begin, right.depth);
        match parent_hist {
            Some(mut big) if left_ok || right_ok => {
                // Build the smaller child's histogram; the larger child's is
                // the parent's minus it.
                let left_smaller = (left.end - left.begin) <= (right.end - right.begin);
                let (small_leaf, big_leaf, small_ok, big_ok) = if left_smaller {
                    (&mut left, &mut right, left_ok, right_ok)
                } else {
                    (&mut right, &mut left, right_ok, left_ok)
                };
                let mut small = take_hist(&mut work.hist_pool, data);
                build_hist(
                    &mut small,
                    &work.indices[small_leaf.begin..small_leaf.end],
                    data,
                    &work.grad_hess,
                );
                for (b, s) in big.iter_mut().zip(&small) {
                    b.g -= s.g;
                    b.h -= s.h;
                    b.n -= s.n;
                }
                for (leaf, hist, ok) in [(small_leaf, small, small_ok), (big_leaf, big, big_ok)] {
                    if ok {
                        let rows = leaf.end - leaf.begin;
                        leaf.best = best_split(&hist, data, leaf.sum_g, leaf.sum_h, rows, params);
                    }
                    if leaf.best.is_some() {
                        leaf.hist = Some(hist);
                    } else {
                        work.hist_pool.push(hist);
                    }
                }
            }
            Some(hist) => work.hist_pool.push(hist),
            None => {}
        }
        leaves[li] = left;
        leaves.push(right);
    }

    let mut out = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        if let Some(hist) = leaf.hist {
            work.hist_pool.push(hist);
        }
        let value = leaf_output(leaf.sum_g, leaf.sum_h, params);
        nodes[leaf.node] = Node::Leaf {
            value,
            cover: leaf.sum_h,
        };
        out.push((leaf.begin, leaf.end, value));
    }
    (Tree { nodes }, out)
}

fn take_hist<T>(pool: &mut Vec<Vec<HistBin>>, data: &BinnedData<T>) -> Vec<HistBin> {
    let size = data.offsets.last().copied().unwrap_or(0);
    pool.pop().unwrap_or_else(|| vec![HistBin::default(); size])
}

fn build_hist<T: BinCode>(
    hist: &mut [HistBin],
    rows: &[u32],
    data: &BinnedData<T>,
    grad_hess: &[(f64, f64)],
) {
    hist.fill(HistBin::default());
    let m = data.n_cols;
    let offsets = &data.offsets[..m];
    for &r in rows {
        let r = r as usize;
        let (g, h) = grad_hess[r];
        let codes = &data.codes[r * m..(r + 1) * m];
        for (&code, &offset) in codes.iter().zip(offsets) {
            let bin = &mut hist[offset + code.bin()];
            bin.g += g;
            bin.h += h;
            bin.n += 1;
        }
    }
}

/// Stable partition of `rows` into those with `code <= bin` in column
/// `feature` (first) and the others; returns how many went left.
fn partition<T: BinCode>(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    data: &BinnedData<T>,
    feature: usize,
    bin: usize,
) -> usize {
    scratch.clear();
    let mut n_left = 0;
    for i in 0..rows.len() {
        let r = rows[i];
        if data.code(r as usize, feature) <= bin {
            rows[n_left] = r;
            n_left += 1;
        } else {
            scratch.push(r);
        }
    }
    rows[n_left..].copy_from_slice(scratch);
    n_left
}

/// The best split of a leaf with histogram `hist` and totals `sum_g`,
/// `sum_h` over `rows` rows, or `None` when no split meets the constraints.
fn best_split<T>(
    hist: &[HistBin],
    data: &BinnedData<T>,
    sum_g: f64,
    sum_h: f64,
    rows: usize,
    params: &GbdtParams,
) -> Option<SplitCandidate> {
    let lambda = params.lambda_l2;
    let min_rows = params.min_data_in_leaf.max(1);
    let min_h = params.min_sum_hessian_in_leaf;
    let parent_score = sum_g * sum_g / (sum_h + lambda);
    let mut best: Option<SplitCandidate> = None;
    let mut best_gain = params.min_gain_to_split;
    for feature in 0..data.n_cols {
        let bins = &hist[data.offsets[feature]..data.offsets[feature + 1]];
        let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0usize);
        // The last bin cannot be a threshold (nothing would go right).
        for (bin, entry) in bins.iter().enumerate().take(bins.len().saturating_sub(1)) {
            gl += entry.g;
            hl += entry.h;
            nl += entry.n as usize;
            // An empty bin gives the same partition as the previous one.
            if entry.n == 0 || nl < min_rows {
                continue;
            }
            if rows - nl < min_rows {
                break;
            }
            let hr = sum_h - hl;
            if !(hl >= min_h && hl > 0.0 && hr >= min_h && hr > 0.0) {
                continue;
            }
            let gr = sum_g - gl;
            let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parent_score;
            if gain > best_gain {
                best_gain = gain;
                best = Some(SplitCandidate {
                    gain,
                    feature,
                    bin,
                    left_g: gl,
                    left_h: hl,
                });
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::trees::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// ROC AUC by ranks (ties averaged).
    fn auc(scores: &[f64], labels: &[bool]) -> f64 {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        let mut ranks = vec![0.0; scores.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
                j += 1;
            }
            let rank = (i + j) as f64 / 2.0 + 1.0;
            for k in i..=j {
                ranks[order[k]] = rank;
            }
            i = j + 1;
        }
        let n_pos = labels.iter().filter(|l| **l).count() as f64;
        let n_neg = labels.len() as f64 - n_pos;
        let rank_sum: f64 = ranks
            .iter()
            .zip(labels)
            .filter(|(_, l)| **l)
            .map(|(r, _)| r)
            .sum();
        (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
    }

    /// Rows uniform on [0, 1)^width; y = (x0 > 0.5) xor (x1 > 0.3), 2% flipped
    /// (so the best possible AUC is about 0.98).
    fn xor_data(n: usize, width: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = Array2::from_shape_fn((n, width), |_| rng.gen::<f64>());
        let y = (0..n)
            .map(|r| ((x[[r, 0]] > 0.5) ^ (x[[r, 1]] > 0.3)) ^ (rng.gen::<f64>() < 0.02))
            .collect();
        (x, y)
    }

    fn no_progress() -> impl FnMut(usize) {
        |_| {}
    }

    #[test]
    fn learns_xor_where_a_linear_model_cannot() {
        let (x, y) = xor_data(4000, 4, 1);
        let (xt, yt) = xor_data(2000, 4, 2);
        let model = fit(
            x.view(),
            &y,
            None,
            &GbdtParams::default(),
            &mut no_progress(),
        )
        .expect("fit");
        let scores: Vec<f64> = xt
            .rows()
            .into_iter()
            .map(|r| model.margin(r.as_slice().expect("row")))
            .collect();
        let tree_auc = auc(&scores, &yt);
        assert!(tree_auc > 0.95, "gbdt auc {tree_auc}");

        // Logistic regression by gradient descent on the same data.
        let mut w = [0.0; 5];
        for _ in 0..500 {
            let mut grad = [0.0; 5];
            for (row, &label) in x.rows().into_iter().zip(&y) {
                let z = w[4] + (0..4).map(|j| w[j] * row[j]).sum::<f64>();
                let err = crate::scoring::math::sigmoid(z) - if label { 1.0 } else { 0.0 };
                for j in 0..4 {
                    grad[j] += err * row[j];
                }
                grad[4] += err;
            }
            for j in 0..5 {
                w[j] -= 2.0 * grad[j] / x.nrows() as f64;
            }
        }
        let linear: Vec<f64> = xt
            .rows()
            .into_iter()
            .map(|r| w[4] + (0..4).map(|j| w[j] * r[j]).sum::<f64>())
            .collect();
        let linear_auc = auc(&linear, &yt);
        assert!(linear_auc < 0.75, "logistic auc {linear_auc}");
    }

    #[test]
    fn single_split_lands_between_the_classes() {
        let x = Array2::from_shape_vec((8, 1), vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0])
            .expect("shape");
        let y = [false, false, true, true, false, false, true, true];
        let params = GbdtParams {
            n_trees: 1,
            num_leaves: 2,
            min_data_in_leaf: 1,
            ..GbdtParams::default()
        };
        let model = fit(x.view(), &y, None, &params, &mut no_progress()).expect("fit");
        assert_eq!(model.base_score, 0.0);
        assert_eq!(model.trees.len(), 1);
        let nodes = &model.trees[0].nodes;
        assert_eq!(nodes.len(), 3);
        let Node::Split {
            feature,
            threshold,
            left,
            right,
            cover,
            gain,
            ..
        } = nodes[0]
        else {
            panic!("root is not a split");
        };
        assert_eq!((feature, threshold, left, right), (0, 2.5, 1, 2));
        assert!((cover - 2.0).abs() < 1e-12); // 8 rows × p(1 − p) = 8 × 0.25
                                              // G_L = G_R ∓ 2, H_L = H_R = 1: gain = 4 + 4 − 0.
        assert!((gain - 8.0).abs() < 1e-12);
        // Leaf values −G/H · lr = ∓2 · 0.1.
        assert_eq!(
            nodes[1],
            Node::Leaf {
                value: -0.2,
                cover: 1.0
            }
        );
        assert_eq!(
            nodes[2],
            Node::Leaf {
                value: 0.2,
                cover: 1.0
            }
        );
    }

    #[test]
    fn thresholds_reproduce_the_training_partition() {
        // Values that are adjacent floats: the midpoint must not round up.
        let a = 1.0f64;
        let b = f64::from_bits(a.to_bits() + 1);
        assert_eq!(midpoint(a, b), a);
        let uppers = bin_upper_bounds(&[a, a, b, b], 255);
        assert_eq!(uppers, vec![a]);
        // Quantile bins: at most max_bins, values in bin order.
        let values: Vec<f64> = (0..10_000).map(|i| (i % 997) as f64 * 0.37).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let uppers = bin_upper_bounds(&sorted, 16);
        assert!(uppers.len() <= 15 && uppers.len() >= 12, "{}", uppers.len());
        assert!(uppers.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn refuses_bad_input() {
        let mut x = Array2::<f64>::zeros((4, 2));
        let y = [true, false, true, false];
        let p = GbdtParams::default();
        x[[2, 1]] = f64::NAN;
        let err = fit(x.view(), &y, None, &p, &mut no_progress()).expect_err("nan");
        assert!(
            matches!(
                err,
                GrowError::NonFinite {
                    row: 2,
                    column: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("row 2, column 1"), "{err}");
        x[[2, 1]] = 0.0;
        assert_eq!(
            fit(x.view(), &y[..3], None, &p, &mut no_progress()).err(),
            Some(GrowError::LabelCount { labels: 3, rows: 4 })
        );
        assert_eq!(
            fit(x.view(), &[true; 4], None, &p, &mut no_progress()).err(),
            Some(GrowError::SingleClass)
        );
        let w = [1.0, -1.0, 1.0, 1.0];
        assert!(matches!(
            fit(x.view(), &y, Some(&w), &p, &mut no_progress()),
            Err(GrowError::BadWeight { row: 1, .. })
        ));
        let bad = GbdtParams {
            max_bins: 1,
            ..p.clone()
        };
        let err = bad.check().expect_err("bins");
        assert!(
            matches!(
                err,
                GrowError::InvalidParam {
                    name: "max_bins",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.to_string(), "max_bins must be in 2..=65535, got 1");
        let bad = GbdtParams {
            learning_rate: f64::NAN,
            ..p
        };
        let err = bad.check().expect_err("lr");
        assert!(err.to_string().contains("learning_rate"), "{err}");
    }

    #[test]
    fn weights_matter_and_progress_is_reported() {
        let (x, y) = xor_data(2000, 3, 3);
        let w: Vec<f64> = (0..2000)
            .map(|i| if i % 2 == 0 { 2.0 } else { 0.5 })
            .collect();
        let mut seen = Vec::new();
        let params = GbdtParams {
            n_trees: 7,
            ..GbdtParams::default()
        };
        let weighted = fit(x.view(), &y, Some(&w), &params, &mut |i| seen.push(i)).expect("fit");
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        let plain = fit(x.view(), &y, None, &params, &mut no_progress()).expect("fit");
        assert_ne!(weighted, plain);
        weighted.validate(3).expect("valid");
    }

    #[test]
    fn training_is_deterministic() {
        let (x, y) = xor_data(3000, 6, 4);
        let params = GbdtParams {
            n_trees: 20,
            ..GbdtParams::default()
        };
        let a = fit(x.view(), &y, None, &params, &mut no_progress()).expect("fit");
        let b = fit(x.view(), &y, None, &params, &mut no_progress()).expect("fit");
        let ja = serde_json::to_string(&a).expect("json");
        let jb = serde_json::to_string(&b).expect("json");
        assert_eq!(ja, jb);
        let back: GbdtModel = serde_json::from_str(&ja).expect("parse");
        back.validate(6).expect("valid");
    }

    #[test]
    fn json_format_is_as_documented() {
        let json = r#"{"base_score": -0.5, "trees": [{"nodes": [
            {"kind": "split", "feature": 1, "threshold": 0.25, "left": 1, "right": 2, "cover": 3.0},
            {"kind": "leaf", "value": -0.1, "cover": 2.0},
            {"kind": "leaf", "value": 0.3, "cover": 1.0}]}]}"#;
        let model: GbdtModel = serde_json::from_str(json).expect("parse");
        model.validate(2).expect("valid");
        assert_eq!(model.margin(&[9.0, 0.25]), -0.6);
        assert_eq!(model.margin(&[9.0, 0.26]), -0.2);
        assert!((model.expected_value() - (-0.5 + (-0.2 + 0.3) / 3.0)).abs() < 1e-15);
        assert_eq!(model.gain_importance(2), vec![0.0, 0.0]);
        assert_eq!(model.max_depth(), 1);
        let unknown = json.replace("\"cover\": 1.0}", "\"cover\": 1.0, \"extra\": 1}");
        assert!(serde_json::from_str::<GbdtModel>(&unknown).is_err());
        let params: GbdtParams = serde_json::from_str(r#"{"num_leaves": 7}"#).expect("params");
        assert_eq!(
            params,
            GbdtParams {
                num_leaves: 7,
                ..GbdtParams::default()
            }
        );
        assert!(serde_json::from_str::<GbdtParams>(r#"{"num_leafs": 7}"#).is_err());
    }

    // ---- TreeSHAP ----

    /// A random tree over `width` features, covers consistent, some leaves
    /// with zero cover; depth at most `max_depth`.
    fn random_tree(rng: &mut ChaCha8Rng, width: usize, max_depth: usize) -> Tree {
        fn grow(rng: &mut ChaCha8Rng, nodes: &mut Vec<Node>, width: usize, depth: usize) -> usize {
            let index = nodes.len();
            if depth == 0 || rng.gen::<f64>() < 0.2 {
                let cover = if rng.gen::<f64>() < 0.1 {
                    0.0
                } else {
                    rng.gen_range(0.1..10.0)
                };
                nodes.push(Node::Leaf {
                    value: rng.gen_range(-1.0..1.0),
                    cover,
                });
                return index;
            }
            nodes.push(Node::Leaf {
                value: 0.0,
                cover: 0.0,
            });
            let left = grow(rng, nodes, width, depth - 1);
            let right = grow(rng, nodes, width, depth - 1);
            let cover = nodes[left].cover() + nodes[right].cover();
            nodes[index] = Node::Split {
                feature: rng.gen_range(0..width),
                threshold: rng.gen_range(0.0..1.0),
                left,
                right,
                cover,
                gain: 0.0,
                default_left: false,
                missing: Missing::Nan,
                categories: None,
            };
            index
        }
        loop {
            let mut nodes = Vec::new();
            grow(rng, &mut nodes, width, max_depth);
            let tree = Tree { nodes };
            let model = GbdtModel {
                base_score: 0.0,
                trees: vec![tree],
                sum: Default::default(),
            };
            if model.validate(width).is_ok() {
                return model.trees.into_iter().next().expect("one tree");
            }
        }
    }

    /// v(S): follow the row on features in S, average the children by cover
    /// otherwise (the path-dependent conditional expectation).
    fn conditional_value(nodes: &[Node], node: usize, row: &[f64], set: u32) -> f64 {
        match nodes[node] {
            Node::Leaf { value, .. } => value,
            Node::Split {
                feature,
                threshold,
                left,
                right,
                cover,
                ..
            } => {
                if set & (1 << feature) != 0 {
                    let next = if row[feature] <= threshold {
                        left
                    } else {
                        right
                    };
                    conditional_value(nodes, next, row, set)
                } else {
                    (nodes[left].cover() * conditional_value(nodes, left, row, set)
                        + nodes[right].cover() * conditional_value(nodes, right, row, set))
                        / cover
                }
            }
        }
    }

    /// Shapley values by enumerating all subsets.
    fn brute_force_shap(model: &GbdtModel, row: &[f64], width: usize) -> Vec<f64> {
        let value = |set: u32| -> f64 {
            model
                .trees
                .iter()
                .map(|t| conditional_value(&t.nodes, 0, row, set))
                .sum::<f64>()
        };
        let factorial = |k: usize| (1..=k).map(|i| i as f64).product::<f64>();
        let mut phi = vec![0.0; width];
        for (i, slot) in phi.iter_mut().enumerate() {
            for set in 0u32..(1 << width) {
                if set & (1 << i) != 0 {
                    continue;
                }
                let s = set.count_ones() as usize;
                let weight = factorial(s) * factorial(width - s - 1) / factorial(width);
                *slot += weight * (value(set | (1 << i)) - value(set));
            }
        }
        phi
    }

    #[test]
    fn tree_shap_matches_brute_force_shapley_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for case in 0..300 {
            let width = rng.gen_range(1..=6);
            let n_trees = rng.gen_range(1..=3);
            let model = GbdtModel {
                base_score: rng.gen_range(-1.0..1.0),
                trees: (0..n_trees)
                    .map(|_| random_tree(&mut rng, width, 6))
                    .collect(),
                sum: Default::default(),
            };
            let row: Vec<f64> = (0..width).map(|_| rng.gen::<f64>()).collect();
            let mut phi = vec![0.0; width];
            model.tree_shap(&row, &mut phi);
            let expected = brute_force_shap(&model, &row, width);
            for (a, b) in phi.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-9, "case {case}: {phi:?} vs {expected:?}");
            }
        }
    }

    #[test]
    fn tree_shap_handles_a_feature_used_twice_on_a_path() {
        // x0 <= 0.5 → (x1 <= 0.5 → (x0 <= 0.2 → a | b) | c) | d
        let nodes = vec![
            Node::Split {
                feature: 0,
                threshold: 0.5,
                left: 1,
                right: 2,
                cover: 10.0,
                gain: 0.0,
                default_left: false,
                missing: Missing::Nan,
                categories: None,
            },
            Node::Split {
                feature: 1,
                threshold: 0.5,
                left: 3,
                right: 4,
                cover: 6.0,
                gain: 0.0,
                default_left: false,
                missing: Missing::Nan,
                categories: None,
            },
            Node::Leaf {
                value: 0.4,
                cover: 4.0,
            },
            Node::Split {
                feature: 0,
                threshold: 0.2,
                left: 5,
                right: 6,
                cover: 3.0,
                gain: 0.0,
                default_left: false,
                missing: Missing::Nan,
                categories: None,
            },
            Node::Leaf {
                value: -0.3,
                cover: 3.0,
            },
            Node::Leaf {
                value: 1.0,
                cover: 1.0,
            },
            Node::Leaf {
                value: -1.0,
                cover: 2.0,
            },
        ];
        let model = GbdtModel {
            base_score: 0.1,
            trees: vec![Tree { nodes }],
            sum: Default::default(),
        };
        model.validate(3).expect("valid");
        for row in [
            [0.1, 0.1, 0.0],
            [0.3, 0.1, 0.0],
            [0.3, 0.9, 5.0],
            [0.9, 0.1, 0.0],
        ] {
            let mut phi = vec![0.0; 3];
            model.tree_shap(&row, &mut phi);
            let expected = brute_force_shap(&model, &row, 3);
            for (a, b) in phi.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-12, "{row:?}: {phi:?} vs {expected:?}");
            }
            assert_eq!(phi[2], 0.0, "unused feature");
            let total = model.expected_value() + phi.iter().sum::<f64>();
            assert!((total - model.margin(&row)).abs() < 1e-12);
        }
    }

    #[test]
    fn tree_shap_is_additive_on_trained_models_and_ignores_unused_columns() {
        let (mut x, y) = xor_data(3000, 8, 5);
        x.column_mut(7).fill(1.0); // constant: no tree can use it
        let model = fit(
            x.view(),
            &y,
            None,
            &GbdtParams::default(),
            &mut no_progress(),
        )
        .expect("fit");
        assert_eq!(model.gain_importance(8)[7], 0.0);
        assert!(model.gain_importance(8)[0] > model.gain_importance(8)[5]);
        let (xt, _) = xor_data(200, 8, 6);
        let mut scratch = ShapScratch::default();
        for row in xt.rows() {
            let row = row.as_slice().expect("row");
            let mut phi = vec![0.0; 8];
            model.tree_shap_with(row, &mut phi, &mut scratch);
            assert_eq!(phi[7], 0.0);
            let total = model.expected_value() + phi.iter().sum::<f64>();
            assert!(
                (total - model.margin(row)).abs() < 1e-9,
                "{total} vs {}",
                model.margin(row)
            );
        }
    }

    #[test]
    fn tree_shap_is_additive_on_random_deep_models() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for _ in 0..50 {
            let width = rng.gen_range(1..=20);
            let model = GbdtModel {
                base_score: rng.gen_range(-1.0..1.0),
                trees: (0..5).map(|_| random_tree(&mut rng, width, 12)).collect(),
                sum: Default::default(),
            };
            let row: Vec<f64> = (0..width).map(|_| rng.gen::<f64>()).collect();
            let mut phi = vec![0.0; width];
            model.tree_shap(&row, &mut phi);
            let total = model.expected_value() + phi.iter().sum::<f64>();
            assert!((total - model.margin(&row)).abs() < 1e-9);
        }
    }

    #[test]
    fn flat_forest_margin_equals_margin_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(41);
        for _ in 0..60 {
            let width = rng.gen_range(1..=12);
            let model = GbdtModel {
                base_score: rng.gen_range(-1.0..1.0),
                trees: (0..6).map(|_| random_tree(&mut rng, width, 9)).collect(),
                sum: Default::default(),
            };
            let flat = FlatForest::new(&model).expect("lays out");
            for _ in 0..20 {
                let mut row: Vec<f64> = (0..width).map(|_| rng.gen::<f64>()).collect();
                if rng.gen_bool(0.2) {
                    row[0] = f64::NAN;
                }
                if rng.gen_bool(0.1) {
                    row.pop(); // a short row: missing columns go right
                }
                assert_eq!(flat.margin(&row).to_bits(), model.margin(&row).to_bits());
            }
        }
    }

    #[test]
    fn candidate_margin_deltas_equal_rescoring_each_candidate() {
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        for _ in 0..60 {
            let width = rng.gen_range(2..=12);
            let model = GbdtModel {
                base_score: rng.gen_range(-1.0..1.0),
                trees: (0..8).map(|_| random_tree(&mut rng, width, 8)).collect(),
                sum: Default::default(),
            };
            let row: Vec<f64> = (0..width).map(|_| rng.gen::<f64>()).collect();
            let start = rng.gen_range(0..width);
            let end = rng.gen_range(start + 1..=width.min(start + 3));
            let count = rng.gen_range(0..12);
            let values: Vec<f64> = (0..count * (end - start))
                .map(|_| rng.gen::<f64>())
                .collect();
            let trees = model.trees_splitting_on(start..end);
            let mut deltas = vec![0.0; count];
            model.candidate_margin_deltas(&trees, &row, start..end, &values, &mut deltas);
            for (k, delta) in deltas.iter().enumerate() {
                let mut changed = row.clone();
                changed[start..end]
                    .copy_from_slice(&values[k * (end - start)..(k + 1) * (end - start)]);
                let expected = model.margin(&changed) - model.margin(&row);
                assert!((delta - expected).abs() < 1e-12, "{delta} vs {expected}");
            }
        }
    }

    // ---- validation ----

    fn small_model() -> GbdtModel {
        let json = r#"{"base_score": 0.0, "trees": [{"nodes": [
            {"kind": "split", "feature": 0, "threshold": 0.5, "left": 1, "right": 2, "cover": 3.0, "gain": 1.0},
            {"kind": "leaf", "value": -0.1, "cover": 2.0},
            {"kind": "split", "feature": 1, "threshold": 0.5, "left": 3, "right": 4, "cover": 1.0, "gain": 1.0},
            {"kind": "leaf", "value": 0.1, "cover": 0.5},
            {"kind": "leaf", "value": 0.2, "cover": 0.5}]}]}"#;
        serde_json::from_str(json).expect("parse")
    }

    #[test]
    fn validate_refuses_broken_models() {
        let good = small_model();
        good.validate(2).expect("valid");
        assert!(good
            .validate(1)
            .expect_err("width")
            .to_string()
            .contains("out of range"));

        let mut m = good.clone();
        if let Node::Split { right, .. } = &mut m.trees[0].nodes[2] {
            *right = 1; // points back
        }
        assert!(m.validate(2).is_err());

        let mut m = good.clone();
        if let Node::Split { threshold, .. } = &mut m.trees[0].nodes[0] {
            *threshold = f64::NAN;
        }
        assert!(m
            .validate(2)
            .expect_err("nan")
            .to_string()
            .contains("threshold"));

        let mut m = good.clone();
        m.trees.push(Tree { nodes: vec![] });
        assert!(m
            .validate(2)
            .expect_err("empty")
            .to_string()
            .contains("no nodes"));

        let mut m = good.clone();
        m.trees[0].nodes.push(Node::Leaf {
            value: 0.0,
            cover: 0.0,
        });
        assert!(m
            .validate(2)
            .expect_err("orphan")
            .to_string()
            .contains("not reachable"));

        let mut m = good.clone();
        m.trees[0].nodes[1] = Node::Leaf {
            value: 0.0,
            cover: -1.0,
        };
        assert!(m.validate(2).is_err());

        let mut m = good.clone();
        m.trees[0].nodes[3] = Node::Leaf {
            value: 1e301,
            cover: 0.5,
        };
        assert!(m
            .validate(2)
            .expect_err("huge")
            .to_string()
            .contains("too large"));

        let mut m = good;
        m.base_score = f64::INFINITY;
        assert!(m.validate(2).is_err());
    }

    #[test]
    fn validate_never_panics_on_random_mutations() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let specials = [
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            -1.0,
            0.0,
            1e308,
            0.5,
        ];
        let usizes = [0usize, 1, 2, 3, 4, 5, 100, usize::MAX];
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut model = if rng.gen::<bool>() {
                small_model()
            } else {
                GbdtModel {
                    base_score: 0.0,
                    trees: vec![random_tree(&mut rng, 3, 4)],
                    sum: Default::default(),
                }
            };
            for _ in 0..rng.gen_range(1..4) {
                let nodes = &mut model.trees[0].nodes;
                if nodes.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..nodes.len());
                let f = specials[rng.gen_range(0..specials.len())];
                let u = usizes[rng.gen_range(0..usizes.len())];
                let other = rng.gen_range(0..nodes.len());
                match (&mut nodes[i], rng.gen_range(0..8)) {
                    (Node::Split { feature, .. }, 0) => *feature = u,
                    (Node::Split { left, .. }, 1) => *left = u,
                    (Node::Split { right, .. }, 2) => *right = u,
                    (Node::Split { threshold, .. }, 3) => *threshold = f,
                    (Node::Split { cover, gain, .. }, 4) => {
                        *cover = f;
                        *gain = f;
                    }
                    (Node::Leaf { value, cover }, 5) => {
                        *value = f;
                        *cover = f;
                    }
                    (_, 6) => {
                        nodes.swap(i, other);
                    }
                    (_, _) => {
                        nodes.truncate(i);
                    }
                }
            }
            if rng.gen::<f64>() < 0.05 {
                model.base_score = specials[rng.gen_range(0..specials.len())];
            }
            let width = rng.gen_range(0..4);
            // Unvalidated models must not panic either.
            let row = vec![0.3; width];
            let mut phi = vec![0.0; width];
            let margin = model.margin(&row);
            model.tree_shap(&row, &mut phi);
            let _ = model.max_depth();
            if model.validate(width).is_ok() {
                accepted += 1;
                let total = model.expected_value() + phi.iter().sum::<f64>();
                assert!((total - margin).abs() < 1e-9);
            }
        }
        assert!(accepted > 100, "{accepted}");
    }
}
