//! XGBoost's JSON model (`booster.save_model("model.json")`) into our trees.
//!
//! Format facts this relies on (XGBoost 1.6 to 3.x):
//! - `learner.objective.name` (`binary:logistic`, `binary:logitraw` served),
//!   `learner.learner_model_param` (`base_score` as a string, `"0.43"` or
//!   `"[4.3E-1]"`; for `binary:logistic` a probability, so the starting
//!   margin is its log-odds; `num_class`, `num_target`), `feature_names`,
//!   `feature_types` (`"c"` categorical).
//! - `learner.gradient_booster` (`name` `gbtree`), `.model.trees[i]` with
//!   per-node arrays `left_children` (−1 for a leaf), `right_children`,
//!   `split_indices`, `split_conditions` (the threshold, or a leaf's value,
//!   learning rate applied), `default_left`, `sum_hessian` (the covers
//!   `pred_contribs` weighs by), `loss_changes`, `split_type` (1:
//!   categorical) and `categories_nodes` / `categories_segments` /
//!   `categories_sizes` / `categories` (the codes of a categorical split,
//!   which go **right**), and `.model.cats.enc` (XGBoost 3: each feature's
//!   category names in code order, UTF-8 bytes delimited by `offsets`).
//! - XGBoost compares `f32(x) < threshold` (f32). Ours is `x <= t` on the
//!   f64 value; [`f64_threshold`] gives the one f64 `t` with the same
//!   partition of every f64 `x`, and categorical splits swap children so
//!   that the listed codes go left as ours do.

use serde_json::Value;

use super::{layout, ImportError, ImportedFeature, ImportedModel, RawNode};
use crate::scoring::trees::{GbdtModel, MarginSum, Missing};

const LIBRARY: &str = "XGBoost";

/// Parses an XGBoost JSON model.
///
/// # Errors
/// [`ImportError::XgboostField`] naming the field for broken or truncated
/// files, [`ImportError::Unsupported`] for anything but one binary model of
/// plain trees, [`ImportError::Invalid`] when the trees break our invariants.
pub fn parse(text: &str) -> Result<ImportedModel, ImportError> {
    let root: Value = serde_json::from_str(text).map_err(|e| ImportError::XgboostField {
        field: format!("(document, line {} column {})", e.line(), e.column()),
        problem: format!("not valid JSON: {e}"),
    })?;
    let learner = field(&root, "learner", "learner")?;
    let unsupported = |construct: String, why: &str| ImportError::Unsupported {
        library: LIBRARY,
        construct,
        why: why.to_string(),
    };
    let objective = str_field(
        field(learner, "objective", "learner.objective")?,
        "name",
        "learner.objective.name",
    )?;
    let probability_base = match objective {
        "binary:logistic" => true,
        "binary:logitraw" => false,
        other => {
            return Err(unsupported(
                format!("objective {other}"),
                "only binary:logistic and binary:logitraw are served; multiclass, ranking and regression are not",
            ))
        }
    };
    let params = field(
        learner,
        "learner_model_param",
        "learner.learner_model_param",
    )?;
    for (key, ok) in [("num_class", ["0", "1"]), ("num_target", ["1", "1"])] {
        if let Some(v) = params.get(key) {
            let v = v.as_str().unwrap_or_default();
            if !ok.contains(&v) {
                return Err(unsupported(
                    format!("learner_model_param.{key} = {v}"),
                    "multiclass and multi-target models are not served",
                ));
            }
        }
    }
    let base_field = "learner.learner_model_param.base_score";
    let base_text = str_field(params, "base_score", base_field)?;
    let base: f32 = base_text
        .trim_matches(|c| c == '[' || c == ']')
        .trim()
        .parse()
        .map_err(|_| ImportError::XgboostField {
            field: base_field.to_string(),
            problem: format!("{base_text:?} is not one number"),
        })?;
    let base_score = if probability_base {
        if !(base > 0.0 && base < 1.0) {
            return Err(ImportError::XgboostField {
                field: base_field.to_string(),
                problem: format!("{base} is not a probability in (0, 1)"),
            });
        }
        // XGBoost's ProbToMargin, in f32 as XGBoost computes it.
        f64::from(-(1.0f32 / base - 1.0f32).ln())
    } else {
        f64::from(base)
    };
    let booster = field(learner, "gradient_booster", "learner.gradient_booster")?;
    let booster_name = str_field(booster, "name", "learner.gradient_booster.name")?;
    if booster_name != "gbtree" {
        return Err(unsupported(
            format!("gradient_booster {booster_name}"),
            "only gbtree boosters are served (not gblinear or dart)",
        ));
    }
    let model = field(booster, "model", "learner.gradient_booster.model")?;
    let trees_json = array(model, "trees", "learner.gradient_booster.model.trees")?;
    if let Some(info) = model.get("tree_info").and_then(Value::as_array) {
        if info.iter().any(|g| g.as_i64() != Some(0)) {
            return Err(unsupported(
                "tree_info with groups other than 0".to_string(),
                "multiclass models are not served",
            ));
        }
    }
    let names: Vec<String> = learner
        .get("feature_names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let types: Vec<String> = learner
        .get("feature_types")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let width = match params.get("num_feature").and_then(Value::as_str) {
        Some(n) => n.parse::<usize>().map_err(|_| ImportError::XgboostField {
            field: "learner.learner_model_param.num_feature".to_string(),
            problem: format!("{n:?} is not a count"),
        })?,
        None => names.len(),
    };
    if !names.is_empty() && names.len() != width {
        return Err(ImportError::XgboostField {
            field: "learner.feature_names".to_string(),
            problem: format!("{} names for {width} features", names.len()),
        });
    }
    let mut categorical: Vec<bool> = (0..width)
        .map(|j| types.get(j).is_some_and(|t| t == "c"))
        .collect();
    let mut trees = Vec::with_capacity(trees_json.len());
    for (t, tree) in trees_json.iter().enumerate() {
        trees.push(parse_tree(tree, t, width, &mut categorical)?);
    }
    let levels = model
        .get("cats")
        .map(|cats| category_names(cats, width))
        .transpose()?
        .unwrap_or_else(|| vec![None; width]);
    let model = GbdtModel {
        base_score,
        trees,
        sum: MarginSum::F32,
    };
    model
        .validate(width)
        .map_err(|e| ImportError::Invalid(e.to_string()))?;
    Ok(ImportedModel {
        library: LIBRARY,
        model,
        features: (0..width)
            .map(|j| ImportedFeature {
                name: names.get(j).cloned().unwrap_or_else(|| format!("f{j}")),
                categorical: categorical[j],
                levels: levels.get(j).cloned().flatten(),
            })
            .collect(),
    })
}

/// The one f64 threshold `t` with `x <= t` exactly when XGBoost's
/// `(x as f32) < threshold` (round to nearest, ties to even), for every
/// non-NaN f64 `x`: the midpoint between `threshold` and the f32 below it,
/// or the f64 just under that midpoint when a tie rounds up to `threshold`.
pub fn f64_threshold(threshold: f32) -> f64 {
    let below = f32_below(threshold);
    let mid = (f64::from(below) + f64::from(threshold)) / 2.0;
    if !mid.is_finite() {
        return f64::from(threshold);
    }
    if below.to_bits() & 1 == 0 {
        mid // a tie rounds to `below` (even): left
    } else {
        f64_below(mid)
    }
}

fn f32_below(x: f32) -> f32 {
    if x == 0.0 {
        -f32::from_bits(1)
    } else if x > 0.0 {
        f32::from_bits(x.to_bits() - 1)
    } else {
        f32::from_bits(x.to_bits() + 1)
    }
}

fn f64_below(x: f64) -> f64 {
    if x == 0.0 {
        -f64::from_bits(1)
    } else if x > 0.0 {
        f64::from_bits(x.to_bits() - 1)
    } else {
        f64::from_bits(x.to_bits() + 1)
    }
}

fn field<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a Value, ImportError> {
    v.get(key).ok_or_else(|| ImportError::XgboostField {
        field: path.to_string(),
        problem: "missing".to_string(),
    })
}

fn str_field<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, ImportError> {
    field(v, key, path)?
        .as_str()
        .ok_or_else(|| ImportError::XgboostField {
            field: path.to_string(),
            problem: "is not a string".to_string(),
        })
}

fn array<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a Vec<Value>, ImportError> {
    field(v, key, path)?
        .as_array()
        .ok_or_else(|| ImportError::XgboostField {
            field: path.to_string(),
            problem: "is not an array".to_string(),
        })
}

/// A numeric array field of `len` entries (`None` for any length).
fn numbers(v: &Value, key: &str, path: &str, len: Option<usize>) -> Result<Vec<f64>, ImportError> {
    let path = format!("{path}.{key}");
    let values = array(v, key, &path)?;
    if let Some(len) = len {
        if values.len() != len {
            return Err(ImportError::XgboostField {
                field: path,
                problem: format!("has {} entries, expected {len}", values.len()),
            });
        }
    }
    values
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_f64().ok_or_else(|| ImportError::XgboostField {
                field: format!("{path}[{i}]"),
                problem: format!("{x} is not a number"),
            })
        })
        .collect()
}

fn index(x: f64, path: &str, i: usize, bound: usize) -> Result<usize, ImportError> {
    if x >= 0.0 && x.fract() == 0.0 && x < bound as f64 {
        Ok(x as usize)
    } else {
        Err(ImportError::XgboostField {
            field: format!("{path}[{i}]"),
            problem: format!("{x} is not an index below {bound}"),
        })
    }
}

fn parse_tree(
    tree: &Value,
    t: usize,
    width: usize,
    categorical: &mut [bool],
) -> Result<crate::scoring::trees::Tree, ImportError> {
    let path = format!("learner.gradient_booster.model.trees[{t}]");
    let left = numbers(tree, "left_children", &path, None)?;
    let n = left.len();
    if n == 0 {
        return Err(ImportError::XgboostField {
            field: format!("{path}.left_children"),
            problem: "is empty".to_string(),
        });
    }
    let right = numbers(tree, "right_children", &path, Some(n))?;
    let feature = numbers(tree, "split_indices", &path, Some(n))?;
    let condition = numbers(tree, "split_conditions", &path, Some(n))?;
    let default_left = numbers(tree, "default_left", &path, Some(n))?;
    let hessian = numbers(tree, "sum_hessian", &path, Some(n))?;
    let gain = match tree.get("loss_changes") {
        Some(_) => numbers(tree, "loss_changes", &path, Some(n))?,
        None => vec![0.0; n],
    };
    let split_type = match tree.get("split_type") {
        Some(_) => numbers(tree, "split_type", &path, Some(n))?,
        None => vec![0.0; n],
    };
    let mut sets: Vec<Option<Vec<u32>>> = vec![None; n];
    if split_type.iter().any(|s| *s != 0.0) {
        let nodes = numbers(tree, "categories_nodes", &path, None)?;
        let segments = numbers(tree, "categories_segments", &path, Some(nodes.len()))?;
        let sizes = numbers(tree, "categories_sizes", &path, Some(nodes.len()))?;
        let codes = numbers(tree, "categories", &path, None)?;
        for (k, node) in nodes.iter().enumerate() {
            let node = index(*node, &format!("{path}.categories_nodes"), k, n)?;
            let start = index(
                segments[k],
                &format!("{path}.categories_segments"),
                k,
                codes.len() + 1,
            )?;
            let size = index(
                sizes[k],
                &format!("{path}.categories_sizes"),
                k,
                codes.len() + 1 - start,
            )?;
            let mut set = Vec::with_capacity(size);
            for (c, code) in codes[start..start + size].iter().enumerate() {
                set.push(index(
                    *code,
                    &format!("{path}.categories"),
                    start + c,
                    u32::MAX as usize,
                )? as u32);
            }
            set.sort_unstable();
            set.dedup();
            sets[node] = Some(set);
        }
    }
    let mut raw = Vec::with_capacity(n);
    for i in 0..n {
        if left[i] == -1.0 {
            raw.push(RawNode::Leaf {
                value: condition[i],
                cover: hessian[i],
            });
            continue;
        }
        let l = index(left[i], &format!("{path}.left_children"), i, n)?;
        let r = index(right[i], &format!("{path}.right_children"), i, n)?;
        let f = index(feature[i], &format!("{path}.split_indices"), i, width)?;
        let to_left = default_left[i] != 0.0;
        let node = match split_type[i] {
            0.0 => RawNode::Split {
                feature: f,
                threshold: f64_threshold(condition[i] as f32),
                default_left: to_left,
                missing: Missing::Nan,
                categories: None,
                left: l,
                right: r,
                cover: hessian[i],
                gain: gain[i].max(0.0),
            },
            1.0 => {
                categorical[f] = true;
                let set = sets[i].take().ok_or_else(|| ImportError::XgboostField {
                    field: format!("{path}.categories_nodes"),
                    problem: format!("categorical node {i} has no categories"),
                })?;
                // XGBoost sends the listed codes right; ours go left.
                RawNode::Split {
                    feature: f,
                    threshold: 0.0,
                    default_left: !to_left,
                    missing: Missing::Nan,
                    categories: Some(set),
                    left: r,
                    right: l,
                    cover: hessian[i],
                    gain: gain[i].max(0.0),
                }
            }
            other => {
                return Err(ImportError::Unsupported {
                    library: LIBRARY,
                    construct: format!("{path}.split_type[{i}] = {other}"),
                    why: "only numerical (0) and categorical (1) splits are imported".to_string(),
                })
            }
        };
        raw.push(node);
    }
    layout(&raw, 0).map_err(|e| ImportError::XgboostField {
        field: format!("{path}.left_children"),
        problem: e,
    })
}

/// XGBoost 3's `cats.enc`: each feature's category names in code order.
fn category_names(cats: &Value, width: usize) -> Result<Vec<Option<Vec<String>>>, ImportError> {
    let path = "learner.gradient_booster.model.cats.enc";
    let Some(enc) = cats.get("enc").and_then(Value::as_array) else {
        return Ok(vec![None; width]);
    };
    let mut out = vec![None; width];
    for (j, feature) in enc.iter().enumerate().take(width) {
        let here = format!("{path}[{j}]");
        let values = numbers(feature, "values", &here, None)?;
        if values.is_empty() {
            continue;
        }
        let offsets = numbers(feature, "offsets", &here, None)?;
        if offsets.is_empty() {
            // Numeric categories: the values themselves.
            out[j] = Some(values.iter().map(|v| v.to_string()).collect());
            continue;
        }
        let bytes: Vec<u8> = values.iter().map(|b| *b as u8).collect();
        let mut names = Vec::with_capacity(offsets.len().saturating_sub(1));
        for (k, w) in offsets.windows(2).enumerate() {
            let a = index(w[0], &format!("{here}.offsets"), k, bytes.len() + 1)?;
            let b = index(w[1], &format!("{here}.offsets"), k + 1, bytes.len() + 1)?;
            let name = bytes
                .get(a..b)
                .and_then(|s| std::str::from_utf8(s).ok())
                .ok_or_else(|| ImportError::XgboostField {
                    field: format!("{here}.values"),
                    problem: format!("category {k} is not UTF-8 between offsets {a} and {b}"),
                })?;
            names.push(name.to_string());
        }
        out[j] = Some(names);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_threshold_partitions_like_f32_less_than() {
        for t in [4.0f32, 0.1, -0.63672996, 0.0, 1e-45, 12.646494, -7.5] {
            let ours = f64_threshold(t);
            let below = f32_below(t);
            let mid = (f64::from(below) + f64::from(t)) / 2.0;
            for x in [
                f64::from(t),
                f64::from(below),
                mid,
                f64_below(mid),
                f64::from_bits(mid.to_bits() + 1),
                f64::from(t) + 1e-9,
            ] {
                assert_eq!(x <= ours, (x as f32) < t, "t {t} x {x}");
            }
        }
    }
}
