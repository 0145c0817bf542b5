//! `leadscore-train`: trains a model from a CSV export and writes
//! `<out>/model.json` for the server's model repository.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use leadscore::train::{self, TrainParams, TrainRequest};

/// Train a lead-scoring model from a CSV export of your CRM.
#[derive(Debug, Parser)]
#[command(name = "leadscore-train", version, about)]
struct Args {
    /// CSV file with a header row.
    #[arg(long)]
    data: PathBuf,
    /// Binary target column (0/1, true/false or yes/no).
    #[arg(long)]
    target: String,
    /// Identifier column (never used as a feature).
    #[arg(long)]
    id: Option<String>,
    /// Columns to leave out, comma separated; a trailing '*' matches a prefix
    /// (e.g. "Tags,Lead Quality,Asymmetrique*").
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Extra cell values that mean "missing", comma separated (e.g. "Select").
    #[arg(long, value_delimiter = ',')]
    na_values: Vec<String>,
    /// Output directory, normally models/<name>/<version>.
    #[arg(long)]
    out: PathBuf,
    /// L2 penalty alpha (scikit-learn's 1/C).
    #[arg(long, default_value_t = TrainParams::default().l2)]
    l2: f64,
    /// Share of rows held out for the test metrics (stratified).
    #[arg(long, default_value_t = TrainParams::default().test_fraction)]
    test_fraction: f64,
    /// Seed of the train/test split.
    #[arg(long, default_value_t = TrainParams::default().seed)]
    seed: u64,
    /// Solver iteration limit.
    #[arg(long, default_value_t = TrainParams::default().max_iterations)]
    max_iterations: u64,
    /// Category levels seen on fewer training rows go to "(other)".
    #[arg(long, default_value_t = TrainParams::default().min_category_count)]
    min_category_count: usize,
    /// Quantile bins per numeric feature, one-hot beside the linear term (0 = linear only).
    #[arg(long, default_value_t = TrainParams::default().numeric_bins)]
    numeric_bins: usize,
    /// Share of training leads in the "hot" band.
    #[arg(long, default_value_t = TrainParams::default().hot_share)]
    hot_share: f64,
    /// Share of training leads in the "warm" band.
    #[arg(long, default_value_t = TrainParams::default().warm_share)]
    warm_share: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let params = TrainParams {
        l2: args.l2,
        max_iterations: args.max_iterations,
        test_fraction: args.test_fraction,
        seed: args.seed,
        min_category_count: args.min_category_count,
        numeric_bins: args.numeric_bins,
        hot_share: args.hot_share,
        warm_share: args.warm_share,
    }
    .check()?;
    let command = std::env::args()
        .map(|a| {
            if a.contains(' ') || a.contains('*') {
                format!("'{a}'")
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let request = TrainRequest {
        data: args.data.clone(),
        target: args.target,
        id: args.id,
        exclude: args.exclude,
        na_values: args.na_values,
        params,
        command,
    };
    let outcome =
        train::train(&request).with_context(|| format!("training on {}", args.data.display()))?;
    for notice in &outcome.notices {
        eprintln!("note: {notice}");
    }
    let path = train::write_artifact(&outcome.artifact, &args.out)?;
    let a = &outcome.artifact;
    let m = &a.metrics;
    println!(
        "trained {} on {} rows ({} train / {} test), {} features, positive rate {:.3}",
        a.estimator.kind(),
        a.provenance.rows,
        outcome.train_rows,
        outcome.test_rows,
        a.features.len(),
        a.provenance.positive_rate
    );
    println!(
        "held-out: ROC AUC {:.4}  log loss {:.4} (base rate {:.4})  Brier {:.4}  ({} rows, {} positive)",
        m.roc_auc, m.log_loss, m.base_rate_log_loss, m.brier, m.rows, m.positives
    );
    println!(
        "bands: {}",
        a.bands
            .iter()
            .map(|b| format!("{} >= {}", b.name, b.min_probability))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("wrote {}", path.display());
    Ok(())
}
