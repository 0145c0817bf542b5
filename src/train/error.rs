//! [`TrainError`]: why a training run failed, one variant per thing to fix.
//! Errors of the fitting modules ([`GrowError`], [`LogisticError`]) convert
//! into it with `?`.

use crate::train::grow::GrowError;
use crate::train::leakage::LeakFinding;
use crate::train::linear::LogisticError;
use crate::train::table;

/// Why training failed. Every variant says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The table is malformed (CSV or Parquet).
    #[error("{0}")]
    Table(#[from] table::TableError),
    /// The file has a header but no rows, or nothing at all.
    #[error("{path} has no data rows")]
    Empty {
        /// The file.
        path: String,
    },
    /// `--target` names no column.
    #[error("target column \"{target}\" not found; columns are: {available}")]
    NoTargetColumn {
        /// Requested target.
        target: String,
        /// Header, comma separated.
        available: String,
    },
    /// A column named in a flag does not exist.
    #[error("{flag} names column \"{column}\", which is not in the file")]
    UnknownColumn {
        /// The flag.
        flag: &'static str,
        /// The column.
        column: String,
    },
    /// A target cell is not 0/1, true/false or yes/no.
    #[error("line {line}: target \"{column}\" must be 0/1, true/false or yes/no, got \"{value}\"")]
    BadTarget {
        /// Line number (1 = header).
        line: u64,
        /// Target column.
        column: String,
        /// The cell.
        value: String,
    },
    /// An events-table problem, naming the file, line and column.
    #[error("{path} line {line}: {problem}")]
    Events {
        /// The events (or leads) file.
        path: String,
        /// Line number (1 = header).
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The event definition of `[event_features]` does not validate.
    #[error(transparent)]
    EventDefinition(#[from] crate::scoring::events::EventDefinitionError),
    /// Only one class in the target.
    #[error("target \"{column}\" is constant ({value}); a model needs both outcomes")]
    ConstantTarget {
        /// Target column.
        column: String,
        /// The one value present.
        value: bool,
    },
    /// Too few rows of a class to learn from.
    #[error("too few examples to learn from: {positives} positive and {negatives} negative rows (need at least {min} of each; see --min-positives)")]
    TooFewExamples {
        /// Positive rows.
        positives: usize,
        /// Negative rows.
        negatives: usize,
        /// Minimum per class.
        min: usize,
    },
    /// A column that is numeric almost everywhere holds a non-number.
    #[error("line {line}, column \"{column}\": \"{value}\" is not a number, but {numeric} of {present} values in this column are; fix the cell, add it to --na-values, or --exclude the column")]
    NotNumeric {
        /// Line number (1 = header).
        line: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
        /// Numeric cells in the column.
        numeric: usize,
        /// Non-missing cells in the column.
        present: usize,
    },
    /// A time cell that is neither a number nor an ISO 8601 date.
    #[error("line {line}, column \"{column}\" (--time-column): \"{value}\" is not a number or an ISO 8601 date")]
    BadTime {
        /// Line number (1 = header).
        line: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
    /// Features that give the label away, not named in `--allow-leaky`.
    #[error("{}", leak_message(.0))]
    Leaky(Vec<LeakFinding>),
    /// No usable feature column is left.
    #[error("no usable feature columns are left after exclusions")]
    NoFeatures,
    /// A hyperparameter is out of range.
    #[error("invalid parameter {name}: {problem}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A required setting is given neither as a flag nor in `train.toml`.
    #[error("{flag} (or `{key}` in the config file) is required")]
    MissingSetting {
        /// The flag.
        flag: &'static str,
        /// The `train.toml` key.
        key: &'static str,
    },
    /// The flags do not fit the settings type (a bug of the caller).
    #[error("command line: {0}")]
    CommandLine(#[from] clap::Error),
    /// `train.toml` could not be read.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// The solver failed or produced an unusable model.
    #[error("fitting failed: {0}")]
    Fit(String),
    /// Growing the boosted trees failed.
    #[error("fitting failed: {0}")]
    Grow(#[from] GrowError),
    /// The logistic solver failed.
    #[error("fitting failed: {0}")]
    Logistic(#[from] LogisticError),
    /// A `[[stages]]` rule of `train.toml` does not fit the model's features.
    #[error("[[stages]] in train.toml: {0}")]
    Stages(String),
    /// The account settings do not fit the data.
    #[error("accounts: {0}")]
    Accounts(String),
}

fn leak_message(findings: &[LeakFinding]) -> String {
    let mut columns: Vec<&str> = findings.iter().map(|f| f.column.as_str()).collect();
    columns.sort_unstable();
    columns.dedup();
    let mut text = format!(
        "refusing to train: {} column(s) give the label away on strong evidence (see `train::leakage`):",
        columns.len()
    );
    for f in findings {
        let tier = match f.tier {
            crate::train::leakage::Tier::Refuse => "refuse",
            crate::train::leakage::Tier::Warn => "warn",
        };
        text.push_str(&format!("\n  - [{tier}: {}] {}", f.rule, f.evidence));
    }
    text.push_str(&format!(
        "\nexclude them (--exclude \"{}\") or, if they are known before the outcome, allow them with --allow-leaky \"{}\"",
        columns.join(","),
        columns.join(",")
    ));
    text
}
