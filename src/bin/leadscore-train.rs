//! `leadscore-train`: trains a model from a CRM export (CSV or Parquet) and
//! writes `<out>/model.json` for the server's model repository, with
//! `report.json`, `report.html` and `report.md` beside it.
//!
//! Settings come from `--config train.toml` (optional) and flags; a flag
//! overrides the file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use leadscore::train::{
    self, CalibrationChoice, ClassWeight, ModelFamily, Progress, TrainConfig, TrainRequest,
};

/// Train a lead-scoring model from a CSV or Parquet export of your CRM.
#[derive(Debug, Parser)]
#[command(name = "leadscore-train", version, about)]
struct Args {
    /// A train.toml with any of the settings below (flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// CSV (`,` `;` tab or `|` separated, detected) or Parquet file with a header.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Binary target column (0/1, true/false or yes/no).
    #[arg(long)]
    target: Option<String>,
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
    /// Columns the leakage guard flagged that are known before the outcome
    /// and may be used anyway, comma separated.
    #[arg(long, value_delimiter = ',')]
    allow_leaky: Vec<String>,
    /// Out-of-time evaluation: test on the most recent rows by this column
    /// (numbers or ISO 8601 dates).
    #[arg(long, conflicts_with = "group_column")]
    time_column: Option<String>,
    /// Grouped evaluation: no value of this column (e.g. account_id) in both
    /// train and test, and grouped cross-validation folds.
    #[arg(long)]
    group_column: Option<String>,
    /// Account id column: groups leads into accounts and fits an account
    /// model (also the split group unless --group-column is given).
    #[arg(long)]
    account_column: Option<String>,
    /// Email column: a lead without an account id joins the account of its
    /// email's company domain (free-mail never forms an account).
    #[arg(long)]
    email_column: Option<String>,
    /// Numeric features that count as behaviour for accounts (engaged
    /// contacts, sums and maxima), comma separated; default: every numeric
    /// feature.
    #[arg(long, value_delimiter = ',')]
    behavioural_features: Vec<String>,
    /// A separate held-out file with the same columns: all of --data trains,
    /// all of this file tests (instead of splitting --data).
    #[arg(long, conflicts_with_all = ["time_column", "group_column"])]
    test_data: Option<PathBuf>,
    /// Output directory, normally models/<name>/<version>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Model family; `auto` cross-validates both and keeps the lower log loss.
    #[arg(long, value_enum)]
    model: Option<ModelFamily>,
    /// Probability calibration; `auto` picks by cross-validated log loss.
    #[arg(long, value_enum)]
    calibration: Option<CalibrationChoice>,
    /// Class weights in the fitting loss.
    #[arg(long, value_enum)]
    class_weight: Option<ClassWeight>,
    /// Cross-validation folds on the training rows.
    #[arg(long)]
    folds: Option<usize>,
    /// Fewest rows of each class to train at all.
    #[arg(long)]
    min_positives: Option<usize>,
    /// L2 penalty alpha of the logistic model (scikit-learn's 1/C).
    #[arg(long)]
    l2: Option<f64>,
    /// Share of rows held out for the test metrics.
    #[arg(long)]
    test_fraction: Option<f64>,
    /// Seed of the split and folds.
    #[arg(long)]
    seed: Option<u64>,
    /// Logistic solver iteration limit.
    #[arg(long)]
    max_iterations: Option<u64>,
    /// Category levels seen on fewer training rows go to "(other)".
    #[arg(long)]
    min_category_count: Option<usize>,
    /// Quantile bins per numeric feature for the logistic model (0 = linear only).
    #[arg(long)]
    numeric_bins: Option<usize>,
    /// Share of training leads in the "hot" band.
    #[arg(long)]
    hot_share: Option<f64>,
    /// Share of training leads in the "warm" band.
    #[arg(long)]
    warm_share: Option<f64>,
    /// Boosting rounds (trees).
    #[arg(long)]
    trees: Option<usize>,
    /// Boosting learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Leaves per tree.
    #[arg(long)]
    num_leaves: Option<usize>,
    /// Tree depth limit (0 = none).
    #[arg(long)]
    max_depth: Option<usize>,
    /// Fewest training rows in a leaf.
    #[arg(long)]
    min_data_in_leaf: Option<usize>,
}

/// A progress bar on a terminal, plain lines otherwise (CI logs, pipes).
struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    stage: Mutex<String>,
    interactive: bool,
}

impl Progress for TerminalProgress {
    fn start(&self, stage: &str, total: u64) {
        *self.stage.lock().unwrap_or_else(|e| e.into_inner()) = stage.to_string();
        if self.interactive {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{msg:<40} [{bar:30}] {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(stage.to_string());
            *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
        } else {
            eprintln!("{stage} ...");
        }
    }
    fn advance(&self, n: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.inc(n);
        }
    }
    fn finish(&self, summary: &str) {
        let stage = self.stage.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
        eprintln!("{stage}: {summary}");
    }
}

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("import") {
        return import(train::import::ImportArgs::parse_from(
            std::env::args().skip(1),
        ));
    }
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => TrainConfig::read(path)?,
        None => TrainConfig::default(),
    };
    // Flags override the file.
    macro_rules! set {
        ($($flag:ident => $field:expr),* $(,)?) => {
            $(if let Some(v) = args.$flag.clone() { $field = v; })*
        };
    }
    set!(
        model => config.params.model,
        calibration => config.params.calibration,
        class_weight => config.params.class_weight,
        folds => config.params.folds,
        min_positives => config.params.min_positives,
        l2 => config.params.l2,
        test_fraction => config.params.test_fraction,
        seed => config.params.seed,
        max_iterations => config.params.max_iterations,
        min_category_count => config.params.min_category_count,
        numeric_bins => config.params.numeric_bins,
        hot_share => config.params.hot_share,
        warm_share => config.params.warm_share,
        trees => config.params.gbdt.n_trees,
        learning_rate => config.params.gbdt.learning_rate,
        num_leaves => config.params.gbdt.num_leaves,
        max_depth => config.params.gbdt.max_depth,
        min_data_in_leaf => config.params.gbdt.min_data_in_leaf,
    );
    for (flag, field) in [
        (&args.exclude, &mut config.exclude),
        (&args.na_values, &mut config.na_values),
        (&args.allow_leaky, &mut config.allow_leaky),
    ] {
        if !flag.is_empty() {
            *field = flag.clone();
        }
    }
    let data = args
        .data
        .or(config.data)
        .context("--data (or `data` in the config file) is required")?;
    let target = args
        .target
        .or(config.target)
        .context("--target (or `target` in the config file) is required")?;
    let out = args
        .out
        .or(config.out)
        .context("--out (or `out` in the config file) is required")?;
    let params = config.params.check()?;
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
    let (time_column, group_column) = match (args.time_column, args.group_column) {
        (None, None) => (config.time_column, config.group_column),
        flags => flags,
    };
    let request = TrainRequest {
        data: data.clone(),
        target,
        id: args.id.or(config.id),
        exclude: config.exclude,
        na_values: config.na_values,
        allow_leaky: config.allow_leaky,
        time_column,
        group_column,
        account_column: args.account_column.or(config.account_column),
        email_column: args.email_column.or(config.email_column),
        behavioural_features: if args.behavioural_features.is_empty() {
            config.behavioural_features
        } else {
            args.behavioural_features
        },
        stages: config.stages,
        test_data: args.test_data.or(config.test_data),
        params,
        command,
        features: config.features,
    };
    let progress = TerminalProgress {
        bar: Mutex::new(None),
        stage: Mutex::new(String::new()),
        interactive: std::io::stderr().is_terminal(),
    };
    let outcome = train::train_with_progress(&request, &progress)
        .with_context(|| format!("training on {}", data.display()))?;
    for notice in &outcome.notices {
        eprintln!("note: {notice}");
    }
    let reports = train::write_report(&outcome.report, &out)?;
    let path = train::write_artifact(&outcome.artifact, &out)?;
    let a = &outcome.artifact;
    let m = &a.metrics;
    let r = &outcome.report;
    println!(
        "trained {} on {} rows ({} train / {} test, {}), {} features, positive rate {:.3}",
        a.estimator.kind(),
        a.provenance.rows,
        outcome.train_rows,
        outcome.test_rows,
        r.split.method,
        a.features.len(),
        a.provenance.positive_rate
    );
    println!("model: {}", r.model_choice_reason);
    println!(
        "calibration: {} ({})",
        r.calibration.method, r.calibration.reason
    );
    for c in &r.cv_metrics {
        println!("cv {:<9} {:.4} ± {:.4}", c.name, c.mean, c.sd);
    }
    println!(
        "held-out: ROC AUC {:.4}  PR AUC {:.4}  log loss {:.4} (base rate {:.4})  Brier {:.4}  ECE {:.4}  lift@10% {:.2}  ({} rows, {} positive)",
        m.roc_auc, m.pr_auc, m.log_loss, m.base_rate_log_loss, m.brier, m.ece, m.lift_top10, m.rows, m.positives
    );
    println!(
        "bands: {}",
        a.bands
            .iter()
            .map(|b| format!("{} >= {}", b.name, b.min_probability))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match &r.accounts {
        Some(acc) => println!(
            "accounts: {} train / {} test; held-out {}",
            acc.train_accounts,
            acc.test_accounts,
            acc.methods
                .iter()
                .map(|m| format!(
                    "{} log loss {:.4} (ROC AUC {:.4})",
                    m.method, m.log_loss, m.roc_auc
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None if request.account_column.is_some() || request.email_column.is_some() => {
            println!("accounts: no account model (see the notes above)")
        }
        None => {}
    }
    println!(
        "stages: {} rule(s){}",
        a.stages.rules().len(),
        if request.stages.is_some() {
            " from the config"
        } else {
            " (defaults for these features)"
        }
    );
    for p in reports {
        println!("wrote {}", p.display());
    }
    println!("wrote {}", path.display());
    Ok(())
}

/// `leadscore-train import …`: a LightGBM or XGBoost model into an artifact.
fn import(args: train::import::ImportArgs) -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let summary = train::import::run(&args.into_settings(command))?;
    println!(
        "imported {} model: {} trees, features {}; {}\nwrote {}",
        summary.library,
        summary.trees,
        summary.features.join(", "),
        match summary.sample_rows {
            Some(rows) => format!("bands from {rows} sample rows"),
            None => "no data: one band, \"unbanded\"".to_string(),
        },
        summary.path.display()
    );
    Ok(())
}
