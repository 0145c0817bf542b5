//! A measured alternative to the per-leaf tables of `src/shap_tables.rs`:
//! exact path-dependent TreeSHAP in one pass over the nodes, by quadrature.
//! Kept as a probe (docs/benchmarks.md, "Explain"): exact, but slower than
//! the tables on the 300-tree benchmark model, so the server does not use it.
//!
//! For a leaf `l` with value `v` whose path has the distinct columns `U`,
//! each with zero fraction `z_j` (product of its splits' cover ratios) and
//! `o_j` (1 when the row follows all of its splits), path-dependent TreeSHAP
//! gives column `i`
//! `v · (o_i − z_i) · Σ_{S ⊆ U∖i} |S|!(n−1−|S|)!/n! · Π_S o_j · Π_{U∖S∖i} z_j`,
//! and since `|S|!(n−1−|S|)!/n! = ∫₀¹ t^|S| (1−t)^(n−1−|S|) dt` this is
//! `v · (o_i − z_i) · ∫₀¹ Π_{j ∈ U∖i} (o_j t + z_j (1−t)) dt`: a polynomial of
//! degree `n − 1`, which three-point Gauss–Legendre quadrature integrates
//! exactly for `n ≤ 6` (trees of depth ≤ 6). Evaluated at the three points,
//! the products are carried down the tree (a column met again divides its
//! earlier factor out), leaf values times products are summed up the tree,
//! and each split adds its column's share from the sums of its children,
//! less the leaves below a deeper split on the same column.
//!
//! usage: cargo run --release --example shap_quadrature_probe -- MODEL.json DESIGN.json
//! (both from `cargo run --release --example shap_reference_data -- --big DIR`;
//! `N=` rows timed per repetition, default 2000). Prints the largest
//! difference from Algorithm 2 over 200 rows and the time per row.

use std::time::Instant;

use leadscore::scoring::model::{Estimator, ModelArtifact};
use leadscore::scoring::trees::{GbdtModel, Node};

const M: usize = 3;
const NONE: u32 = u32::MAX;
const LEAF: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct QNode {
    column: u32, // LEAF for a leaf
    right: u32,  // pre-order index of the right child (left is self + 1)
    value: f64,  // threshold or leaf value
}

#[derive(Clone, Copy)]
struct QChild {
    a1: [f64; M],
    a0: [f64; M],
    c1: [f64; M],
    r: f64,
    link: u32,
}

/// A node's child data before its parent fills it in (the root keeps it).
const UNSET: QChild = QChild {
    a1: [0.0; M],
    a0: [0.0; M],
    c1: [0.0; M],
    r: 0.0,
    link: NONE,
};

struct QTree {
    nodes: Vec<QNode>,
    kids: Vec<QChild>, // indexed by pre-order node index (root's unused)
}

struct Quad {
    t: [f64; M],
    w: [f64; M],
    c0: [f64; M],
}

fn quad() -> Quad {
    let x = [-(0.6f64).sqrt(), 0.0, (0.6f64).sqrt()];
    let wx = [5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0];
    let t = x.map(|x| (1.0 + x) / 2.0);
    let w = wx.map(|w| w / 2.0);
    let mut c0 = [0.0; M];
    for k in 0..M {
        c0[k] = -w[k] / (1.0 - t[k]);
    }
    Quad { t, w, c0 }
}

fn build(model: &GbdtModel, q: &Quad) -> Vec<QTree> {
    model
        .trees
        .iter()
        .map(|tree| {
            let mut nodes = Vec::new();
            let mut kids = Vec::new();
            // (orig index, link for this node as a child, z of this node's column chain... )
            // DFS with explicit path info: for each column on the path, (child pre-order index, z).
            fn rec(
                tree: &leadscore::scoring::trees::Tree,
                at: usize,
                path: &mut Vec<(usize, u32, f64)>, // (column, child index, z_comb)
                nodes: &mut Vec<QNode>,
                kids: &mut Vec<QChild>,
                q: &Quad,
            ) -> u32 {
                let me = nodes.len() as u32;
                match tree.nodes[at] {
                    Node::Leaf { value, .. } => {
                        nodes.push(QNode {
                            column: LEAF,
                            right: 0,
                            value,
                        });
                        kids.push(UNSET);
                    }
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                        cover,
                        ..
                    } => {
                        nodes.push(QNode {
                            column: feature as u32,
                            right: 0,
                            value: threshold,
                        });
                        kids.push(UNSET);
                        for (side, child) in [left, right].into_iter().enumerate() {
                            let child_cover = match tree.nodes[child] {
                                Node::Leaf { cover, .. } | Node::Split { cover, .. } => cover,
                            };
                            let r = if cover > 0.0 {
                                child_cover / cover
                            } else {
                                0.0
                            };
                            let prev = path.iter().rposition(|p| p.0 == feature);
                            let (link, z_old) = match prev {
                                Some(i) => (path[i].1, path[i].2),
                                None => (NONE, 1.0),
                            };
                            let z_new = z_old * r;
                            let idx = nodes.len() as u32;
                            let mut k = QChild { link, ..UNSET };
                            for j in 0..M {
                                let t = q.t[j];
                                let f_old1 = z_old + (1.0 - z_old) * t;
                                let f_new1 = z_new + (1.0 - z_new) * t;
                                k.a1[j] = f_new1 / f_old1;
                                k.a0[j] = z_new * (1.0 - t) / f_old1;
                                k.c1[j] = (1.0 - z_new) * q.w[j] / f_new1;
                            }
                            k.r = if z_old > 0.0 { z_new / z_old } else { 0.0 };
                            path.push((feature, idx, z_new));
                            let got = rec(tree, child, path, nodes, kids, q);
                            debug_assert_eq!(got, idx);
                            path.pop();
                            kids[idx as usize] = k;
                            if side == 1 {
                                nodes[me as usize].right = idx;
                            }
                        }
                    }
                }
                me
            }
            rec(tree, 0, &mut Vec::new(), &mut nodes, &mut kids, q);
            QTree { nodes, kids }
        })
        .collect()
}

/// Flattened: per tree, the splits in pre-order and the per-node child data.
struct Flat {
    trees: Vec<(u32, u32, u32, u32)>, // (split start, split end, node start, node count)
    splits: Vec<FSplit>,
    kids: Vec<FKid>,
    max_nodes: usize,
}

#[derive(Clone, Copy)]
struct FSplit {
    at: u16,
    right: u16,
    column: u32,
    threshold: f64,
}

#[derive(Clone, Copy)]
struct FKid {
    sel: [[f64; M]; 3], // followed on the whole column chain / not followed here / not before
    c1: [f64; M],
    leaf: f64,
    link: u16, // the previous same-column child, or the spare slot
}

fn flatten(trees: &[QTree]) -> Flat {
    let mut f = Flat {
        trees: vec![],
        splits: vec![],
        kids: vec![],
        max_nodes: 0,
    };
    for t in trees {
        let n = t.nodes.len();
        f.max_nodes = f.max_nodes.max(n);
        let s0 = f.splits.len() as u32;
        let k0 = f.kids.len() as u32;
        for (i, node) in t.nodes.iter().enumerate() {
            let k = &t.kids[i];
            f.kids.push(FKid {
                sel: [k.a1, k.a0, [k.r; M]],
                c1: k.c1,
                leaf: if node.column == LEAF { node.value } else { 0.0 },
                link: if k.link == NONE {
                    n as u16
                } else {
                    k.link as u16
                },
            });
            if node.column != LEAF {
                f.splits.push(FSplit {
                    at: i as u16,
                    right: node.right as u16,
                    column: node.column,
                    threshold: node.value,
                });
            }
        }
        f.trees.push((s0, f.splits.len() as u32, k0, n as u32));
    }
    f
}

#[derive(Default)]
struct Scratch {
    p: Vec<[f64; M]>,
    h: Vec<[f64; M]>,
    x: Vec<[f64; M]>,
    oc: Vec<u8>,
}

fn shap(f: &Flat, q: &Quad, row: &[f64], phi: &mut [f64], s: &mut Scratch) {
    let size = f.max_nodes + 1;
    s.p.resize(size, [0.0; M]);
    s.h.resize(size, [0.0; M]);
    s.x.resize(size, [0.0; M]);
    s.oc.resize(size, 1);
    for &(s0, s1, k0, n) in &f.trees {
        let splits = &f.splits[s0 as usize..s1 as usize];
        let kids = &f.kids[k0 as usize..(k0 + n) as usize];
        let n = n as usize;
        let (p, h, x, oc) = (
            &mut s.p[..=n],
            &mut s.h[..=n],
            &mut s.x[..=n],
            &mut s.oc[..=n],
        );
        p[0] = [1.0; M];
        oc[0] = 1;
        oc[n] = 1;
        for v in x.iter_mut() {
            *v = [0.0; M];
        }
        for sp in splits {
            let i = sp.at as usize;
            let left = u8::from(
                row.get(sp.column as usize)
                    .is_some_and(|v| *v <= sp.threshold),
            );
            let pp = p[i];
            for (c, followed) in [(i + 1, left), (sp.right as usize, 1 - left)] {
                let k = &kids[c];
                let o_old = oc[k.link as usize];
                let o = o_old & followed;
                oc[c] = o;
                let a = &k.sel[2 - usize::from(o_old) - usize::from(o)];
                let mut pc = [0.0; M];
                for j in 0..M {
                    pc[j] = pp[j] * a[j];
                }
                p[c] = pc;
                h[c] = pc.map(|v| v * k.leaf);
            }
        }
        for sp in splits.iter().rev() {
            let i = sp.at as usize;
            let (l, r) = (i + 1, sp.right as usize);
            let (kl, kr) = (&kids[l], &kids[r]);
            let cl = [&kl.c1, &q.c0][usize::from(1 - oc[l])];
            let cr = [&kr.c1, &q.c0][usize::from(1 - oc[r])];
            let mut hs = [0.0; M];
            let mut acc = 0.0;
            for j in 0..M {
                hs[j] = h[l][j] + h[r][j];
                acc += (h[l][j] - x[l][j]) * cl[j] + (h[r][j] - x[r][j]) * cr[j];
            }
            phi[sp.column as usize] += acc;
            h[i] = hs;
            let xl = &mut x[kl.link as usize];
            for j in 0..M {
                xl[j] += hs[j];
            }
        }
    }
}

/// The most distinct columns on any root-to-leaf path of `tree`.
fn widest_path(
    tree: &leadscore::scoring::trees::Tree,
    at: usize,
    columns: &mut Vec<usize>,
) -> usize {
    match tree.nodes.get(at) {
        Some(&Node::Split {
            feature,
            left,
            right,
            ..
        }) => {
            let new = !columns.contains(&feature);
            if new {
                columns.push(feature);
            }
            let widest = widest_path(tree, left, columns).max(widest_path(tree, right, columns));
            if new {
                columns.pop();
            }
            widest
        }
        _ => columns.len(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let artifact = ModelArtifact::read(std::path::Path::new(&args[1])).unwrap();
    let Estimator::Gbdt(model) = &artifact.artifact().estimator else {
        panic!("gbdt")
    };
    let design: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&args[2]).unwrap()).unwrap();
    let rows: Vec<Vec<f64>> = serde_json::from_value(design["gbdt"].clone()).unwrap();
    let widest = model
        .trees
        .iter()
        .map(|t| widest_path(t, 0, &mut Vec::new()))
        .max()
        .unwrap_or(0);
    let largest = model.trees.iter().map(|t| t.nodes.len()).max().unwrap_or(0);
    assert!(
        widest <= 2 * M,
        "a path with {widest} distinct columns: {M}-point quadrature is exact up to {}",
        2 * M
    );
    assert!(
        largest < usize::from(u16::MAX),
        "a tree of {largest} nodes: indices are u16"
    );
    let q = quad();
    let trees = flatten(&build(model, &q));
    let width = rows[0].len();
    let mut s = Scratch::default();
    let mut worst = 0.0f64;
    for row in rows.iter().take(200) {
        let mut a = vec![0.0; width];
        let mut b = vec![0.0; width];
        model.tree_shap(row, &mut a);
        shap(&trees, &q, row, &mut b, &mut s);
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max((x - y).abs());
        }
    }
    println!("max |quad - algorithm 2| over 200 rows: {worst:e}");
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    for _ in 0..5 {
        let mut phi = vec![0.0; width];
        let start = Instant::now();
        for k in 0..n {
            phi.iter_mut().for_each(|p| *p = 0.0);
            shap(&trees, &q, &rows[k % rows.len()], &mut phi, &mut s);
            std::hint::black_box(&phi);
        }
        println!(
            "quad TreeSHAP: {:.1} µs per row",
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
}
