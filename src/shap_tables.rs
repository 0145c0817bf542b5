//! Path-dependent TreeSHAP with per-leaf tables: the same values as
//! [`GbdtModel::tree_shap`] (Lundberg et al. 2018, Algorithm 2), computed in
//! `O(leaves · depth)` per row instead of `O(leaves · depth²)`, by moving the
//! row-independent part of the work to model load.
//!
//! # Why it works
//!
//! Take one leaf with value `v` and the distinct design columns `P` tested on
//! its root-to-leaf path (`n = |P|`). For `j ∈ P`, `z_j` is the product of the
//! cover ratios `cover(child) / cover(node)` of the path's splits on `j` (the
//! share of training rows that follow the path when `j` is unknown), and
//! `o_j` is 1 when the row satisfies every split on `j` along the path, else
//! 0. Algorithm 2 adds, for each `i ∈ P`,
//!
//! ```text
//! φ_i += v · (o_i − z_i) · Σ_{S ⊆ P∖{i}} w(|S|, n) · Π_{j∈S} o_j · Π_{j∈P∖S∖{i}} z_j
//! w(k, n) = k! (n − 1 − k)! / n!
//! ```
//!
//! Because each `o_j` is 0 or 1, only subsets `S` of `H = {j : o_j = 1}`
//! survive. With `Z(H) = Π_{j ∈ P∖H} z_j` and, for `U ⊆ P`,
//! `T(U) = v · Σ_{S ⊆ U} w(|S|, n) · Π_{j ∈ U∖S} z_j`, that is
//!
//! ```text
//! i ∈ H:  φ_i += (1 − z_i) · Z(H) · T(H ∖ {i})
//! i ∉ H:  φ_i −= Z(H) · T(H)
//! ```
//!
//! `T` does not depend on the row: it is tabulated for all `2^n` subsets of
//! each leaf's columns when the model is loaded. Per row and leaf, what is
//! left is finding `H` (one comparison per split on the path) and `n + 1`
//! multiply-adds. Trees with a leaf testing more than [`MAX_PATH_COLUMNS`]
//! distinct columns, and trees past the memory budget
//! [`MAX_TABLE_ENTRIES`], keep using Algorithm 2, so the result is always
//! exact and memory stays bounded.

use crate::gbdt::{GbdtModel, Node, Tree};

/// Leaves testing more distinct columns than this are left to Algorithm 2
/// (a leaf's table has `2^n` entries).
pub const MAX_PATH_COLUMNS: usize = 10;

/// At most this many table entries (8 bytes each) per model; trees beyond it
/// are left to Algorithm 2.
pub const MAX_TABLE_ENTRIES: usize = 4 << 20;

/// One split on a leaf's path: the row follows the path at this split when
/// `(row[column] <= threshold) == left`.
#[derive(Debug, Clone, Copy)]
struct Condition {
    column: u32,
    slot: u8,
    left: bool,
    threshold: f64,
}

/// A distinct column on a leaf's path, with its zero fraction `z`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    column: u32,
    z: f64,
}

/// Where one leaf's data lives in the flat arrays.
#[derive(Debug, Clone, Copy)]
struct Leaf {
    conditions: u32,
    slots: u32,
    table: u32,
    n_conditions: u8,
    n_slots: u8,
}

/// Precomputed TreeSHAP tables for the trees of one [`GbdtModel`] that fit
/// the limits; the others are explained by Algorithm 2.
#[derive(Debug, Clone, Default)]
pub struct ShapTables {
    leaves: Vec<Leaf>,
    conditions: Vec<Condition>,
    slots: Vec<Slot>,
    table: Vec<f64>,
    /// Indices of the trees left to Algorithm 2.
    fallback: Vec<usize>,
}

impl ShapTables {
    /// Tabulates a validated model. Never fails: trees that do not fit the
    /// limits are explained by Algorithm 2 instead.
    pub fn new(model: &GbdtModel) -> Self {
        Self::with_limits(model, MAX_PATH_COLUMNS, MAX_TABLE_ENTRIES)
    }

    /// [`Self::new`] with other limits (`max_columns` at most
    /// [`MAX_PATH_COLUMNS`]), for tests.
    pub fn with_limits(model: &GbdtModel, max_columns: usize, max_entries: usize) -> Self {
        let mut tables = Self::default();
        let max_columns = max_columns.min(MAX_PATH_COLUMNS);
        for (t, tree) in model.trees.iter().enumerate() {
            let mark = (
                tables.leaves.len(),
                tables.conditions.len(),
                tables.slots.len(),
                tables.table.len(),
            );
            let fits = tables.add_tree(tree, max_columns)
                && tables.table.len() <= max_entries
                && u32::try_from(tables.table.len()).is_ok()
                && u32::try_from(tables.conditions.len()).is_ok();
            if !fits {
                tables.leaves.truncate(mark.0);
                tables.conditions.truncate(mark.1);
                tables.slots.truncate(mark.2);
                tables.table.truncate(mark.3);
                tables.fallback.push(t);
            }
        }
        tables
    }

    /// Number of trees explained by Algorithm 2 rather than by tables.
    pub fn fallback_trees(&self) -> usize {
        self.fallback.len()
    }

    /// Adds each design column's path-dependent TreeSHAP value for `row`
    /// into `phi`: exactly what [`GbdtModel::tree_shap`] adds (up to
    /// floating-point rounding), for the same validated model.
    pub fn tree_shap(&self, model: &GbdtModel, row: &[f64], phi: &mut [f64]) {
        for leaf in &self.leaves {
            let conditions = &self.conditions
                [leaf.conditions as usize..leaf.conditions as usize + leaf.n_conditions as usize];
            let slots =
                &self.slots[leaf.slots as usize..leaf.slots as usize + leaf.n_slots as usize];
            let n = slots.len();
            let mut followed: usize = (1 << n) - 1;
            for c in conditions {
                let goes_left = row
                    .get(c.column as usize)
                    .is_some_and(|x| *x <= c.threshold);
                if goes_left != c.left {
                    followed &= !(1 << c.slot);
                }
            }
            let table = &self.table[leaf.table as usize..leaf.table as usize + (1 << n)];
            let mut zero_product = 1.0;
            for (s, slot) in slots.iter().enumerate() {
                if followed & (1 << s) == 0 {
                    zero_product *= slot.z;
                }
            }
            if zero_product == 0.0 {
                continue;
            }
            let unfollowed_term = zero_product * table[followed];
            for (s, slot) in slots.iter().enumerate() {
                let bit = 1 << s;
                let add = if followed & bit != 0 {
                    (1.0 - slot.z) * zero_product * table[followed & !bit]
                } else {
                    -unfollowed_term
                };
                if let Some(p) = phi.get_mut(slot.column as usize) {
                    *p += add;
                }
            }
        }
        if !self.fallback.is_empty() {
            model.tree_shap_of(&self.fallback, row, phi);
        }
    }

    /// Tabulates one tree's leaves; false when a leaf tests too many columns.
    fn add_tree(&mut self, tree: &Tree, max_columns: usize) -> bool {
        let mut walk = Walk {
            tree,
            max_columns,
            path: Vec::new(),
            slots: Vec::new(),
        };
        walk.visit(self, 0, 0)
    }
}

/// The state of tabulating one tree: the current root-to-node path.
struct Walk<'a> {
    tree: &'a Tree,
    max_columns: usize,
    path: Vec<Condition>,
    slots: Vec<Slot>,
}

impl Walk<'_> {
    fn visit(&mut self, out: &mut ShapTables, node: usize, depth: usize) -> bool {
        let Walk {
            tree, max_columns, ..
        } = *self;
        if depth > crate::gbdt::MAX_TREE_DEPTH {
            return false;
        }
        match tree.nodes.get(node) {
            None => false,
            Some(Node::Leaf { value, .. }) => {
                if self.path.len() > u8::MAX as usize {
                    return false;
                }
                if self.slots.is_empty() {
                    return true; // a one-leaf tree moves nothing
                }
                out.add_leaf(*value, &self.path, &self.slots);
                true
            }
            Some(&Node::Split {
                feature,
                threshold,
                left,
                right,
                cover,
                ..
            }) => {
                if left <= node || right <= node {
                    return false;
                }
                let Ok(column) = u32::try_from(feature) else {
                    return false;
                };
                for (child, went_left) in [(left, true), (right, false)] {
                    let ratio = tree.nodes.get(child).map_or(0.0, |n| n.cover() / cover);
                    let existing = self.slots.iter().position(|s| s.column == column);
                    let saved = existing.map(|s| self.slots[s].z);
                    let slot = match existing {
                        Some(s) => {
                            self.slots[s].z *= ratio;
                            s
                        }
                        None => {
                            if self.slots.len() >= max_columns {
                                return false;
                            }
                            self.slots.push(Slot { column, z: ratio });
                            self.slots.len() - 1
                        }
                    };
                    self.path.push(Condition {
                        column,
                        slot: slot as u8,
                        left: went_left,
                        threshold,
                    });
                    let ok = self.visit(out, child, depth + 1);
                    self.path.pop();
                    match (existing, saved) {
                        (Some(s), Some(z)) => self.slots[s].z = z,
                        _ => {
                            self.slots.pop();
                        }
                    }
                    if !ok {
                        return false;
                    }
                }
                true
            }
        }
    }
}

impl ShapTables {
    fn add_leaf(&mut self, value: f64, path: &[Condition], slots: &[Slot]) {
        let n = slots.len();
        // w(k, n) = k! (n − 1 − k)! / n!, for k = 0..n−1.
        let weights: Vec<f64> = (0..n)
            .map(|k| {
                let mut w = 1.0 / n as f64;
                // k! (n−1−k)! / (n−1)!  =  1 / C(n−1, k)
                let mut binomial = 1.0;
                for j in 0..k {
                    binomial = binomial * (n - 1 - j) as f64 / (j + 1) as f64;
                }
                w /= binomial;
                w
            })
            .collect();
        self.leaves.push(Leaf {
            conditions: self.conditions.len() as u32,
            slots: self.slots.len() as u32,
            table: self.table.len() as u32,
            n_conditions: path.len().min(u8::MAX as usize) as u8,
            n_slots: n as u8,
        });
        self.conditions.extend_from_slice(path);
        self.slots.extend_from_slice(slots);
        // T(U) = v · Σ_{k} w(k, n) · e_{|U|−k}(z_U): e_m are the elementary
        // symmetric polynomials of the zero fractions of U's columns.
        let mut elementary = vec![0.0; n + 1];
        for subset in 0..(1usize << n) {
            elementary.iter_mut().for_each(|e| *e = 0.0);
            elementary[0] = 1.0;
            let mut size = 0;
            for (s, slot) in slots.iter().enumerate() {
                if subset & (1 << s) != 0 {
                    size += 1;
                    for m in (1..=size).rev() {
                        elementary[m] += elementary[m - 1] * slot.z;
                    }
                }
            }
            let mut total = 0.0;
            if size < n {
                for (k, w) in weights.iter().enumerate().take(size + 1) {
                    total += w * elementary[size - k];
                }
            }
            self.table.push(value * total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbdt::{fit, GbdtParams};
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    /// A model fitted on `cols` random columns (a few of them 0/1) whose
    /// label depends on an interaction, so trees reuse columns on a path.
    fn model(cols: usize, params: GbdtParams, seed: u64) -> (GbdtModel, Array2<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let rows = 600;
        let x = Array2::from_shape_fn((rows, cols), |(_, c)| {
            if c % 4 == 3 {
                f64::from(rng.gen_range(0..2u8))
            } else {
                (rng.gen::<f64>() * 20.0).floor()
            }
        });
        let y: Vec<bool> = (0..rows)
            .map(|r| {
                let z = (x[[r, 0]] - 10.0) * 0.3 + if x[[r, 1]] > 12.0 { 1.0 } else { -0.5 };
                rng.gen::<f64>() < 1.0 / (1.0 + (-z).exp())
            })
            .collect();
        let model = fit(x.view(), &y, None, &params, &mut |_| {}).expect("fit");
        (model, x)
    }

    fn assert_same(model: &GbdtModel, tables: &ShapTables, x: &Array2<f64>) {
        for row in x.rows().into_iter().take(80) {
            let row = row.to_vec();
            let mut expected = vec![0.0; row.len()];
            model.tree_shap(&row, &mut expected);
            let mut got = vec![0.0; row.len()];
            tables.tree_shap(model, &row, &mut got);
            for (c, (a, b)) in got.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() < 1e-12,
                    "column {c}: tables {a}, Algorithm 2 {b}"
                );
            }
            let total = model.expected_value() + got.iter().sum::<f64>();
            assert!((total - model.margin(&row)).abs() < 1e-9);
        }
    }

    #[test]
    fn tables_equal_algorithm_2_on_trained_models() {
        let params = GbdtParams {
            n_trees: 25,
            num_leaves: 31,
            min_data_in_leaf: 5,
            ..GbdtParams::default()
        };
        let (model, x) = model(6, params, 1);
        let tables = ShapTables::new(&model);
        assert_eq!(tables.fallback_trees(), 0);
        assert_same(&model, &tables, &x);
    }

    #[test]
    fn trees_past_the_limits_fall_back_to_algorithm_2() {
        let params = GbdtParams {
            n_trees: 8,
            num_leaves: 200,
            min_data_in_leaf: 1,
            ..GbdtParams::default()
        };
        let (model, x) = model(8, params, 2);
        let tables = ShapTables::with_limits(&model, 3, usize::MAX);
        assert!(tables.fallback_trees() > 0, "some leaf tests > 3 columns");
        assert_same(&model, &tables, &x);
        // A memory budget smaller than the first tree's table: all fall back.
        let tables = ShapTables::with_limits(&model, MAX_PATH_COLUMNS, 4);
        assert_eq!(tables.fallback_trees(), model.trees.len());
        assert_same(&model, &tables, &x);
    }
}
