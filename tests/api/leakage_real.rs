//! The leakage guard on the real data sets in `../shared/data` (not part of
//! the repository), run the way `leadscore-train` runs it on defaults
//! ([`leadscore::train::leakage_findings`]: the trainer's own reading of the
//! file, kinds and identifiers included): X Education's `Tags` and `Lead
//! Quality` and leadforge's `total_touches_all` are refused; the three public
//! exports (telco churn, marketing campaign, HR attrition) train without a
//! refusal. Each test prints `SKIPPED` and returns when its file is absent.

use std::path::{Path, PathBuf};

use leadscore::train::leakage::{LeakFinding, Tier};
use leadscore::train::{leakage_findings, TrainSettings};

/// The guard's findings on `file` under `../shared/data`, the trainer's
/// defaults otherwise; `None` when the file is absent.
fn findings(file: &str, target: &str, na_values: &[&str]) -> Option<Vec<LeakFinding>> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(file);
    if !path.exists() {
        println!("SKIPPED: {} not present", path.display());
        eprintln!("SKIPPED: {} not present", path.display());
        return None;
    }
    let settings = TrainSettings {
        data: Some(path.clone()),
        target: Some(target.to_string()),
        na_values: na_values.iter().map(|s| s.to_string()).collect(),
        ..TrainSettings::default()
    };
    let started = std::time::Instant::now();
    let found = leakage_findings(&settings).expect("the data set reads");
    println!("{}: guard in {:?}", path.display(), started.elapsed());
    for f in &found {
        println!("  [{:?} {}] {}", f.tier, f.rule, f.evidence);
    }
    Some(found)
}

fn refused(found: &[LeakFinding]) -> Vec<&str> {
    let mut columns: Vec<&str> = found
        .iter()
        .filter(|f| f.tier == Tier::Refuse)
        .map(|f| f.column.as_str())
        .collect();
    columns.sort_unstable();
    columns.dedup();
    columns
}

#[test]
fn x_education_tags_and_lead_quality_are_refused_and_lead_source_is_not() {
    let Some(found) = findings("x_education_leads/Leads.csv", "Converted", &["Select"]) else {
        return;
    };
    let refused = refused(&found);
    for column in ["Tags", "Lead Quality"] {
        assert!(
            refused.contains(&column),
            "{column} not refused: {found:#?}"
        );
    }
    // A genuinely good source is known when the lead arrives: a warning at most.
    assert!(!refused.contains(&"Lead Source"), "{found:#?}");
}

#[test]
fn leadforge_total_touches_all_is_refused() {
    let Some(found) = findings(
        "leadforge/leadforge_converted_within_90_days.csv",
        "converted_within_90_days",
        &[],
    ) else {
        return;
    };
    let refused = refused(&found);
    assert!(refused.contains(&"total_touches_all"), "{found:#?}");
    let window = found
        .iter()
        .find(|f| f.column == "total_touches_all" && f.rule == "longer_window")
        .expect("the longer-window finding");
    assert!(
        window.evidence.contains("touch_count") || window.evidence.contains("touches"),
        "{}",
        window.evidence
    );
}

#[test]
fn public_exports_train_without_a_refusal() {
    for (file, target) in [
        ("public/telco_churn/telco_churn.csv", "Churn"),
        ("public/marketing_campaign/marketing_data.csv", "Response"),
        ("public/hr_attrition/HR_comma_sep.csv", "left"),
    ] {
        let Some(found) = findings(file, target, &[]) else {
            continue;
        };
        assert!(refused(&found).is_empty(), "{file}: {found:#?}");
    }
}
