//! Gradient-boosted decision trees for the binary target: our own tree
//! format, its evaluator ([`GbdtModel::margin`], [`FlatForest`]) and
//! exact per-column explanations ([`GbdtModel::tree_shap`]); growth is in `train::grow`.
//!
//! The module owns everything about trees; it needs no training library at
//! serving time, and the format below is all a serving engineer has to read.
//!
//! # The tree JSON format
//!
//! ```jsonc
//! {
//!   "base_score": -0.62,          // raw log-odds every prediction starts from
//!   "trees": [                    // summed; each tree adds one leaf value
//!     { "nodes": [                // nodes[0] is the root
//!         { "kind": "split", "feature": 3, "threshold": 0.25,
//!           "left": 1, "right": 2, "cover": 812.4, "gain": 57.1 },
//!         { "kind": "leaf", "value": -0.031, "cover": 530.0 },
//!         { "kind": "leaf", "value":  0.044, "cover": 282.4 }
//!     ] }
//!   ]
//! }
//! ```
//!
//! - A node is a JSON object tagged by `"kind"`: `"split"` or `"leaf"`
//!   (serde's internally tagged enum). Unknown fields are refused.
//! - `feature` is an index into the **design row** (the encoded row the
//!   feature pipeline produces), not a source-feature index.
//! - A row goes to `left` when `row[feature] <= threshold`, otherwise to
//!   `right`. Thresholds are real feature values: the midpoint between the
//!   largest training value of one histogram bin and the smallest value of the
//!   next, so `x <= threshold` reproduces the training partition exactly.
//! - `left` and `right` are indices into `nodes`, always greater than the
//!   split's own index (children come after their parent, so a tree has no
//!   cycles and can be evaluated in one forward pass).
//! - `value` is the leaf's contribution to the log-odds, already multiplied by
//!   the learning rate. The model's log-odds (its *margin*) for a row are
//!   `base_score + Σ_trees value(leaf reached by the row)`; the probability
//!   is `1 / (1 + e^(−margin))` before any calibration.
//! - `cover` is the sum of the (sample-weighted) hessians `w·p·(1−p)` of the
//!   training rows that reached the node when its tree was grown. A split's
//!   cover equals the sum of its children's covers. Path-dependent TreeSHAP
//!   uses the ratio `cover(child) / cover(node)` as the probability that a row
//!   whose value of `feature` is unknown goes to that child.
//! - `gain` is the split's loss reduction
//!   `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` (G, H: sums of gradients and
//!   hessians); it only feeds [`GbdtModel::gain_importance`] and defaults to 0
//!   when absent.
//!
//! - Imported trees (`train::import`, LightGBM and XGBoost) may add three
//!   optional split fields, absent (and defaulted) everywhere else:
//!   `default_left` (a missing value goes left; default false = right, which
//!   is what `NaN <= threshold` gives), `missing` (`"nan"`, the default, or
//!   `"zero_or_nan"`: |x| ≤ [`ZERO_AS_MISSING`] is missing too) and
//!   `categories` (sorted codes: the value, truncated, goes left when it is
//!   in the set; NaN follows `default_left`; all else goes right). The one
//!   rule is [`goes_left`]; [`FlatForest`] and `shap_tables` leave trees with
//!   such splits to [`GbdtModel::margin`] and Algorithm 2.
//!
//! [`GbdtModel::validate`] states what a loadable model must satisfy; every
//! other method assumes a validated model and a row of the validated width
//! (they never panic on others, but their results are then meaningless).
//!
//! # Training
//!
//! Growth (histograms, best-first leaves, LightGBM's algorithm and
//! hyperparameter names) lives in `train::grow`; this module is all a
//! serving engineer has to read.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

/// The deepest tree `train::grow::fit` grows and [`GbdtModel::validate`] accepts (root
/// at depth 0). It bounds the recursion and the scratch memory of TreeSHAP.
pub const MAX_TREE_DEPTH: usize = 256;

/// A loadable model's `|base_score| + Σ_trees max |leaf value|` must stay
/// below this, so that every margin is finite.
pub const MAX_MARGIN_BOUND: f64 = 1e300;

/// Relative tolerance for "a split's cover equals the sum of its children's".
const COVER_TOLERANCE: f64 = 1e-6;

/// A fitted ensemble: `margin = base_score + Σ_trees leaf value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GbdtModel {
    /// Raw log-odds every prediction starts from (LightGBM's
    /// `boost_from_average`: `ln(p / (1 − p))` of the weighted training
    /// positive rate).
    pub base_score: f64,
    /// The boosted trees, in the order they were fitted.
    pub trees: Vec<Tree>,
    /// How the margin is summed: `f64` (ours, LightGBM's), or `f32` for
    /// models imported from XGBoost, which adds each tree's leaf to an f32
    /// running sum starting from an f32 base score; summing the same way
    /// serves XGBoost's own `output_margin` exactly.
    #[serde(default, skip_serializing_if = "MarginSum::is_f64")]
    pub sum: MarginSum,
}

/// The arithmetic of [`GbdtModel::margin`]'s running sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginSum {
    /// Double precision (our trainer, LightGBM).
    #[default]
    F64,
    /// Single precision, tree by tree in order (XGBoost's predictor).
    F32,
}

impl MarginSum {
    /// True for the default, which `model.json` leaves out.
    pub fn is_f64(&self) -> bool {
        *self == MarginSum::F64
    }
}

/// One regression tree on the log-odds scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    /// The nodes; `nodes[0]` is the root and children follow their parent.
    pub nodes: Vec<Node>,
}

/// A tree node, serialised as a JSON object tagged by `"kind"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// An internal node: rows with `row[feature] <= threshold` go to `left`.
    Split {
        /// Design-row column tested by this split.
        feature: usize,
        /// Rows with `row[feature] <= threshold` go left, others right.
        threshold: f64,
        /// Index of the left child in the tree's `nodes` (> this node's index).
        left: usize,
        /// Index of the right child in the tree's `nodes` (> this node's index).
        right: usize,
        /// Sum of the training rows' weighted hessians at this node; equals
        /// the sum of the children's covers. TreeSHAP's weights come from it.
        cover: f64,
        /// Loss reduction of this split, for importance; 0 when unknown.
        #[serde(default)]
        gain: f64,
        /// Where a missing value (see `missing`) goes: left when true. Trees
        /// we grow never see missing values and leave it false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        default_left: bool,
        /// Which values count as missing; imported trees only.
        #[serde(default, skip_serializing_if = "Missing::is_nan")]
        missing: Missing,
        /// A categorical split (imported trees): rows whose value, truncated
        /// to an integer code, is in this sorted set go left, all others
        /// (negative codes included) right; `threshold` is then unused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        categories: Option<Vec<u32>>,
    },
    /// A terminal node.
    Leaf {
        /// Contribution to the log-odds, learning rate already applied.
        value: f64,
        /// Sum of the training rows' weighted hessians at this leaf.
        cover: f64,
    },
}

/// Which values of a split's column are missing, and so go the split's
/// `default_left` way instead of being compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// NaN only (XGBoost; LightGBM's missing type `NaN`).
    #[default]
    Nan,
    /// NaN, and values within ±[`ZERO_AS_MISSING`] of 0 (LightGBM's missing
    /// type `Zero`).
    ZeroOrNan,
}

impl Missing {
    /// Whether this is the default ([`Missing::Nan`]), for serde.
    pub fn is_nan(&self) -> bool {
        *self == Missing::Nan
    }
}

/// `|x|` up to this counts as zero for [`Missing::ZeroOrNan`] (LightGBM's
/// `kZeroThreshold`, the f32 `1e-35`).
pub const ZERO_AS_MISSING: f64 = 1e-35f32 as f64;

/// The one split rule every evaluator shares: whether a row whose value at
/// the split's column is `x` (`None`: the row is too short) goes left.
#[inline]
pub fn goes_left(
    x: Option<f64>,
    threshold: f64,
    default_left: bool,
    missing: Missing,
    categories: Option<&[u32]>,
) -> bool {
    let Some(x) = x else {
        return false;
    };
    let is_missing = match missing {
        Missing::Nan => x.is_nan(),
        Missing::ZeroOrNan => x.is_nan() || x.abs() <= ZERO_AS_MISSING,
    };
    if is_missing {
        return default_left;
    }
    match categories {
        None => x <= threshold,
        Some(set) => {
            let code = x.trunc();
            code >= 0.0 && code <= f64::from(u32::MAX) && set.binary_search(&(code as u32)).is_ok()
        }
    }
}

impl Node {
    /// For a split: whether `row` goes to its left child (false for a leaf).
    #[inline]
    pub fn sends_left(&self, row: &[f64]) -> bool {
        match self {
            Node::Split {
                feature,
                threshold,
                default_left,
                missing,
                categories,
                ..
            } => goes_left(
                row.get(*feature).copied(),
                *threshold,
                *default_left,
                *missing,
                categories.as_deref(),
            ),
            Node::Leaf { .. } => false,
        }
    }

    /// Whether this is a split that a plain `x <= threshold` does not
    /// describe (missing values sent left, zero as missing, categories).
    pub fn has_extended_rule(&self) -> bool {
        matches!(self, Node::Split { default_left, missing, categories, .. }
            if *default_left || *missing != Missing::Nan || categories.is_some())
    }

    /// The node's cover (sum of weighted training hessians).
    pub fn cover(&self) -> f64 {
        match self {
            Node::Split { cover, .. } | Node::Leaf { cover, .. } => *cover,
        }
    }
}

/// Why a [`GbdtModel`] cannot be used for rows of a given width.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TreeError {
    /// `base_score` is NaN or infinite.
    #[error("base_score is not finite ({value})")]
    BaseScoreNotFinite {
        /// The stored base score.
        value: f64,
    },
    /// A tree has no nodes at all.
    #[error("tree {tree} has no nodes")]
    EmptyTree {
        /// Index of the tree.
        tree: usize,
    },
    /// One node breaks a structural or numeric rule.
    #[error("tree {tree} node {node}: {problem}")]
    BadNode {
        /// Index of the tree.
        tree: usize,
        /// Index of the node inside the tree.
        node: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A node other than the root is no split's child.
    #[error("tree {tree} node {node} is not reachable from the root")]
    Unreachable {
        /// Index of the tree.
        tree: usize,
        /// Index of the node inside the tree.
        node: usize,
    },
    /// A tree is deeper than [`MAX_TREE_DEPTH`].
    #[error("tree {tree} is deeper than {max}")]
    TooDeep {
        /// Index of the tree.
        tree: usize,
        /// The depth limit.
        max: usize,
    },
    /// `|base_score| + Σ max |leaf value|` could overflow the margin.
    #[error("|base_score| + Σ max |leaf value| = {bound} is too large")]
    MarginTooLarge {
        /// The computed bound.
        bound: f64,
    },
}

// ---------------------------------------------------------------------------
// Validation and evaluation
// ---------------------------------------------------------------------------

impl GbdtModel {
    /// Checks everything the other methods rely on, for design rows of
    /// `width` columns: `base_score` is finite; every tree has at least one
    /// node; every split tests a column `< width` at a finite threshold, has
    /// two distinct children whose indices are in range and greater than its
    /// own, a finite cover `> 0` equal (to a relative 1e-6) to the sum of its
    /// children's covers, and a finite gain `>= 0`; every leaf has a finite
    /// value and a finite cover `>= 0`; every node other than the root is the
    /// child of exactly one split (so every node is reachable exactly once);
    /// no tree is deeper than [`MAX_TREE_DEPTH`]; and
    /// `|base_score| + Σ_trees max |leaf value| < 1e300`.
    ///
    /// Never panics, whatever the input.
    ///
    /// # Errors
    /// A [`TreeError`] naming the tree, the node and the problem.
    pub fn validate(&self, width: usize) -> Result<(), TreeError> {
        if !self.base_score.is_finite() {
            return Err(TreeError::BaseScoreNotFinite {
                value: self.base_score,
            });
        }
        let mut bound = self.base_score.abs();
        for (t, tree) in self.trees.iter().enumerate() {
            let nodes = &tree.nodes;
            if nodes.is_empty() {
                return Err(TreeError::EmptyTree { tree: t });
            }
            let mut parents = vec![0u8; nodes.len()];
            let mut depth = vec![0usize; nodes.len()];
            let mut max_leaf = 0.0f64;
            for (i, node) in nodes.iter().enumerate() {
                let here = |problem: String| TreeError::BadNode {
                    tree: t,
                    node: i,
                    problem,
                };
                match *node {
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                        cover,
                        gain,
                        ref categories,
                        ..
                    } => {
                        if let Some(set) = categories {
                            if set.windows(2).any(|w| w[0] >= w[1]) {
                                return Err(here(
                                    "categories must be strictly increasing".to_string(),
                                ));
                            }
                        }
                        if feature >= width {
                            return Err(here(format!(
                                "feature {feature} is out of range (width {width})"
                            )));
                        }
                        if !threshold.is_finite() {
                            return Err(here("threshold is not finite".to_string()));
                        }
                        if !(cover.is_finite() && cover > 0.0) {
                            return Err(here(format!(
                                "a split's cover must be finite and > 0, got {cover}"
                            )));
                        }
                        if !(gain.is_finite() && gain >= 0.0) {
                            return Err(here(format!("gain must be finite and >= 0, got {gain}")));
                        }
                        if left == right {
                            return Err(here("left and right are the same node".to_string()));
                        }
                        let mut child_cover = 0.0;
                        for child in [left, right] {
                            if child <= i || child >= nodes.len() {
                                return Err(here(format!(
                                    "child index {child} must be in {}..{}",
                                    i + 1,
                                    nodes.len()
                                )));
                            }
                            if parents[child] > 0 {
                                return Err(here(format!("node {child} already has a parent")));
                            }
                            parents[child] = 1;
                            depth[child] = depth[i] + 1;
                            if depth[child] > MAX_TREE_DEPTH {
                                return Err(TreeError::TooDeep {
                                    tree: t,
                                    max: MAX_TREE_DEPTH,
                                });
                            }
                            child_cover += nodes[child].cover();
                        }
                        // Children are checked for finiteness when reached;
                        // a non-finite sum fails this comparison too.
                        if child_cover.is_nan()
                            || (child_cover - cover).abs() > COVER_TOLERANCE * cover
                        {
                            return Err(here(format!(
                                "cover {cover} is not the sum of its children's ({child_cover})"
                            )));
                        }
                    }
                    Node::Leaf { value, cover } => {
                        if !value.is_finite() {
                            return Err(here("leaf value is not finite".to_string()));
                        }
                        if !(cover.is_finite() && cover >= 0.0) {
                            return Err(here(format!(
                                "a leaf's cover must be finite and >= 0, got {cover}"
                            )));
                        }
                        max_leaf = max_leaf.max(value.abs());
                    }
                }
                if i > 0 && parents[i] == 0 {
                    return Err(TreeError::Unreachable { tree: t, node: i });
                }
            }
            bound += max_leaf;
        }
        if bound.is_nan() || bound >= MAX_MARGIN_BOUND {
            return Err(TreeError::MarginTooLarge { bound });
        }
        Ok(())
    }

    /// Raw log-odds of a design row: `base_score + Σ_trees leaf value`.
    ///
    /// Assumes a validated model and `row.len()` equal to the validated width;
    /// allocation-free, never panics (a missing column counts as "not
    /// `<= threshold`").
    pub fn margin(&self, row: &[f64]) -> f64 {
        if self.sum == MarginSum::F32 {
            // Rounding each step to f32 as XGBoost does (its leaf values and
            // base score are f32 numbers, so the casts are exact).
            let mut sum = self.base_score as f32;
            for tree in &self.trees {
                sum += tree.leaf_value(row) as f32;
            }
            return f64::from(sum);
        }
        let mut sum = self.base_score;
        for tree in &self.trees {
            sum += tree.leaf_value(row);
        }
        sum
    }

    /// The TreeSHAP expected value: `base_score` plus, for each tree, the
    /// cover-weighted mean of its leaf values (`Σ value · cover / root cover`).
    /// With [`Self::tree_shap`]: `expected_value() + Σ phi = margin(row)`.
    pub fn expected_value(&self) -> f64 {
        let mut sum = self.base_score;
        for tree in &self.trees {
            let Some(root) = tree.nodes.first() else {
                continue;
            };
            match *root {
                Node::Leaf { value, .. } => sum += value,
                Node::Split {
                    cover: root_cover, ..
                } => {
                    for node in &tree.nodes {
                        if let Node::Leaf { value, cover } = *node {
                            sum += value * (cover / root_cover);
                        }
                    }
                }
            }
        }
        sum
    }

    /// Exact path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm
    /// 2): adds each design column's contribution to the margin of `row` into
    /// `phi` (`phi.len()` = width). Columns no split uses get 0. Uses a
    /// per-thread scratch buffer, so it allocates only the first time a thread
    /// meets a deeper tree; see [`Self::tree_shap_with`] to pass your own.
    pub fn tree_shap(&self, row: &[f64], phi: &mut [f64]) {
        thread_local! {
            static SCRATCH: RefCell<ShapScratch> = RefCell::new(ShapScratch::default());
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.tree_shap_with(row, phi, &mut scratch),
            Err(_) => self.tree_shap_with(row, phi, &mut ShapScratch::default()),
        });
    }

    /// [`Self::tree_shap`] with a caller-owned scratch buffer.
    pub fn tree_shap_with(&self, row: &[f64], phi: &mut [f64], scratch: &mut ShapScratch) {
        for tree in &self.trees {
            tree.tree_shap_into(row, phi, scratch);
        }
    }

    /// [`Self::tree_shap`] over the trees at `indices` only (out-of-range
    /// indices are skipped); [`crate::scoring::shap_tables`] uses it for the trees it
    /// does not tabulate.
    pub fn tree_shap_of(&self, indices: &[usize], row: &[f64], phi: &mut [f64]) {
        thread_local! {
            static SCRATCH: RefCell<ShapScratch> = RefCell::new(ShapScratch::default());
        }
        let mut run = |scratch: &mut ShapScratch| {
            for tree in indices.iter().filter_map(|&t| self.trees.get(t)) {
                tree.tree_shap_into(row, phi, scratch);
            }
        };
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => run(&mut scratch),
            Err(_) => run(&mut ShapScratch::default()),
        });
    }

    /// For each tree, the sorted indices of the trees that split on any of
    /// `columns`: the only trees whose leaf can change when those columns do.
    pub fn trees_splitting_on(&self, columns: std::ops::Range<usize>) -> Vec<u32> {
        self.trees
            .iter()
            .enumerate()
            .filter(|(_, tree)| {
                tree.nodes
                    .iter()
                    .any(|n| matches!(n, Node::Split { feature, .. } if columns.contains(feature)))
            })
            .filter_map(|(t, _)| u32::try_from(t).ok())
            .collect()
    }

    /// How the margin of `row` changes when its `columns` take other values:
    /// candidate `k` is `candidates[k·w..(k+1)·w]` (`w = columns.len()`), and
    /// `out[k]` gains `Σ_t leaf_t(row with candidate k) − leaf_t(row)` over
    /// the trees at `trees` (from [`Self::trees_splitting_on`]; the others
    /// cannot change). Each tree is walked once for all candidates: at a
    /// split on one of `columns` the candidates are partitioned between the
    /// children, elsewhere they all follow the row. Assumes a validated model;
    /// never panics (out-of-range indices are skipped).
    pub fn candidate_margin_deltas(
        &self,
        trees: &[u32],
        row: &[f64],
        columns: std::ops::Range<usize>,
        candidates: &[f64],
        out: &mut [f64],
    ) {
        let width = columns.len();
        if width == 0 {
            return;
        }
        let count = (candidates.len() / width).min(out.len());
        let mut order: Vec<u32> = (0..count as u32).collect();
        let walk = CandidateWalk {
            row,
            columns,
            candidates,
        };
        for tree in trees.iter().filter_map(|&t| self.trees.get(t as usize)) {
            let now = tree.leaf_value(row);
            walk.descend(tree, 0, 0, &mut order, now, out);
        }
    }

    /// Total split gain per design column (`width` entries); splits on
    /// columns `>= width` are ignored.
    pub fn gain_importance(&self, width: usize) -> Vec<f64> {
        let mut importance = vec![0.0; width];
        for tree in &self.trees {
            for node in &tree.nodes {
                if let Node::Split { feature, gain, .. } = *node {
                    if let Some(slot) = importance.get_mut(feature) {
                        *slot += gain;
                    }
                }
            }
        }
        importance
    }

    /// Number of splits per design column (`width` entries).
    pub fn split_count_importance(&self, width: usize) -> Vec<usize> {
        let mut importance = vec![0; width];
        for tree in &self.trees {
            for node in &tree.nodes {
                if let Node::Split { feature, .. } = *node {
                    if let Some(slot) = importance.get_mut(feature) {
                        *slot += 1;
                    }
                }
            }
        }
        importance
    }

    /// Depth of the deepest leaf over all trees (a single-leaf tree has depth
    /// 0). Assumes a validated model.
    pub fn max_depth(&self) -> usize {
        let mut deepest = 0;
        for tree in &self.trees {
            let mut depth = vec![0usize; tree.nodes.len()];
            for (i, node) in tree.nodes.iter().enumerate() {
                let d = depth[i];
                deepest = deepest.max(d);
                if let Node::Split { left, right, .. } = *node {
                    for child in [left, right] {
                        if child > i {
                            if let Some(slot) = depth.get_mut(child) {
                                *slot = d + 1;
                            }
                        }
                    }
                }
            }
        }
        deepest
    }
}

impl Tree {
    /// Algorithm 2 on this tree: adds its TreeSHAP values for `row` into `phi`.
    fn tree_shap_into(&self, row: &[f64], phi: &mut [f64], scratch: &mut ShapScratch) {
        let mut walk = ShapWalk {
            nodes: &self.nodes,
            row,
            phi,
            path: &mut scratch.path,
        };
        walk.recurse(0, 0, 0, 1.0, 1.0, usize::MAX, 0);
    }

    /// The value of the leaf `row` reaches. Bounded by the node count, so it
    /// terminates (and never panics) even on an unvalidated tree.
    fn leaf_value(&self, row: &[f64]) -> f64 {
        let mut index = 0;
        for _ in 0..self.nodes.len() {
            match self.nodes.get(index) {
                Some(node @ Node::Split { left, right, .. }) => {
                    index = if node.sends_left(row) { *left } else { *right };
                }
                Some(Node::Leaf { value, .. }) => return *value,
                None => return 0.0,
            }
        }
        0.0
    }
}

/// A validated [`GbdtModel`] laid out for scoring: all trees' nodes in one
/// array of 16-byte records, each split's children side by side (right =
/// left + 1), so a row steps down a tree with one comparison and an add
/// instead of a branch on the comparison. [`Self::margin`] equals
/// [`GbdtModel::margin`] bit for bit (same leaves, summed in the same order).
#[derive(Debug, Clone, Default)]
pub struct FlatForest {
    base_score: f64,
    roots: Vec<u32>,
    nodes: Vec<FlatNode>,
}

/// A split (`feature < LEAF`: rows with `row[feature] <= value` go to
/// `child`, others to `child + 1`) or a leaf (`feature == LEAF`, `value` its
/// value).
#[derive(Debug, Clone, Copy)]
struct FlatNode {
    feature: u32,
    child: u32,
    value: f64,
}

/// The `feature` of a leaf in [`FlatNode`].
const LEAF: u32 = u32::MAX;

impl FlatForest {
    /// Lays out a validated model; `None` when it does not fit 32-bit
    /// indices or a tree is malformed (callers then use
    /// [`GbdtModel::margin`]).
    pub fn new(model: &GbdtModel) -> Option<Self> {
        if model.sum != MarginSum::F64 {
            return None; // FlatForest sums in f64
        }
        let mut forest = FlatForest {
            base_score: model.base_score,
            ..Default::default()
        };
        for tree in &model.trees {
            if tree.nodes.iter().any(Node::has_extended_rule) {
                return None; // FlatNode holds `x <= threshold` splits only
            }
            let root = u32::try_from(forest.nodes.len()).ok()?;
            forest.roots.push(root);
            // Breadth-first: a split's two children get adjacent slots.
            let mut queue = std::collections::VecDeque::from([(0usize, forest.nodes.len())]);
            forest.nodes.push(FlatNode {
                feature: LEAF,
                child: 0,
                value: 0.0,
            });
            let mut steps = 0;
            while let Some((original, at)) = queue.pop_front() {
                steps += 1;
                if steps > tree.nodes.len() {
                    return None; // not a tree
                }
                forest.nodes[at] = match *tree.nodes.get(original)? {
                    Node::Leaf { value, .. } => FlatNode {
                        feature: LEAF,
                        child: 0,
                        value,
                    },
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                        ..
                    } => {
                        let child = forest.nodes.len();
                        let placeholder = FlatNode {
                            feature: LEAF,
                            child: 0,
                            value: 0.0,
                        };
                        forest.nodes.extend([placeholder, placeholder]);
                        queue.push_back((left, child));
                        queue.push_back((right, child + 1));
                        FlatNode {
                            feature: u32::try_from(feature).ok().filter(|f| *f != LEAF)?,
                            child: u32::try_from(child).ok()?,
                            value: threshold,
                        }
                    }
                };
            }
        }
        u32::try_from(forest.nodes.len()).ok()?;
        Some(forest)
    }

    /// Raw log-odds of a design row, as [`GbdtModel::margin`]. Never panics;
    /// a missing column counts as "not `<= threshold`".
    pub fn margin(&self, row: &[f64]) -> f64 {
        let mut sum = self.base_score;
        for &root in &self.roots {
            let mut at = root as usize;
            // Bounded by the node count even if the layout were broken.
            for _ in 0..self.nodes.len() {
                let Some(node) = self.nodes.get(at) else {
                    break;
                };
                if node.feature == LEAF {
                    sum += node.value;
                    break;
                }
                let goes_right = !row
                    .get(node.feature as usize)
                    .is_some_and(|x| *x <= node.value);
                at = node.child as usize + usize::from(goes_right);
            }
        }
        sum
    }
}

/// The fixed inputs of [`GbdtModel::candidate_margin_deltas`].
struct CandidateWalk<'a> {
    row: &'a [f64],
    columns: std::ops::Range<usize>,
    candidates: &'a [f64],
}

impl CandidateWalk<'_> {
    /// Adds `leaf − now` to `out[k]` for every candidate `k` in `order`,
    /// starting at `node` of `tree`.
    fn descend(
        &self,
        tree: &Tree,
        mut node: usize,
        mut depth: usize,
        mut order: &mut [u32],
        now: f64,
        out: &mut [f64],
    ) {
        let width = self.columns.len();
        while depth <= MAX_TREE_DEPTH && !order.is_empty() {
            depth += 1;
            match tree.nodes.get(node) {
                Some(&Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    default_left,
                    missing,
                    ref categories,
                    ..
                }) => {
                    if self.columns.contains(&feature) {
                        let j = feature - self.columns.start;
                        let mut split = 0;
                        for a in 0..order.len() {
                            let k = order[a] as usize;
                            if goes_left(
                                self.candidates.get(k * width + j).copied(),
                                threshold,
                                default_left,
                                missing,
                                categories.as_deref(),
                            ) {
                                order.swap(a, split);
                                split += 1;
                            }
                        }
                        let (goes_left, goes_right) = order.split_at_mut(split);
                        self.descend(tree, left, depth, goes_left, now, out);
                        order = goes_right;
                        node = right;
                    } else {
                        let left_here = goes_left(
                            self.row.get(feature).copied(),
                            threshold,
                            default_left,
                            missing,
                            categories.as_deref(),
                        );
                        node = if left_here { left } else { right };
                    }
                }
                Some(&Node::Leaf { value, .. }) => {
                    for &k in order.iter() {
                        if let Some(o) = out.get_mut(k as usize) {
                            *o += value - now;
                        }
                    }
                    return;
                }
                None => return,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// TreeSHAP
// ---------------------------------------------------------------------------

/// Reusable memory for [`GbdtModel::tree_shap_with`]; grows to
/// `O(depth²)` path elements for the deepest tree it has seen.
#[derive(Debug, Default, Clone)]
pub struct ShapScratch {
    path: Vec<PathElement>,
}

/// One feature on the unique path from the root (the paper's `m`):
/// `zero` is the fraction of "feature unknown" rows that follow the path
/// (product of cover ratios), `one` is 1 if the row itself follows it, and
/// `weight` is the permutation weight of subsets of the path's size.
#[derive(Debug, Default, Clone, Copy)]
struct PathElement {
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Grows the path by one feature (the paper's EXTEND). `path[..len]` is the
/// current path; the new element is written at `path[len]`.
fn extend_path(path: &mut [PathElement], len: usize, zero: f64, one: f64, feature: usize) {
    path[len] = PathElement {
        feature,
        zero,
        one,
        weight: if len == 0 { 1.0 } else { 0.0 },
    };
    let l = len as f64;
    for i in (0..len).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (l + 1.0);
        path[i].weight = zero * path[i].weight * (l - i as f64) / (l + 1.0);
    }
}

/// Removes element `k` from `path[..len]` (the paper's UNWIND), undoing its
/// EXTEND on the weights. The caller shortens the path to `len - 1`.
fn unwind_path(path: &mut [PathElement], len: usize, k: usize) {
    let PathElement { zero, one, .. } = path[k];
    let last = len - 1;
    let l = len as f64;
    let mut next = path[last].weight;
    for j in (0..last).rev() {
        if one != 0.0 {
            let old = path[j].weight;
            path[j].weight = next * l / ((j + 1) as f64 * one);
            next = old - path[j].weight * zero * (last - j) as f64 / l;
        } else {
            path[j].weight = path[j].weight * l / (zero * (last - j) as f64);
        }
    }
    for j in k..last {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

/// Σ of the weights `unwind_path(path, len, k)` would leave, without
/// modifying the path.
fn unwound_weight_sum(path: &[PathElement], len: usize, k: usize) -> f64 {
    let PathElement { zero, one, .. } = path[k];
    let last = len - 1;
    let l = len as f64;
    let mut total = 0.0;
    if one != 0.0 {
        let mut next = path[last].weight;
        for j in (0..last).rev() {
            let w = next * l / ((j + 1) as f64 * one);
            total += w;
            next = path[j].weight - w * zero * (last - j) as f64 / l;
        }
    } else {
        for j in (0..last).rev() {
            total += path[j].weight * l / (zero * (last - j) as f64);
        }
    }
    total
}

/// The state of one tree's TreeSHAP recursion.
struct ShapWalk<'a> {
    nodes: &'a [Node],
    row: &'a [f64],
    phi: &'a mut [f64],
    /// Paths of all recursion levels, one after the other (each level copies
    /// its parent's path, as the paper's EXTEND does).
    path: &'a mut Vec<PathElement>,
}

impl ShapWalk<'_> {
    /// The paper's RECURSE: `parent_start..parent_start + parent_len` is the
    /// parent's path; this call extends a copy of it with
    /// `(feature, zero, one)` and descends from `node`.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &mut self,
        node: usize,
        parent_start: usize,
        parent_len: usize,
        zero: f64,
        one: f64,
        feature: usize,
        depth: usize,
    ) {
        let Some(current) = self.nodes.get(node) else {
            return;
        };
        if depth > MAX_TREE_DEPTH {
            return; // only reachable on an unvalidated (cyclic or too deep) tree
        }
        let start = parent_start + parent_len;
        let mut len = parent_len + 1;
        if self.path.len() < start + len {
            self.path.resize(start + len, PathElement::default());
        }
        self.path
            .copy_within(parent_start..parent_start + parent_len, start);
        extend_path(&mut self.path[start..], parent_len, zero, one, feature);
        match *current {
            Node::Leaf { value, .. } => {
                let path = &self.path[start..start + len];
                // Element 0 is the root's placeholder, not a feature.
                for (k, element) in path.iter().enumerate().skip(1) {
                    let w = unwound_weight_sum(path, len, k);
                    if let Some(slot) = self.phi.get_mut(element.feature) {
                        *slot += w * (element.one - element.zero) * value;
                    }
                }
            }
            Node::Split {
                feature: split_feature,
                left,
                right,
                cover,
                ..
            } => {
                let (hot, cold) = if current.sends_left(self.row) {
                    (left, right)
                } else {
                    (right, left)
                };
                let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
                // A feature already on the path is removed and re-added with
                // its fractions multiplied in, so each feature appears once.
                if let Some(k) = (1..len).find(|&k| self.path[start + k].feature == split_feature) {
                    incoming_zero = self.path[start + k].zero;
                    incoming_one = self.path[start + k].one;
                    unwind_path(&mut self.path[start..], len, k);
                    len -= 1;
                }
                let ratio = |child: usize| self.nodes.get(child).map_or(0.0, |n| n.cover() / cover);
                // Children after their parent, as validate() guarantees; this
                // also keeps an unvalidated cyclic tree from recursing forever.
                let (hot, cold) = (
                    if hot > node { hot } else { usize::MAX },
                    if cold > node { cold } else { usize::MAX },
                );
                let hot_zero = incoming_zero * ratio(hot);
                let cold_zero = incoming_zero * ratio(cold);
                // A branch with zero and one fractions both 0 contributes
                // nothing (and would divide by zero when unwound): skip it.
                if hot_zero != 0.0 || incoming_one != 0.0 {
                    self.recurse(
                        hot,
                        start,
                        len,
                        hot_zero,
                        incoming_one,
                        split_feature,
                        depth + 1,
                    );
                }
                if cold_zero != 0.0 {
                    self.recurse(cold, start, len, cold_zero, 0.0, split_feature, depth + 1);
                }
            }
        }
    }
}
