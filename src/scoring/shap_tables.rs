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
//! survive. With `Z(H) = Π_{j ∈ P∖H} z_j`, `T(U) = v · Σ_{S ⊆ U} w(|S|, n) ·
//! Π_{j ∈ U∖S} z_j` for `U ⊆ P`, and `G(H) = Z(H) · T(H)`, that is
//!
//! ```text
//! i ∈ H:  φ_i += (1 − z_i) · Z(H) · T(H ∖ {i})  =  r_i · G(H ∖ {i}),   r_i = (1 − z_i) / z_i
//! i ∉ H:  φ_i −= Z(H) · T(H)                    =  G(H)
//! ```
//!
//! `G` and `r` do not depend on the row: `G` is tabulated for all `2^n`
//! subsets of each leaf's columns when the model is loaded.
//!
//! # Per row
//!
//! For each tree, one pass over its splits in pre-order evaluates every split
//! once and hands each child its parent's set `H` minus the split's column
//! when the row does not take that child (no branches on the data); then each
//! leaf adds `n` table lookups. Trees with a leaf testing more than
//! [`MAX_PATH_COLUMNS`] distinct columns, with a cover ratio too small for
//! `r` (a child that no training row reached), or past the memory budget
//! [`MAX_TABLE_ENTRIES`] keep using Algorithm 2, so the result is always exact
//! and memory stays bounded.

use crate::scoring::trees::{GbdtModel, Missing, Node, Tree};

/// Leaves testing more distinct columns than this are left to Algorithm 2
/// (a leaf's table has `2^n` entries).
pub const MAX_PATH_COLUMNS: usize = 10;

/// At most this many table entries (8 bytes each) per model; trees beyond it
/// are left to Algorithm 2.
pub const MAX_TABLE_ENTRIES: usize = 4 << 20;

/// Rows explained together by [`ShapTables::tree_shap_rows`].
pub const SHAP_ROWS: usize = 8;

/// Zero fractions below this send the tree to Algorithm 2 (`r = (1 − z) / z`
/// must stay finite and well-conditioned).
const MIN_ZERO_FRACTION: f64 = 1e-100;

/// One split of a tabulated tree, in pre-order: a row with
/// `row[column] <= threshold` (or a NaN there, when `nan_left`) takes
/// `left`; the other child loses bit `slot` of the parent's followed set.
#[derive(Debug, Clone, Copy)]
struct Split {
    node: u32,
    column: u32,
    left: u32,
    right: u32,
    slot: u8,
    nan_left: bool,
    threshold: f64,
}

/// A distinct column on a leaf's path, with `r = (1 − z) / z` of its zero
/// fraction `z`, and the range `lo < x <= hi` of its values the path takes
/// (what a reach needs; next to the ratio, so that the leaf pass has
/// already loaded it).
#[derive(Debug, Clone, Copy)]
struct Slot {
    column: u32,
    ratio: f64,
    lo: f64,
    hi: f64,
}

/// Where one leaf's data lives in the flat arrays.
#[derive(Debug, Clone, Copy)]
struct Leaf {
    node: u32,
    slots: u32,
    table: u32,
    n_slots: u8,
    /// Slots whose column's reaches are collected (see
    /// [`ShapTables::restrict_reaches`]); all by default.
    wanted: u16,
    value: f64,
}

/// Precomputed TreeSHAP tables for the trees of one [`GbdtModel`] that fit
/// the limits; the others are explained by Algorithm 2.
#[derive(Debug, Clone, Default)]
pub struct ShapTables {
    /// Where each tabulated tree's root sits among all tabulated nodes
    /// (node `k` of a tree is `root + k`).
    roots: Vec<u32>,
    /// Every tabulated split, each tree's in pre-order.
    splits: Vec<Split>,
    /// Every tabulated leaf, sorted by path width so the per-leaf work needs
    /// no data-dependent branch; `by_width[n]` is where width `n` starts.
    leaves: Vec<Leaf>,
    by_width: [u32; MAX_PATH_COLUMNS + 2],
    slots: Vec<Slot>,
    table: Vec<f64>,
    /// Nodes of all tabulated trees (the size of the per-row scratch).
    nodes: usize,
    /// One past the largest design column a tabulated split tests.
    columns: usize,
    /// Indices of the trees left to Algorithm 2.
    fallback: Vec<usize>,
}

/// The reaches of one row (see [`ShapTables::reached_leaves`]), by design
/// column; reused from row to row.
#[derive(Debug, Clone, Default)]
pub struct Reaches {
    by_column: Vec<Vec<Reach>>,
    /// The reaches in the order found, before filing them by column
    /// (appending to one list does not wait for the column).
    found: Vec<Reach>,
}

impl Reaches {
    /// The reaches of one design column (none for a column past the end).
    pub fn of(&self, column: u32) -> &[Reach] {
        self.by_column
            .get(column as usize)
            .map_or(&[][..], Vec::as_slice)
    }

    /// Empties the lists, keeping one per column `0..columns`.
    fn reset(&mut self, columns: usize) {
        self.by_column.resize_with(columns, Vec::new);
        self.by_column.iter_mut().for_each(Vec::clear);
        self.found.clear();
    }

    /// Files the reaches [`note_reaches`] found by column.
    fn file(&mut self) {
        let found = std::mem::take(&mut self.found);
        // Each list its exact size first (a fresh `Reaches` would otherwise
        // grow, and copy, every list several times per row).
        let mut counts = vec![0usize; self.by_column.len()];
        for reach in &found {
            if let Some(n) = counts.get_mut(reach.column as usize) {
                *n += 1;
            }
        }
        for (list, n) in self.by_column.iter_mut().zip(counts) {
            list.reserve(n);
        }
        for reach in &found {
            self.push(*reach);
        }
        self.found = found;
        self.found.clear();
    }

    fn push(&mut self, reach: Reach) {
        if let Some(list) = self.by_column.get_mut(reach.column as usize) {
            list.push(reach);
        }
    }
}

/// A leaf the row reaches when only `column` changes, for values in
/// `lo < x <= hi` (see [`ShapTables::reached_leaves`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reach {
    /// The design column.
    pub column: u32,
    /// Exclusive lower end of the column's values that lead to the leaf.
    pub lo: f64,
    /// Inclusive upper end.
    pub hi: f64,
    /// The leaf's value.
    pub value: f64,
    /// True for the leaf the row reaches as it is.
    pub current: bool,
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
                tables.splits.len(),
                tables.leaves.len(),
                tables.slots.len(),
                tables.table.len(),
            );
            let root = tables.nodes;
            let fits = u32::try_from(root + tree.nodes.len()).is_ok()
                && tables.add_tree(tree, root as u32, max_columns)
                && tables.table.len() <= max_entries
                && u32::try_from(tables.table.len()).is_ok()
                && u32::try_from(tables.slots.len()).is_ok();
            if fits {
                tables.roots.push(root as u32);
                tables.nodes += tree.nodes.len();
            } else {
                tables.splits.truncate(mark.0);
                tables.leaves.truncate(mark.1);
                tables.slots.truncate(mark.2);
                tables.table.truncate(mark.3);
                tables.fallback.push(t);
            }
        }
        tables.columns = tables
            .splits
            .iter()
            .map(|s| s.column as usize + 1)
            .max()
            .unwrap_or(0);
        tables.leaves.sort_by_key(|leaf| leaf.n_slots);
        tables.lay_out_in_leaf_order();
        for n in 0..tables.by_width.len() {
            let start = tables
                .leaves
                .partition_point(|leaf| usize::from(leaf.n_slots) < n);
            tables.by_width[n] = start as u32;
        }
        tables
    }

    /// Rewrites the slots and tables in the order of `leaves`, so that the
    /// per-row pass over the leaves reads them front to back (fewer cache
    /// and TLB misses than jumping between trees).
    fn lay_out_in_leaf_order(&mut self) {
        let mut table = Vec::with_capacity(self.table.len());
        let mut slots = Vec::with_capacity(self.slots.len());
        for leaf in &mut self.leaves {
            let n = usize::from(leaf.n_slots);
            let (t, at) = (leaf.table as usize, leaf.slots as usize);
            leaf.table = table.len() as u32;
            leaf.slots = slots.len() as u32;
            table.extend_from_slice(self.table.get(t..t + (1 << n)).unwrap_or(&[]));
            slots.extend_from_slice(self.slots.get(at..at + n).unwrap_or(&[]));
        }
        self.table = table;
        self.slots = slots;
    }

    /// Number of trees explained by Algorithm 2 rather than by tables.
    pub fn fallback_trees(&self) -> usize {
        self.fallback.len()
    }

    /// Adds each design column's path-dependent TreeSHAP value for `row`
    /// into `phi`: exactly what [`GbdtModel::tree_shap`] adds (up to
    /// floating-point rounding), for the same validated model.
    pub fn tree_shap(&self, model: &GbdtModel, row: &[f64], phi: &mut [f64]) {
        thread_local! {
            static FOLLOWED: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        FOLLOWED.with(|cell| match cell.try_borrow_mut() {
            Ok(mut followed) => {
                self.followed(row, &mut followed);
                self.tree_shap_followed(model, row, &followed, phi, None);
            }
            Err(_) => {
                let mut followed = Vec::new();
                self.followed(row, &mut followed);
                self.tree_shap_followed(model, row, &followed, phi, None);
            }
        });
    }

    /// The per-row pass over the splits: `followed[node]` becomes the set `H`
    /// (bit = slot) of the path to each node of the tabulated trees. Shared
    /// by [`Self::tree_shap_followed`] and [`Self::reached_leaves`].
    pub fn followed(&self, row: &[f64], followed: &mut Vec<u16>) {
        if followed.len() < self.nodes {
            followed.resize(self.nodes, 0);
        }
        self.follow(row, followed);
    }

    /// [`Self::followed`] into a slice at least `self.nodes` long.
    fn follow(&self, row: &[f64], followed: &mut [u16]) {
        // A row without NaN (the usual case) needs no NaN rule.
        if row.iter().any(|x| x.is_nan()) {
            self.follow_with::<true>(row, followed);
        } else {
            self.follow_with::<false>(row, followed);
        }
    }

    #[inline(always)]
    fn follow_with<const NAN: bool>(&self, row: &[f64], followed: &mut [u16]) {
        // Every node a root reaches is written before it is read.
        for &root in &self.roots {
            followed[root as usize] = u16::MAX;
        }
        for s in &self.splits {
            let h = followed[s.node as usize];
            let goes_left = row.get(s.column as usize).is_some_and(|x| {
                if NAN {
                    (*x <= s.threshold) | (s.nan_left & x.is_nan())
                } else {
                    *x <= s.threshold
                }
            });
            // Branch-free: the child the row does not take loses the bit.
            let bit = 1u16 << s.slot;
            let left_mask = u16::from(goes_left).wrapping_neg();
            followed[s.left as usize] = h & !(bit & !left_mask);
            followed[s.right as usize] = h & !(bit & left_mask);
        }
    }

    /// [`Self::tree_shap`] given `followed` from [`Self::followed`] for the
    /// same row; with `reaches`, also what [`Self::reached_leaves`] gives,
    /// in the same pass over the leaves.
    pub fn tree_shap_followed(
        &self,
        model: &GbdtModel,
        row: &[f64],
        followed: &[u16],
        phi: &mut [f64],
        mut reaches: Option<&mut Reaches>,
    ) {
        if let Some(out) = reaches.as_deref_mut() {
            out.reset(self.columns);
            // About as many reaches as a few per tree.
            out.found.reserve(8 * self.roots.len());
        }
        if followed.len() >= self.nodes {
            let f = followed;
            leaves_adds::<1>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<2>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<3>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<4>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<5>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<6>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<7>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<8>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<9>(self, f, phi, reaches.as_deref_mut());
            leaves_adds::<10>(self, f, phi, reaches.as_deref_mut());
            if let Some(out) = reaches {
                out.file();
            }
        }
        if !self.fallback.is_empty() {
            model.tree_shap_of(&self.fallback, row, phi);
        }
    }

    /// [`Self::tree_shap`] of `phi.len() / width` design rows of `width`
    /// columns each (row-major in `rows`), adding each row's values into its
    /// `width` slots of `phi`: bit for bit what [`Self::tree_shap`] adds per
    /// row, [`SHAP_ROWS`] rows at a time, so that a leaf's table and slots
    /// are read once for them all and the rows' sums do not wait on each
    /// other. Does nothing when the lengths do not match.
    pub fn tree_shap_rows(&self, model: &GbdtModel, rows: &[f64], width: usize, phi: &mut [f64]) {
        if width == 0 || rows.len() != phi.len() || !rows.len().is_multiple_of(width) {
            return;
        }
        let nodes = self.nodes;
        let mut followed = vec![0u16; SHAP_ROWS * nodes];
        for (block_rows, block_phi) in rows
            .chunks(SHAP_ROWS * width)
            .zip(phi.chunks_mut(SHAP_ROWS * width))
        {
            let k = block_rows.len() / width;
            for (row, f) in block_rows
                .chunks_exact(width)
                .zip(followed.chunks_exact_mut(nodes.max(1)))
            {
                self.follow(row, f);
            }
            let (f, p) = (&followed[..], &mut *block_phi);
            leaves_adds_rows::<1>(self, f, k, p, width);
            leaves_adds_rows::<2>(self, f, k, p, width);
            leaves_adds_rows::<3>(self, f, k, p, width);
            leaves_adds_rows::<4>(self, f, k, p, width);
            leaves_adds_rows::<5>(self, f, k, p, width);
            leaves_adds_rows::<6>(self, f, k, p, width);
            leaves_adds_rows::<7>(self, f, k, p, width);
            leaves_adds_rows::<8>(self, f, k, p, width);
            leaves_adds_rows::<9>(self, f, k, p, width);
            leaves_adds_rows::<10>(self, f, k, p, width);
            if !self.fallback.is_empty() {
                for (row, phi) in block_rows
                    .chunks_exact(width)
                    .zip(block_phi.chunks_exact_mut(width))
                {
                    model.tree_shap_of(&self.fallback, row, phi);
                }
            }
        }
    }

    /// Collect reaches (see [`Self::reached_leaves`]) only for the design
    /// columns where `wanted` is true (a column past its end: not wanted):
    /// the suggestion search needs them for a few actionable columns only.
    pub fn restrict_reaches(&mut self, wanted: &[bool]) {
        for leaf in &mut self.leaves {
            let at = leaf.slots as usize;
            let slots = self
                .slots
                .get(at..at + usize::from(leaf.n_slots))
                .unwrap_or(&[]);
            leaf.wanted = slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| wanted.get(slot.column as usize).copied().unwrap_or(false))
                .fold(0, |mask, (s, _)| mask | 1 << s);
        }
    }

    /// The trees left to Algorithm 2 (and to other per-tree methods).
    pub fn fallback(&self) -> &[usize] {
        &self.fallback
    }

    /// The leaves of the tabulated trees that the row reaches when at most
    /// one design column changes, given `followed` from [`Self::followed`]:
    /// for each tree, its reached leaf once per column on its path, and
    /// every leaf that only the value of a single column keeps the row from
    /// reaching. [`Reach::lo`]` < x <= `[`Reach::hi`] is the range of that
    /// column's values that lead there; for one column and one tree the
    /// ranges of its reaches partition the line. Summing, for a new value
    /// `v` of column `c`, the values of `c`'s reaches whose range holds `v`,
    /// minus those of `c`'s reaches with `current` set, gives the change of
    /// the margin.
    pub fn reached_leaves(&self, followed: &[u16], out: &mut Reaches) {
        out.reset(self.columns);
        if followed.len() < self.nodes {
            return;
        }
        for leaf in &self.leaves {
            let full = (1usize << leaf.n_slots) - 1;
            let missing = !usize::from(followed[leaf.node as usize]) & full;
            let at = leaf.slots as usize;
            let slots = self.slots.get(at..at + usize::from(leaf.n_slots));
            note_reaches(leaf, slots.unwrap_or(&[]), missing, out);
        }
        out.file();
    }

    /// Tabulates one tree; false when it does not fit the limits.
    fn add_tree(&mut self, tree: &Tree, root: u32, max_columns: usize) -> bool {
        let mut walk = Walk {
            tree,
            root,
            max_columns,
            slots: Vec::new(),
        };
        walk.visit(self, 0, 0)
    }
}

impl ShapTables {
    /// A leaf of path width `N`: its table (`2^N` values) and its slots.
    #[inline(always)]
    fn leaf_data<const N: usize>(&self, leaf: &Leaf) -> Option<(&[f64], &[Slot])> {
        let table = self
            .table
            .get(leaf.table as usize..leaf.table as usize + (1 << N))?;
        let slots = self
            .slots
            .get(leaf.slots as usize..leaf.slots as usize + N)?;
        Some((table, slots))
    }
}

/// The additions of leaves of path width `N` (all of `leaves`): for the
/// followed set `H` of each, `r_i · G(H ∖ {i})` to followed columns and
/// `−G(H)` to the others. `N` is a constant so the loop unrolls, and the
/// choice is a load, not a branch. With `reaches`, also collects what
/// [`ShapTables::reached_leaves`] does, in the same pass.
fn leaves_adds<const N: usize>(
    tables: &ShapTables,
    followed: &[u16],
    phi: &mut [f64],
    mut reaches: Option<&mut Reaches>,
) {
    let first = tables.by_width[N] as usize;
    let leaves = &tables.leaves[first..tables.by_width[N + 1] as usize];
    for leaf in leaves {
        let h = usize::from(followed[leaf.node as usize]) & ((1 << N) - 1);
        let Some((table, slots)) = tables.leaf_data::<N>(leaf) else {
            continue;
        };
        let unfollowed = -table[h];
        for (s, slot) in slots.iter().enumerate() {
            let bit = 1 << s;
            let choice = [unfollowed, slot.ratio * table[h & !bit]];
            if let Some(p) = phi.get_mut(slot.column as usize) {
                *p += choice[(h >> s) & 1];
            }
        }
        if let Some(out) = reaches.as_deref_mut() {
            note_reaches(leaf, slots, !h & ((1 << N) - 1), out);
        }
    }
}

/// [`leaves_adds`] for the `k` rows of a block: row `r`'s followed sets at
/// `followed[r · nodes..]` and its values at `phi[r · width..]`; each row's
/// additions come in the same order as [`leaves_adds`] makes them.
fn leaves_adds_rows<const N: usize>(
    tables: &ShapTables,
    followed: &[u16],
    k: usize,
    phi: &mut [f64],
    width: usize,
) {
    let first = tables.by_width[N] as usize;
    let leaves = &tables.leaves[first..tables.by_width[N + 1] as usize];
    let nodes = tables.nodes;
    for leaf in leaves {
        let Some((table, slots)) = tables.leaf_data::<N>(leaf) else {
            continue;
        };
        for r in 0..k.min(SHAP_ROWS) {
            let h = usize::from(followed[r * nodes + leaf.node as usize]) & ((1 << N) - 1);
            let unfollowed = -table[h];
            for (s, slot) in slots.iter().enumerate() {
                let bit = 1 << s;
                let choice = [unfollowed, slot.ratio * table[h & !bit]];
                if let Some(p) = phi.get_mut(r * width + slot.column as usize) {
                    *p += choice[(h >> s) & 1];
                }
            }
        }
    }
}

/// The reaches of a leaf (with its `slots`) whose path the row misses on
/// the slots in `missing`, when that is at most one: the reached leaf counts
/// for every wanted column on its path, a leaf missed on one slot for that
/// slot's column only (when wanted).
fn note_reaches(leaf: &Leaf, slots: &[Slot], missing: usize, out: &mut Reaches) {
    // At most one bit set, written so that it does not become a population
    // count (a long instruction sequence on baseline x86-64).
    let m = missing as u32;
    if m >> (m.trailing_zeros() & 31) > 1 {
        return;
    }
    let wanted = leaf.wanted & ((1u16 << leaf.n_slots) - 1);
    let mut todo = if missing == 0 {
        wanted
    } else {
        missing as u16 & wanted
    };
    while todo != 0 {
        let s = todo.trailing_zeros() as usize;
        todo &= todo - 1;
        if let Some(slot) = slots.get(s) {
            out.found.push(Reach {
                column: slot.column,
                lo: slot.lo,
                hi: slot.hi,
                value: leaf.value,
                current: missing == 0,
            });
        }
    }
}

/// A distinct column on the current path with its zero fraction so far.
#[derive(Debug, Clone, Copy)]
struct PathColumn {
    column: u32,
    z: f64,
    /// The path's splits on `column` hold exactly for `lo < x <= hi`.
    lo: f64,
    hi: f64,
}

/// The state of tabulating one tree: the distinct columns of the current
/// root-to-node path, in order of first use (their index is the slot).
struct Walk<'a> {
    tree: &'a Tree,
    /// Where node 0 of `tree` sits among all tabulated nodes.
    root: u32,
    max_columns: usize,
    slots: Vec<PathColumn>,
}

impl Walk<'_> {
    fn visit(&mut self, out: &mut ShapTables, node: usize, depth: usize) -> bool {
        let Walk {
            tree,
            root,
            max_columns,
            ..
        } = *self;
        if depth > crate::scoring::trees::MAX_TREE_DEPTH {
            return false;
        }
        match tree.nodes.get(node) {
            None => false,
            Some(Node::Leaf { value, .. }) => {
                if self.slots.is_empty() {
                    return true; // a one-leaf tree moves nothing
                }
                out.add_leaf(root + node as u32, *value, &self.slots)
            }
            Some(
                split @ &Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    cover,
                    ..
                },
            ) => {
                // The tables test `x <= threshold`, NaN going the
                // split's default way (LightGBM's and XGBoost's NaN rule);
                // trees with zero-as-missing or categorical splits keep
                // Algorithm 2.
                let nan_left = match split {
                    Node::Split {
                        default_left,
                        missing: Missing::Nan,
                        categories: None,
                        ..
                    } => *default_left,
                    _ => return false,
                };
                if left <= node || right <= node || right >= tree.nodes.len() {
                    return false;
                }
                let Ok(column) = u32::try_from(feature) else {
                    return false;
                };
                let existing = self.slots.iter().position(|s| s.column == column);
                let slot = match existing {
                    Some(s) => s,
                    None if self.slots.len() >= max_columns => return false,
                    None => self.slots.len(),
                };
                out.splits.push(Split {
                    node: root + node as u32,
                    column,
                    left: root + left as u32,
                    right: root + right as u32,
                    slot: slot as u8,
                    nan_left,
                    threshold,
                });
                let saved = existing.map(|s| self.slots[s]);
                for (child, went_left) in [(left, true), (right, false)] {
                    let ratio = tree.nodes.get(child).map_or(0.0, |n| n.cover() / cover);
                    let (lo, hi) = if went_left {
                        (f64::NEG_INFINITY, threshold)
                    } else {
                        (threshold, f64::INFINITY)
                    };
                    match existing {
                        Some(s) => {
                            let slot = &mut self.slots[s];
                            slot.z *= ratio;
                            slot.lo = slot.lo.max(lo);
                            slot.hi = slot.hi.min(hi);
                        }
                        None => self.slots.push(PathColumn {
                            column,
                            z: ratio,
                            lo,
                            hi,
                        }),
                    }
                    let ok = self.visit(out, child, depth + 1);
                    match (existing, saved) {
                        (Some(s), Some(column)) => self.slots[s] = column,
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
    /// Tabulates one leaf; false when a zero fraction is too small for `r`.
    fn add_leaf(&mut self, node: u32, value: f64, path: &[PathColumn]) -> bool {
        let n = path.len();
        let mut slots = Vec::with_capacity(n);
        for p in path {
            let ratio = (1.0 - p.z) / p.z;
            if p.z.is_nan() || p.z < MIN_ZERO_FRACTION || !ratio.is_finite() {
                return false;
            }
            slots.push(Slot {
                column: p.column,
                ratio,
                lo: p.lo,
                hi: p.hi,
            });
        }
        // w(k, n) = k! (n − 1 − k)! / n! = 1 / (n · C(n − 1, k)), k = 0..n−1.
        let weights: Vec<f64> = (0..n)
            .map(|k| {
                let mut binomial = 1.0;
                for j in 0..k {
                    binomial = binomial * (n - 1 - j) as f64 / (j + 1) as f64;
                }
                1.0 / n as f64 / binomial
            })
            .collect();
        self.leaves.push(Leaf {
            node,
            slots: self.slots.len() as u32,
            table: self.table.len() as u32,
            n_slots: n as u8,
            wanted: u16::MAX,
            value,
        });
        self.slots.extend_from_slice(&slots);
        // G(H) = Z(H) · T(H), T(H) = v · Σ_k w(k, n) · e_{|H|−k}(z_H): e_m
        // are the elementary symmetric polynomials of the zero fractions of
        // H's columns. G(P) is never read (no column is outside P).
        let mut elementary = vec![0.0; n + 1];
        for subset in 0..(1usize << n) {
            elementary.iter_mut().for_each(|e| *e = 0.0);
            elementary[0] = 1.0;
            let mut size = 0;
            let mut zero_product = 1.0;
            for (s, p) in path.iter().enumerate() {
                if subset & (1 << s) != 0 {
                    size += 1;
                    for m in (1..=size).rev() {
                        elementary[m] += elementary[m - 1] * p.z;
                    }
                } else {
                    zero_product *= p.z;
                }
            }
            let mut total = 0.0;
            if size < n {
                for (k, w) in weights.iter().enumerate().take(size + 1) {
                    total += w * elementary[size - k];
                }
            }
            self.table.push(value * zero_product * total);
        }
        true
    }
}

// These tests grow real models, so they need the trainer.
#[cfg(all(test, feature = "train"))]
mod tests {
    use super::*;
    use crate::train::grow::{fit, GbdtParams};
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
                rng.gen::<f64>() < crate::scoring::math::sigmoid(z)
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
        // Several rows at a time (a last block shorter than SHAP_ROWS):
        // bit for bit the per-row values.
        let width = x.ncols();
        let n = 83.min(x.nrows());
        let rows: Vec<f64> = x.rows().into_iter().take(n).flatten().copied().collect();
        let mut batched = vec![0.0; rows.len()];
        tables.tree_shap_rows(model, &rows, width, &mut batched);
        for (r, (row, got)) in rows
            .chunks_exact(width)
            .zip(batched.chunks_exact(width))
            .enumerate()
        {
            let mut one = vec![0.0; width];
            tables.tree_shap(model, row, &mut one);
            assert!(
                one.iter().zip(got).all(|(a, b)| a.to_bits() == b.to_bits()),
                "row {r}: {one:?} vs {got:?}"
            );
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
    fn splits_sending_nan_left_are_tabulated() {
        // LightGBM's and XGBoost's rule: a NaN goes the split's default way.
        let params = GbdtParams {
            n_trees: 20,
            num_leaves: 15,
            min_data_in_leaf: 5,
            ..GbdtParams::default()
        };
        let (mut model, mut x) = model(6, params, 3);
        for tree in &mut model.trees {
            for (i, node) in tree.nodes.iter_mut().enumerate() {
                if let Node::Split { default_left, .. } = node {
                    *default_left = i % 2 == 0;
                }
            }
        }
        for (r, mut row) in x.rows_mut().into_iter().enumerate() {
            row[r % 6] = f64::NAN;
        }
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
