//! Trees as complete binary trees, walked several at a time without a
//! branch on the comparison: the Score path's tree evaluator.
//!
//! [`CompleteForest`] pads every tree of a validated [`GbdtModel`] to one
//! depth `D` (a leaf above depth `D` becomes a subtree whose leaves all hold
//! its value), so the node a row reaches after each comparison is a plain
//! heap index: from node `i`, left is `2i + 1` and right `2i + 2`, and after
//! `D` steps the index names a leaf. Each step is a load of the split, a load
//! of the row's value, a comparison and an add; no step depends on a branch.
//!
//! Rows are walked in lanes: [`CompleteForest::margins`] steps
//! [`BLOCK_ROWS`] rows down the same tree level by level, and
//! [`CompleteForest::margin`] steps [`TREE_LANES`] trees of one row the same
//! way, so the processor overlaps the lanes' memory loads instead of waiting
//! on one walk at a time. Each row's leaf values are still added in tree
//! order, so the margins equal [`GbdtModel::margin`] bit for bit.
//!
//! This is the array-and-predication approach to tree evaluation, not
//! QuickScorer (whose authors patented it): no bitvectors over a feature's
//! thresholds, one walk per (row, tree).

use crate::scoring::trees::{GbdtModel, MarginSum, Missing, Node};

/// The deepest forest laid out complete (`2^D` leaves a tree); deeper ones
/// keep [`crate::scoring::trees::FlatForest`].
pub const MAX_COMPLETE_DEPTH: usize = 10;

/// Rows walked together by [`CompleteForest::margins`].
pub const BLOCK_ROWS: usize = 8;

/// Trees walked together for one row by [`CompleteForest::margin`].
pub const TREE_LANES: usize = 8;

/// One split of a complete tree: rows with `row[feature] <= threshold` go
/// left, and so does a NaN when `nan_left` is 1.
#[derive(Debug, Clone, Copy)]
struct Split {
    threshold: f64,
    feature: u32,
    nan_left: u32,
}

/// A validated [`GbdtModel`] with every tree padded to one depth; see the
/// module docs.
#[derive(Debug, Clone)]
pub struct CompleteForest {
    base_score: f64,
    /// Whether the margin is summed in f32, as XGBoost does.
    sum_f32: bool,
    depth: usize,
    /// `2^depth − 1` splits per tree, tree after tree, in heap order.
    splits: Vec<Split>,
    /// `2^depth` leaf values per tree, tree after tree.
    leaves: Vec<f64>,
    trees: usize,
    /// Columns a row needs: the largest split column + 1.
    width: usize,
}

impl CompleteForest {
    /// Lays out a validated model; `None` when it is deeper than
    /// [`MAX_COMPLETE_DEPTH`] or has a split that `x <= threshold` with a
    /// NaN direction does not describe (zero as missing, categories).
    pub fn new(model: &GbdtModel) -> Option<Self> {
        let depth = model.max_depth();
        if depth > MAX_COMPLETE_DEPTH {
            return None;
        }
        let split_count = (1usize << depth) - 1;
        let leaf_count = 1usize << depth;
        let mut forest = CompleteForest {
            base_score: model.base_score,
            sum_f32: model.sum == MarginSum::F32,
            depth,
            splits: Vec::with_capacity(model.trees.len() * split_count),
            leaves: Vec::with_capacity(model.trees.len() * leaf_count),
            trees: model.trees.len(),
            width: 0,
        };
        for tree in &model.trees {
            let splits_at = forest.splits.len();
            let leaves_at = forest.leaves.len();
            forest.splits.resize(
                splits_at + split_count,
                Split {
                    threshold: 0.0,
                    feature: 0,
                    nan_left: 0,
                },
            );
            forest.leaves.resize(leaves_at + leaf_count, 0.0);
            // (original node, heap index, level), depth first.
            let mut stack = vec![(0usize, 0usize, 0usize)];
            let mut steps = 0usize;
            while let Some((original, heap, level)) = stack.pop() {
                steps += 1;
                if steps > leaf_count + split_count {
                    return None; // not a tree of this depth
                }
                let node = tree.nodes.get(original)?;
                if level == depth {
                    let Node::Leaf { value, .. } = *node else {
                        return None; // deeper than max_depth said
                    };
                    *forest.leaves.get_mut(leaves_at + heap - split_count)? = value;
                    continue;
                }
                let (left, right) = match *node {
                    Node::Leaf { .. } => (original, original), // padding
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                        default_left,
                        missing,
                        ref categories,
                        ..
                    } => {
                        if missing != Missing::Nan || categories.is_some() {
                            return None;
                        }
                        forest.width = forest.width.max(feature.checked_add(1)?);
                        forest.splits[splits_at + heap] = Split {
                            threshold,
                            feature: u32::try_from(feature).ok()?,
                            nan_left: u32::from(default_left),
                        };
                        (left, right)
                    }
                };
                stack.push((right, 2 * heap + 2, level + 1));
                stack.push((left, 2 * heap + 1, level + 1));
            }
        }
        Some(forest)
    }

    /// The padded depth of every tree.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Columns a design row needs (the largest split column + 1).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Raw log-odds of one design row, as [`GbdtModel::margin`] (bit for
    /// bit), walking [`TREE_LANES`] trees at a time. `None` when the row has
    /// fewer than [`Self::width`] columns.
    pub fn margin(&self, row: &[f64]) -> Option<f64> {
        if row.len() < self.width {
            return None;
        }
        let split_count = (1usize << self.depth) - 1;
        let leaf_count = split_count + 1;
        let mut sum = self.base_score;
        let mut tree = 0;
        while tree < self.trees {
            let lanes = TREE_LANES.min(self.trees - tree);
            let mut at = [0usize; TREE_LANES];
            for _ in 0..self.depth {
                for (lane, heap) in at.iter_mut().enumerate().take(lanes) {
                    let split = &self.splits[(tree + lane) * split_count + *heap];
                    *heap = step(split, row, *heap);
                }
            }
            for (lane, heap) in at.iter().enumerate().take(lanes) {
                let leaf = self.leaves[(tree + lane) * leaf_count + *heap - split_count];
                sum = add(self.sum_f32, sum, leaf);
            }
            tree += lanes;
        }
        Some(sum)
    }

    /// Raw log-odds of `out.len()` design rows of `width` columns each,
    /// row-major in `rows`, into `out`, walking [`BLOCK_ROWS`] rows at a
    /// time; each equals [`GbdtModel::margin`] of its row bit for bit.
    /// Returns false (and leaves `out` alone) when `width` is under
    /// [`Self::width`] or `rows` is not `out.len() × width` long.
    pub fn margins(&self, rows: &[f64], width: usize, out: &mut [f64]) -> bool {
        if width < self.width || rows.len() != out.len() * width {
            return false;
        }
        for (block_rows, sums, has_nan) in blocks(rows, width, out) {
            if has_nan {
                self.block_margins::<true>(block_rows, width, sums);
            } else {
                self.block_margins::<false>(block_rows, width, sums);
            }
        }
        true
    }

    /// The margins of one block of at most [`BLOCK_ROWS`] rows; `NAN` says
    /// whether any of its values may be NaN.
    #[inline(always)]
    fn block_margins<const NAN: bool>(&self, block_rows: &[f64], width: usize, sums: &mut [f64]) {
        let split_count = (1usize << self.depth) - 1;
        let leaf_count = split_count + 1;
        sums.fill(self.base_score);
        // Each lane's row start; lanes past the block's rows read row 0 and
        // their leaves are not added.
        let starts: [usize; BLOCK_ROWS] =
            std::array::from_fn(|r| if r < sums.len() { r * width } else { 0 });
        for tree in 0..self.trees {
            let splits = &self.splits[tree * split_count..(tree + 1) * split_count];
            let leaves = &self.leaves[tree * leaf_count..(tree + 1) * leaf_count];
            let mut at = [0usize; BLOCK_ROWS];
            for _ in 0..self.depth {
                for (heap, start) in at.iter_mut().zip(starts) {
                    let split = &splits[*heap];
                    let x = block_rows[start + split.feature as usize];
                    let left = if NAN {
                        (x <= split.threshold) | ((split.nan_left != 0) & x.is_nan())
                    } else {
                        x <= split.threshold
                    };
                    *heap = 2 * *heap + 2 - usize::from(left);
                }
            }
            for (sum, heap) in sums.iter_mut().zip(at) {
                *sum = add(self.sum_f32, *sum, leaves[heap - split_count]);
            }
        }
    }
}

/// The blocks of [`BLOCK_ROWS`] rows of `rows` (`width` columns each) with
/// their slots of `out`, and whether the block holds a NaN (a block without
/// one, the usual case, needs no NaN rule).
fn blocks<'a>(
    rows: &'a [f64],
    width: usize,
    out: &'a mut [f64],
) -> impl Iterator<Item = (&'a [f64], &'a mut [f64], bool)> {
    // Driven by `out`, so that rows of no columns (trees of one leaf) still
    // get their sums; the caller checked `rows.len() == out.len() * width`.
    out.chunks_mut(BLOCK_ROWS)
        .enumerate()
        .map(move |(block, sums)| {
            let first = block * BLOCK_ROWS;
            let block_rows = &rows[first * width..(first + sums.len()) * width];
            (block_rows, sums, block_rows.iter().any(|x| x.is_nan()))
        })
}

/// `LaneNode::feature` bit that sends a NaN left.
const NAN_LEFT: u32 = 1 << 31;

/// A node of a [`LaneForest`]: a split (rows with `row[feature] <= threshold`,
/// or a NaN when the [`NAN_LEFT`] bit is set, go to `child`, the others to
/// `child + 1`), or a leaf, which holds a row in place (`child` is itself,
/// the threshold +∞ and NaN sent left).
#[derive(Debug, Clone, Copy)]
struct LaneNode {
    threshold: f64,
    feature: u32,
    child: u32,
}

/// A validated [`GbdtModel`] of any depth, each tree's nodes breadth first
/// (a split's children side by side) and every leaf holding the rows that
/// reach it: a tree is walked for exactly its depth's steps by every lane,
/// so lanes of rows (or of trees) step together as in [`CompleteForest`],
/// without padding a deep, lopsided tree (a leaf-wise grown one) to a
/// complete one.
#[derive(Debug, Clone)]
pub struct LaneForest {
    base_score: f64,
    sum_f32: bool,
    /// (root, depth) of each tree.
    trees: Vec<(u32, u32)>,
    nodes: Vec<LaneNode>,
    /// Each node's leaf value (0 for a split).
    values: Vec<f64>,
    width: usize,
}

impl LaneForest {
    /// Lays out a validated model; `None` when it has a split that
    /// `x <= threshold` with a NaN direction does not describe (zero as
    /// missing, categories) or does not fit 31-bit columns and 32-bit nodes.
    pub fn new(model: &GbdtModel) -> Option<Self> {
        let mut forest = LaneForest {
            base_score: model.base_score,
            sum_f32: model.sum == MarginSum::F32,
            trees: Vec::with_capacity(model.trees.len()),
            nodes: Vec::new(),
            values: Vec::new(),
            width: 0,
        };
        for tree in &model.trees {
            let root = forest.nodes.len();
            let mut depth = 0usize;
            // (original node, slot, level), breadth first.
            let mut queue = std::collections::VecDeque::from([(0usize, root, 0usize)]);
            forest.push_placeholders(1);
            let mut steps = 0usize;
            while let Some((original, at, level)) = queue.pop_front() {
                steps += 1;
                if steps > tree.nodes.len() {
                    return None; // not a tree
                }
                depth = depth.max(level);
                let (node, value) = match *tree.nodes.get(original)? {
                    Node::Leaf { value, .. } => (
                        LaneNode {
                            threshold: f64::INFINITY,
                            feature: NAN_LEFT,
                            child: u32::try_from(at).ok()?,
                        },
                        value,
                    ),
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                        default_left,
                        missing,
                        ref categories,
                        ..
                    } => {
                        if missing != Missing::Nan || categories.is_some() {
                            return None;
                        }
                        let column = u32::try_from(feature).ok().filter(|f| *f < NAN_LEFT)?;
                        forest.width = forest.width.max(feature + 1);
                        let child = forest.nodes.len();
                        forest.push_placeholders(2);
                        queue.push_back((left, child, level + 1));
                        queue.push_back((right, child + 1, level + 1));
                        (
                            LaneNode {
                                threshold,
                                feature: column | if default_left { NAN_LEFT } else { 0 },
                                child: u32::try_from(child).ok()?,
                            },
                            0.0,
                        )
                    }
                };
                forest.nodes[at] = node;
                forest.values[at] = value;
            }
            forest
                .trees
                .push((u32::try_from(root).ok()?, u32::try_from(depth).ok()?));
        }
        u32::try_from(forest.nodes.len()).ok()?;
        Some(forest)
    }

    fn push_placeholders(&mut self, n: usize) {
        for _ in 0..n {
            self.nodes.push(LaneNode {
                threshold: f64::INFINITY,
                feature: NAN_LEFT,
                child: 0,
            });
            self.values.push(0.0);
        }
    }

    /// Columns a design row needs (the largest split column + 1).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Raw log-odds of one design row, as [`GbdtModel::margin`] (bit for
    /// bit), walking [`TREE_LANES`] trees at a time. `None` when the row has
    /// fewer than [`Self::width`] columns.
    pub fn margin(&self, row: &[f64]) -> Option<f64> {
        if row.len() < self.width.max(1) {
            return None;
        }
        let mut sum = self.base_score;
        for group in self.trees.chunks(TREE_LANES) {
            let mut at = [0usize; TREE_LANES];
            let mut steps = 0;
            for (slot, &(root, depth)) in at.iter_mut().zip(group) {
                *slot = root as usize;
                steps = steps.max(depth);
            }
            for _ in 0..steps {
                for slot in at.iter_mut().take(group.len()) {
                    *slot = lane_step::<true>(&self.nodes[*slot], row);
                }
            }
            for slot in at.iter().take(group.len()) {
                sum = add(self.sum_f32, sum, self.values[*slot]);
            }
        }
        Some(sum)
    }

    /// As [`CompleteForest::margins`]: raw log-odds of `out.len()` design
    /// rows of `width` columns each, [`BLOCK_ROWS`] rows at a time, bit for
    /// bit [`GbdtModel::margin`]; false when `width` is under
    /// [`Self::width`] or `rows` is not `out.len() × width` long.
    pub fn margins(&self, rows: &[f64], width: usize, out: &mut [f64]) -> bool {
        if width < self.width.max(1) || rows.len() != out.len() * width {
            return false;
        }
        for (block_rows, sums, has_nan) in blocks(rows, width, out) {
            if has_nan {
                self.block_margins::<true>(block_rows, width, sums);
            } else {
                self.block_margins::<false>(block_rows, width, sums);
            }
        }
        true
    }

    #[inline(always)]
    fn block_margins<const NAN: bool>(&self, block_rows: &[f64], width: usize, sums: &mut [f64]) {
        sums.fill(self.base_score);
        for &(root, depth) in &self.trees {
            let mut at = [root as usize; BLOCK_ROWS];
            for _ in 0..depth {
                for (slot, row) in at.iter_mut().zip(block_rows.chunks_exact(width)) {
                    *slot = lane_step::<NAN>(&self.nodes[*slot], row);
                }
            }
            for (sum, slot) in sums.iter_mut().zip(at) {
                *sum = add(self.sum_f32, *sum, self.values[slot]);
            }
        }
    }
}

/// One step of a lane: the node after `node` for `row` (a leaf's is itself).
/// `NAN`: whether the row may hold a NaN (without one, a leaf's +∞
/// threshold alone keeps the row in place).
#[inline(always)]
fn lane_step<const NAN: bool>(node: &LaneNode, row: &[f64]) -> usize {
    let x = row[(node.feature & !NAN_LEFT) as usize];
    let left = if NAN {
        (x <= node.threshold) | ((node.feature & NAN_LEFT != 0) & x.is_nan())
    } else {
        x <= node.threshold
    };
    node.child as usize + 1 - usize::from(left)
}

/// `sum + leaf`, in f32 when `f32` (XGBoost's accumulation; `sum` then
/// always holds an f32 value, so the casts are exact).
#[inline(always)]
fn add(f32: bool, sum: f64, leaf: f64) -> f64 {
    if f32 {
        f64::from(sum as f32 + leaf as f32)
    } else {
        sum + leaf
    }
}

/// One level down: the heap index of the child of `heap` that `row` goes to.
#[inline(always)]
fn step(split: &Split, row: &[f64], heap: usize) -> usize {
    let x = row[split.feature as usize];
    let left = (x <= split.threshold) | ((split.nan_left != 0) & x.is_nan());
    2 * heap + 2 - usize::from(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::trees::Tree;

    fn split(feature: usize, threshold: f64, left: usize, right: usize) -> Node {
        Node::Split {
            feature,
            threshold,
            left,
            right,
            cover: 2.0,
            gain: 0.0,
            default_left: false,
            missing: Missing::Nan,
            categories: None,
        }
    }

    fn leaf(value: f64) -> Node {
        Node::Leaf { value, cover: 1.0 }
    }

    /// Trees of depth 0, 1 and 3 (one lopsided), NaN sent left by one split.
    fn model(sum: MarginSum) -> GbdtModel {
        let mut nan_left = split(1, -0.5, 1, 2);
        if let Node::Split { default_left, .. } = &mut nan_left {
            *default_left = true;
        }
        GbdtModel {
            base_score: 0.25,
            sum,
            trees: vec![
                Tree {
                    nodes: vec![leaf(0.125)],
                },
                Tree {
                    nodes: vec![nan_left, leaf(-1.0), leaf(1.0 / 3.0)],
                },
                Tree {
                    nodes: vec![
                        split(0, 1.5, 1, 2),
                        leaf(0.1),
                        split(2, 0.0, 3, 4),
                        leaf(-0.7),
                        split(0, 3.0, 5, 6),
                        leaf(0.3),
                        leaf(0.9),
                    ],
                },
            ],
        }
    }

    #[test]
    fn margins_equal_the_plain_walk_bit_for_bit() {
        for sum in [MarginSum::F64, MarginSum::F32] {
            let model = model(sum);
            let forest = CompleteForest::new(&model).expect("lays out");
            assert_eq!(forest.depth(), 3);
            let values = [f64::NAN, -1.0, -0.5, 0.0, 1.5, 2.0, 3.0, 4.0];
            let mut rows = Vec::new();
            for a in values {
                for b in values {
                    for c in values {
                        rows.extend([a, b, c]);
                    }
                }
            }
            let n = rows.len() / 3;
            let mut out = vec![0.0; n];
            assert!(forest.margins(&rows, 3, &mut out));
            for (row, got) in rows.chunks_exact(3).zip(&out) {
                let want = model.margin(row);
                assert_eq!(got.to_bits(), want.to_bits(), "{row:?}");
                let one = forest.margin(row).expect("wide enough");
                assert_eq!(one.to_bits(), want.to_bits(), "{row:?}");
            }
            let lanes = LaneForest::new(&model).expect("lays out");
            let mut by_lanes = vec![0.0; n];
            assert!(lanes.margins(&rows, 3, &mut by_lanes));
            for (row, got) in rows.chunks_exact(3).zip(&by_lanes) {
                let want = model.margin(row);
                assert_eq!(got.to_bits(), want.to_bits(), "{row:?}");
                let one = lanes.margin(row).expect("wide enough");
                assert_eq!(one.to_bits(), want.to_bits(), "{row:?}");
            }
        }
    }

    #[test]
    fn a_forest_of_single_leaves_sums_them() {
        let model = GbdtModel {
            base_score: -0.5,
            sum: MarginSum::F64,
            trees: vec![
                Tree {
                    nodes: vec![leaf(0.25)],
                },
                Tree {
                    nodes: vec![leaf(0.5)],
                },
            ],
        };
        let forest = CompleteForest::new(&model).expect("lays out");
        assert_eq!(forest.depth(), 0);
        let mut out = [0.0; 3];
        assert!(forest.margins(&[], 0, &mut out));
        assert_eq!(out, [0.25; 3]);
        assert_eq!(forest.margin(&[]), Some(0.25));
    }

    #[test]
    fn short_rows_and_mismatched_buffers_are_refused() {
        let forest = CompleteForest::new(&model(MarginSum::F64)).expect("lays out");
        assert_eq!(forest.margin(&[1.0, 2.0]), None);
        let mut out = [0.0; 2];
        assert!(!forest.margins(&[1.0, 2.0, 3.0, 4.0], 2, &mut out));
        assert!(!forest.margins(&[1.0, 2.0, 3.0], 3, &mut out));
    }

    #[test]
    fn zero_as_missing_and_categorical_splits_are_not_laid_out() {
        let mut model = model(MarginSum::F64);
        if let Node::Split { missing, .. } = &mut model.trees[1].nodes[0] {
            *missing = Missing::ZeroOrNan;
        }
        assert!(CompleteForest::new(&model).is_none());
        assert!(LaneForest::new(&model).is_none());
    }
}
