//! Importing binary-classification tree models trained elsewhere: LightGBM's
//! text format ([`lightgbm`]) and XGBoost's JSON ([`xgboost`]) into our tree
//! format, and from there into a standard `model.json` ([`run`], the
//! `leadscore-train import` subcommand).
//!
//! The parsers produce an [`ImportedModel`]: the trees on the model's own
//! feature indices (one design column per feature) with the library's exact
//! split rules (missing-value direction, zero-as-missing, categorical sets),
//! covers as the library's TreeSHAP uses them, and the feature names and
//! category levels the file carries. The artifact's features are
//! `passthrough` (numbers as given, NaN when missing) and `codes` (the
//! level's integer code) encodings, so the server hands the trees the same
//! raw values the library saw.
//!
//! Anything that is not one binary model of plain trees is refused, naming
//! the construct; broken files are refused naming the line or the field.

pub mod artifact;
pub mod lightgbm;
pub mod xgboost;

pub use artifact::{build, run, ImportArgs, ImportSettings, ImportSummary};

use crate::scoring::trees::{GbdtModel, Missing, Node, Tree};

/// Why a model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A LightGBM text model that does not parse.
    #[error("LightGBM model, line {line}: {problem}")]
    LightgbmLine {
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong there.
        problem: String,
    },
    /// An XGBoost JSON model that does not parse.
    #[error("XGBoost model, field {field}: {problem}")]
    XgboostField {
        /// JSON path of the field, e.g. `learner.gradient_booster.model.trees[3].left_children`.
        field: String,
        /// What is wrong there.
        problem: String,
    },
    /// A well-formed model this importer does not serve.
    #[error("{library} model uses {construct}, which cannot be imported: {why}")]
    Unsupported {
        /// "LightGBM" or "XGBoost".
        library: &'static str,
        /// The construct, as the file names it (e.g. `objective=multiclass`).
        construct: String,
        /// What is supported instead.
        why: String,
    },
    /// The parsed trees are not a valid model of ours.
    #[error("imported trees are invalid: {0}")]
    Invalid(String),
    /// The schema file or the sample data.
    #[error("{what}: {problem}")]
    Input {
        /// Which input (the file).
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// One feature of an imported model, in the model's feature order.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedFeature {
    /// The name the model file gives (or `f{index}` when it gives none).
    pub name: String,
    /// Whether some split treats it as categorical (or the file says so).
    pub categorical: bool,
    /// Category levels in code order, when the file carries them (LightGBM's
    /// `pandas_categorical`, XGBoost's `cats`).
    pub levels: Option<Vec<String>>,
}

/// A parsed model: our trees on the model's feature indices.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedModel {
    /// "LightGBM" or "XGBoost".
    pub library: &'static str,
    /// The trees; `base_score` is on the log-odds scale.
    pub model: GbdtModel,
    /// The model's features; tree feature `j` is `features[j]`.
    pub features: Vec<ImportedFeature>,
}

/// A child of a node in a parser's own indexing, before layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawNode {
    /// An internal node with children in the parser's indexing.
    Split {
        feature: usize,
        threshold: f64,
        default_left: bool,
        missing: Missing,
        categories: Option<Vec<u32>>,
        left: usize,
        right: usize,
        cover: f64,
        gain: f64,
    },
    /// A leaf.
    Leaf { value: f64, cover: f64 },
}

/// Lays out a parser's nodes in pre-order from `root`, so that children
/// follow their parent as our format requires. `Err` names the first node
/// that is out of range or reached twice (a cycle or a shared child).
pub(crate) fn layout(raw: &[RawNode], root: usize) -> Result<Tree, String> {
    let mut nodes: Vec<Node> = Vec::with_capacity(raw.len());
    let mut seen = vec![false; raw.len()];
    // (raw index, slot of the parent's child field to patch)
    let mut stack = vec![(root, None::<(usize, bool)>)];
    while let Some((at, parent)) = stack.pop() {
        let node = raw
            .get(at)
            .ok_or_else(|| format!("node {at} is out of range ({} nodes)", raw.len()))?;
        if std::mem::replace(&mut seen[at], true) {
            return Err(format!("node {at} is reached twice"));
        }
        let here = nodes.len();
        if let Some((p, is_left)) = parent {
            if let Some(Node::Split { left, right, .. }) = nodes.get_mut(p) {
                *(if is_left { left } else { right }) = here;
            }
        }
        nodes.push(match node {
            RawNode::Leaf { value, cover } => Node::Leaf {
                value: *value,
                cover: *cover,
            },
            RawNode::Split {
                feature,
                threshold,
                default_left,
                missing,
                categories,
                left,
                right,
                cover,
                gain,
            } => {
                // Right pushed first so the left subtree is laid out first.
                stack.push((*right, Some((here, false))));
                stack.push((*left, Some((here, true))));
                Node::Split {
                    feature: *feature,
                    threshold: *threshold,
                    left: 0,
                    right: 0,
                    cover: *cover,
                    gain: *gain,
                    default_left: *default_left,
                    missing: *missing,
                    categories: categories.clone(),
                }
            }
        });
    }
    Ok(Tree { nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_puts_children_after_parents_and_refuses_cycles() {
        // Arrange: root 2 with children 0 (leaf) and 1 (leaf).
        let raw = vec![
            RawNode::Leaf {
                value: 1.0,
                cover: 1.0,
            },
            RawNode::Leaf {
                value: 2.0,
                cover: 3.0,
            },
            RawNode::Split {
                feature: 0,
                threshold: 0.5,
                default_left: true,
                missing: Missing::Nan,
                categories: None,
                left: 0,
                right: 1,
                cover: 4.0,
                gain: 0.0,
            },
        ];
        // Act
        let tree = layout(&raw, 2).expect("lays out");
        // Assert
        let model = GbdtModel {
            base_score: 0.0,
            trees: vec![tree],
            sum: Default::default(),
        };
        model.validate(1).expect("valid");
        assert_eq!(model.margin(&[0.0]), 1.0);
        assert_eq!(model.margin(&[1.0]), 2.0);
        assert_eq!(model.margin(&[f64::NAN]), 1.0);
        let mut cyclic = raw.clone();
        if let RawNode::Split { right, .. } = &mut cyclic[2] {
            *right = 2;
        }
        assert!(layout(&cyclic, 2).unwrap_err().contains("twice"));
    }
}

#[cfg(test)]
mod rule_tests {
    use crate::scoring::trees::{goes_left, GbdtModel, Missing, Node, Tree};

    fn split(
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
        cover: f64,
        rule: (bool, Missing, Option<Vec<u32>>),
    ) -> Node {
        Node::Split {
            feature,
            threshold,
            left,
            right,
            cover,
            gain: 0.0,
            default_left: rule.0,
            missing: rule.1,
            categories: rule.2,
        }
    }

    #[test]
    fn the_split_rule_follows_missing_types_and_category_sets() {
        assert!(goes_left(Some(f64::NAN), 1.0, true, Missing::Nan, None));
        assert!(!goes_left(Some(f64::NAN), 1.0, false, Missing::Nan, None));
        assert!(!goes_left(Some(0.0), 1.0, false, Missing::ZeroOrNan, None));
        assert!(goes_left(Some(0.0), 1.0, false, Missing::Nan, None));
        let set: &[u32] = &[0, 2];
        assert!(goes_left(Some(2.0), 0.0, false, Missing::Nan, Some(set)));
        assert!(!goes_left(Some(1.0), 0.0, false, Missing::Nan, Some(set)));
        assert!(!goes_left(Some(-3.0), 0.0, false, Missing::Nan, Some(set)));
        assert!(!goes_left(None, 0.0, true, Missing::Nan, Some(set)));
    }

    #[test]
    fn tree_shap_adds_up_with_missing_and_categorical_splits() {
        // Arrange: a categorical root on column 1, zero-as-missing below.
        let nodes = vec![
            split(1, 0.0, 1, 4, 10.0, (true, Missing::Nan, Some(vec![1, 3]))),
            split(0, 0.5, 2, 3, 6.0, (false, Missing::ZeroOrNan, None)),
            Node::Leaf {
                value: 0.3,
                cover: 2.0,
            },
            Node::Leaf {
                value: -0.2,
                cover: 4.0,
            },
            split(0, 2.0, 5, 6, 4.0, (true, Missing::Nan, None)),
            Node::Leaf {
                value: 0.1,
                cover: 1.0,
            },
            Node::Leaf {
                value: -0.4,
                cover: 3.0,
            },
        ];
        let model = GbdtModel {
            base_score: -0.1,
            trees: vec![Tree { nodes }],
            sum: Default::default(),
        };
        model.validate(2).expect("valid");
        for row in [
            [0.0, 1.0],
            [f64::NAN, 3.0],
            [0.3, f64::NAN],
            [f64::NAN, f64::NAN],
            [5.0, 2.0],
        ] {
            // Act
            let mut phi = [0.0; 2];
            model.tree_shap(&row, &mut phi);
            // Assert
            let sum = model.expected_value() + phi[0] + phi[1];
            assert!((sum - model.margin(&row)).abs() < 1e-12, "{row:?}");
        }
        assert!(crate::scoring::trees::FlatForest::new(&model).is_none());
    }
}
