//! LightGBM's text model (`booster.save_model("model.txt")`) into our trees.
//!
//! Format facts this relies on (LightGBM 3 and 4):
//! - A header of `key=value` lines (`num_class`, `num_tree_per_iteration`,
//!   `objective`, `feature_names`, `feature_infos`), then one block per
//!   tree starting `Tree=<i>`, then `end of trees`, the parameters, and
//!   optionally `pandas_categorical:<JSON>` (the levels of the categorical
//!   columns, in code order, when trained from a pandas frame).
//! - Internal nodes are `0..num_leaves−1`; a child `c < 0` is leaf `−c−1`.
//! - `decision_type` bits: 1 categorical, 2 default-left, `(d >> 2) & 3` the
//!   missing type (0 none: NaN is taken as 0; 1 zero: 0 and NaN are missing;
//!   2 NaN). Numeric splits go left when `x <= threshold`.
//! - A categorical split's `threshold` indexes `cat_boundaries`, which
//!   delimits its words of the `cat_threshold` bitset (bit `c % 32` of word
//!   `c / 32`): codes in the set go left, all else (NaN, negative) right.
//! - `leaf_value` already includes the shrinkage (and the first tree the
//!   `boost_from_average` start), so `base_score` is 0.
//! - Covers are `internal_count` / `leaf_count`: `pred_contrib=True` weighs
//!   TreeSHAP by data counts, not hessians.

use std::collections::HashMap;

use super::{layout, ImportError, ImportedFeature, ImportedModel, RawNode};
use crate::scoring::trees::{GbdtModel, Missing};

const LIBRARY: &str = "LightGBM";

/// Parses a LightGBM text model.
///
/// # Errors
/// [`ImportError::LightgbmLine`] naming the line for a broken or truncated
/// file, [`ImportError::Unsupported`] for anything but one binary model of
/// plain trees, [`ImportError::Invalid`] when the trees break our invariants.
pub fn parse(text: &str) -> Result<ImportedModel, ImportError> {
    let lines: Vec<&str> = text.lines().collect();
    let bad = |line: usize, problem: String| ImportError::LightgbmLine { line, problem };
    if lines.first().map(|l| l.trim()) != Some("tree") {
        return Err(bad(
            1,
            "not a LightGBM text model (the first line must be `tree`)".to_string(),
        ));
    }
    // Header: up to the first `Tree=`.
    let mut at = 1;
    let mut header: HashMap<&str, (usize, &str)> = HashMap::new();
    while at < lines.len() && !lines[at].starts_with("Tree=") {
        if lines[at].trim() == "end of trees" {
            break;
        }
        if let Some((k, v)) = lines[at].split_once('=') {
            header.insert(k.trim(), (at + 1, v.trim()));
        }
        at += 1;
    }
    let unsupported = |construct: String, why: &str| ImportError::Unsupported {
        library: LIBRARY,
        construct,
        why: why.to_string(),
    };
    let (objective_line, objective) = *header.get("objective").ok_or_else(|| {
        bad(
            at.min(lines.len()),
            "the header has no objective=".to_string(),
        )
    })?;
    let mut words = objective.split_whitespace();
    if words.next() != Some("binary") {
        return Err(unsupported(
            format!("objective={objective} (line {objective_line})"),
            "only objective=binary is served; multiclass, ranking and regression are not",
        ));
    }
    for word in words {
        if let Some(s) = word.strip_prefix("sigmoid:") {
            if s.parse::<f64>().ok() != Some(1.0) {
                return Err(unsupported(
                    format!("objective={objective} (line {objective_line})"),
                    "only sigmoid:1 gives log-odds as raw scores",
                ));
            }
        }
    }
    for key in ["num_class", "num_tree_per_iteration"] {
        if let Some(&(line, v)) = header.get(key) {
            if v != "1" {
                return Err(unsupported(
                    format!("{key}={v} (line {line})"),
                    "multiclass models are not served; only one tree per iteration",
                ));
            }
        }
    }
    if let Some(&(line, v)) = header.get("linear_tree") {
        if v != "0" {
            return Err(unsupported(
                format!("linear_tree (line {line})"),
                "leaves must be constants",
            ));
        }
    }
    let (names_line, names) = *header.get("feature_names").ok_or_else(|| {
        bad(
            at.min(lines.len()),
            "the header has no feature_names=".to_string(),
        )
    })?;
    let names: Vec<String> = names.split_whitespace().map(str::to_string).collect();
    if names.is_empty() {
        return Err(bad(names_line, "feature_names is empty".to_string()));
    }
    let mut categorical = vec![false; names.len()];
    if let Some(&(line, infos)) = header.get("feature_infos") {
        let infos: Vec<&str> = infos.split_whitespace().collect();
        if infos.len() != names.len() {
            return Err(bad(
                line,
                format!(
                    "feature_infos has {} entries for {} features",
                    infos.len(),
                    names.len()
                ),
            ));
        }
        for (flag, info) in categorical.iter_mut().zip(infos) {
            // Numeric: `[min:max]`; unused: `none`; categorical: `c1:c2:…`.
            *flag = !info.starts_with('[') && info != "none";
        }
    }

    // Trees.
    let mut trees = Vec::new();
    let mut ended = false;
    while at < lines.len() {
        let line = lines[at].trim();
        if line == "end of trees" {
            ended = true;
            at += 1;
            break;
        }
        if let Some(index) = line.strip_prefix("Tree=") {
            if index.parse::<usize>().ok() != Some(trees.len()) {
                return Err(bad(
                    at + 1,
                    format!("expected Tree={}, found {line}", trees.len()),
                ));
            }
            let start = at + 1;
            let mut fields: HashMap<&str, (usize, &str)> = HashMap::new();
            at += 1;
            while at < lines.len() {
                let l = lines[at].trim();
                if l.starts_with("Tree=") || l == "end of trees" {
                    break;
                }
                if let Some((k, v)) = l.split_once('=') {
                    fields.insert(k.trim(), (at + 1, v.trim()));
                } else if !l.is_empty() {
                    return Err(bad(at + 1, format!("expected key=value, found {l:?}")));
                }
                at += 1;
            }
            let tree = parse_tree(&fields, start, names.len(), &mut categorical)?;
            trees.push(tree);
            continue;
        }
        if !line.is_empty() {
            return Err(bad(
                at + 1,
                format!("expected Tree= or end of trees, found {line:?}"),
            ));
        }
        at += 1;
    }
    if !ended {
        return Err(bad(
            lines.len(),
            format!(
                "the file ends after {} trees without `end of trees` (truncated?)",
                trees.len()
            ),
        ));
    }
    let mut levels: Vec<Option<Vec<String>>> = vec![None; names.len()];
    for (i, line) in lines.iter().enumerate().skip(at) {
        if let Some(json) = line.strip_prefix("pandas_categorical:") {
            let parsed: Option<Vec<Vec<serde_json::Value>>> = serde_json::from_str(json)
                .map_err(|e| bad(i + 1, format!("pandas_categorical is not a JSON list: {e}")))?;
            let Some(lists) = parsed else { break };
            let columns: Vec<usize> = (0..names.len()).filter(|&j| categorical[j]).collect();
            if lists.len() != columns.len() {
                return Err(bad(
                    i + 1,
                    format!(
                        "pandas_categorical has {} lists for {} categorical features",
                        lists.len(),
                        columns.len()
                    ),
                ));
            }
            for (j, list) in columns.into_iter().zip(lists) {
                levels[j] = Some(
                    list.into_iter()
                        .map(|v| match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        })
                        .collect(),
                );
            }
        }
    }
    let model = GbdtModel {
        base_score: 0.0,
        trees,
        sum: Default::default(),
    };
    model
        .validate(names.len())
        .map_err(|e| ImportError::Invalid(e.to_string()))?;
    Ok(ImportedModel {
        library: LIBRARY,
        model,
        features: names
            .into_iter()
            .zip(categorical)
            .zip(levels)
            .map(|((name, categorical), levels)| ImportedFeature {
                name,
                categorical,
                levels,
            })
            .collect(),
    })
}

/// One `Tree=` block into our tree; `start` is the block's first line.
fn parse_tree(
    fields: &HashMap<&str, (usize, &str)>,
    start: usize,
    width: usize,
    categorical: &mut [bool],
) -> Result<crate::scoring::trees::Tree, ImportError> {
    let bad = |line: usize, problem: String| ImportError::LightgbmLine { line, problem };
    let get = |key: &str| -> Result<(usize, &str), ImportError> {
        fields.get(key).copied().ok_or_else(|| {
            bad(
                start.saturating_sub(1),
                format!("the tree starting here has no {key}="),
            )
        })
    };
    fn list<T: std::str::FromStr>(
        (line, text): (usize, &str),
        key: &str,
        len: usize,
    ) -> Result<Vec<T>, ImportError> {
        let values: Vec<T> = text
            .split_whitespace()
            .map(|w| w.parse::<T>())
            .collect::<Result<_, _>>()
            .map_err(|_| ImportError::LightgbmLine {
                line,
                problem: format!("{key} holds a value that is not a number"),
            })?;
        if values.len() != len {
            return Err(ImportError::LightgbmLine {
                line,
                problem: format!("{key} has {} values, expected {len}", values.len()),
            });
        }
        Ok(values)
    }
    if let Some(&(line, v)) = fields.get("is_linear") {
        if v != "0" {
            return Err(ImportError::Unsupported {
                library: LIBRARY,
                construct: format!("linear_tree (is_linear={v}, line {line})"),
                why: "leaves must be constants".to_string(),
            });
        }
    }
    let (leaves_line, leaves) = get("num_leaves")?;
    let leaves: usize = leaves.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
        bad(
            leaves_line,
            format!("num_leaves={leaves} is not a count >= 1"),
        )
    })?;
    let leaf_value: Vec<f64> = list(get("leaf_value")?, "leaf_value", leaves)?;
    if leaves == 1 {
        let cover = match fields.get("leaf_count") {
            Some(&field) => list::<f64>(field, "leaf_count", 1)?[0],
            None => 0.0,
        };
        let raw = [RawNode::Leaf {
            value: leaf_value[0],
            cover,
        }];
        return layout(&raw, 0).map_err(|e| bad(start, e));
    }
    let splits = leaves - 1;
    let feature: Vec<usize> = list(get("split_feature")?, "split_feature", splits)?;
    let threshold: Vec<f64> = list(get("threshold")?, "threshold", splits)?;
    let decision: Vec<u8> = list(get("decision_type")?, "decision_type", splits)?;
    let left: Vec<i64> = list(get("left_child")?, "left_child", splits)?;
    let right: Vec<i64> = list(get("right_child")?, "right_child", splits)?;
    let gain: Vec<f64> = match fields.get("split_gain") {
        Some(&field) => list(field, "split_gain", splits)?,
        None => vec![0.0; splits],
    };
    let internal_count: Vec<f64> = list(get("internal_count")?, "internal_count", splits)?;
    let leaf_count: Vec<f64> = list(get("leaf_count")?, "leaf_count", leaves)?;
    let num_cat: usize = match fields.get("num_cat") {
        Some(&(line, v)) => v
            .parse()
            .map_err(|_| bad(line, format!("num_cat={v} is not a count")))?,
        None => 0,
    };
    let (boundaries, words): (Vec<usize>, Vec<u32>) = if num_cat > 0 {
        let boundaries: Vec<usize> = list(get("cat_boundaries")?, "cat_boundaries", num_cat + 1)?;
        let (line, text) = get("cat_threshold")?;
        let words: Vec<u32> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| {
                bad(
                    line,
                    "cat_threshold holds a value that is not a u32".to_string(),
                )
            })?;
        if boundaries.windows(2).any(|w| w[0] > w[1])
            || boundaries.last().copied() != Some(words.len())
            || boundaries.first().copied() != Some(0)
        {
            return Err(bad(
                line,
                "cat_boundaries do not delimit cat_threshold".to_string(),
            ));
        }
        (boundaries, words)
    } else {
        (Vec::new(), Vec::new())
    };
    let (decision_line, _) = get("decision_type")?;
    let (threshold_line, _) = get("threshold")?;
    let child = |c: i64, line: usize| -> Result<usize, ImportError> {
        let index = if c < 0 {
            usize::try_from(-(c + 1))
                .ok()
                .filter(|l| *l < leaves)
                .map(|l| splits + l)
        } else {
            usize::try_from(c).ok().filter(|s| *s < splits)
        };
        index.ok_or_else(|| bad(line, format!("child {c} is out of range")))
    };
    let mut raw = Vec::with_capacity(splits + leaves);
    for i in 0..splits {
        let d = decision[i];
        let f = feature[i];
        if f >= width {
            return Err(bad(
                get("split_feature")?.0,
                format!("split_feature {f} is out of range ({width} features)"),
            ));
        }
        let (missing, default_left, categories) = if d & 1 != 0 {
            categorical[f] = true;
            let k = threshold[i];
            let k = (k >= 0.0 && k.fract() == 0.0 && (k as usize) < num_cat)
                .then_some(k as usize)
                .ok_or_else(|| {
                    bad(
                        threshold_line,
                        format!("categorical split {i} refers to bitset {k} of {num_cat}"),
                    )
                })?;
            let set: Vec<u32> = words[boundaries[k]..boundaries[k + 1]]
                .iter()
                .enumerate()
                .flat_map(|(w, word)| {
                    (0..32u32)
                        .filter(move |b| word & (1 << b) != 0)
                        .map(move |b| (w as u32) * 32 + b)
                })
                .collect();
            // NaN goes right whatever the default-left bit says.
            (Missing::Nan, false, Some(set))
        } else {
            let default_left = d & 2 != 0;
            match (d >> 2) & 3 {
                // None: NaN is taken as 0, then compared.
                0 => (Missing::Nan, 0.0 <= threshold[i], None),
                1 => (Missing::ZeroOrNan, default_left, None),
                2 => (Missing::Nan, default_left, None),
                other => {
                    return Err(bad(
                        decision_line,
                        format!("decision_type {d} of split {i} has missing type {other}"),
                    ))
                }
            }
        };
        raw.push(RawNode::Split {
            feature: f,
            threshold: if categories.is_some() {
                0.0
            } else {
                threshold[i]
            },
            default_left,
            missing,
            categories,
            left: child(left[i], get("left_child")?.0)?,
            right: child(right[i], get("right_child")?.0)?,
            cover: internal_count[i],
            gain: gain[i].max(0.0),
        });
    }
    for (value, cover) in leaf_value.into_iter().zip(leaf_count) {
        raw.push(RawNode::Leaf { value, cover });
    }
    layout(&raw, 0).map_err(|e| bad(start, e))
}
