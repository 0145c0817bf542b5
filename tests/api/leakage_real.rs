//! The leakage guard on the real lead data sets in `../shared/data` (not part
//! of the repository): X Education's `Leads.csv` must have `Tags` and `Lead
//! Quality` flagged; leadforge's findings are printed for the record
//! (docs/trainer.md, "Leakage guard"). Skips, saying so, when the data is absent.

use std::collections::HashSet;
use std::path::Path;

use leadscore::scoring::features::{parse_bool, FeatureKind, RawValue};
use leadscore::train::leakage::{find_leaks, ColumnValues, LeakFinding, LeakageThresholds};
use leadscore::train::table::read_table;

/// Reads `path` and runs the guard on every column but `target` and `skip`;
/// `None` when the file is absent.
fn leaks_in(path: &str, target: &str, skip: &[&str], na: &[&str]) -> Option<Vec<LeakFinding>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let Ok(bytes) = std::fs::read(&path) else {
        println!("SKIPPED: ../shared/data not present ({})", path.display());
        return None;
    };
    let table = read_table(&bytes, &path.display().to_string()).expect("the data set reads");
    let t = table
        .header
        .iter()
        .position(|h| h == target)
        .expect("target column");
    let labels: Vec<bool> = table
        .rows
        .iter()
        .map(|r| match r[t].trim() {
            "1" | "1.0" => true,
            "0" | "0.0" => false,
            other => parse_bool(other).expect("a 0/1 or true/false target"),
        })
        .collect();
    let na: HashSet<String> = na.iter().map(|s| s.to_ascii_lowercase()).collect();
    let missing =
        |cell: &str| cell.trim().is_empty() || na.contains(&cell.trim().to_ascii_lowercase());

    // Kinds as the trainer infers them: all numbers → numeric, all yes/no →
    // boolean, else categorical.
    let mut owned: Vec<(String, FeatureKind, Vec<Option<RawValue>>)> = Vec::new();
    for (c, name) in table.header.iter().enumerate() {
        if c == t || skip.contains(&name.as_str()) {
            continue;
        }
        let cells: Vec<Option<&str>> = table
            .rows
            .iter()
            .map(|r| Some(r[c].trim()).filter(|v| !missing(v)))
            .collect();
        let present = || cells.iter().flatten();
        let kind = if present().all(|v| v.parse::<f64>().is_ok_and(f64::is_finite)) {
            FeatureKind::Numeric
        } else if present().all(|v| parse_bool(v).is_some()) {
            FeatureKind::Boolean
        } else {
            FeatureKind::Categorical
        };
        let values = cells
            .iter()
            .map(|v| {
                v.map(|v| match kind {
                    FeatureKind::Numeric => RawValue::Number(v.parse().unwrap_or(f64::NAN)),
                    FeatureKind::Boolean => RawValue::Flag(parse_bool(v).unwrap_or(false)),
                    FeatureKind::Categorical => RawValue::Category(v.to_string()),
                })
            })
            .collect();
        owned.push((name.clone(), kind, values));
    }
    let columns: Vec<ColumnValues> = owned
        .iter()
        .map(|(name, kind, values)| ColumnValues {
            name,
            kind: *kind,
            values: values.iter().map(Option::as_ref).collect(),
        })
        .collect();
    let started = std::time::Instant::now();
    let found = find_leaks(&columns, &labels, &LeakageThresholds::default());
    println!(
        "{}: {} rows, {} columns checked in {:?}",
        path.display(),
        labels.len(),
        columns.len(),
        started.elapsed()
    );
    for f in &found {
        println!("  [{}] {}", f.rule, f.evidence);
    }
    Some(found)
}

#[test]
fn x_education_tags_and_lead_quality_are_flagged() {
    let Some(found) = leaks_in(
        "../shared/data/x_education_leads/Leads.csv",
        "Converted",
        &["Prospect ID", "Lead Number"],
        &["Select"],
    ) else {
        return;
    };
    let flagged: HashSet<&str> = found.iter().map(|f| f.column.as_str()).collect();
    for column in ["Tags", "Lead Quality"] {
        assert!(flagged.contains(column), "{column} not flagged: {found:#?}");
    }
}

#[test]
fn leadforge_findings_are_reported() {
    let Some(found) = leaks_in(
        "../shared/data/leadforge/leadforge_converted_within_90_days.csv",
        "converted_within_90_days",
        &["account_id", "contact_id", "lead_id", "split"],
        &[],
    ) else {
        return;
    };
    // Every finding names a rule of the guard and a column that was passed in.
    for f in &found {
        assert!(
            ["single_feature_auc", "pure_level", "missingness"].contains(&f.rule.as_str()),
            "{f:?}"
        );
        assert!(f.strength >= 0.5 && f.strength <= 1.0, "{f:?}");
    }
}
