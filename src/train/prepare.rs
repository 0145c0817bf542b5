//! The first steps of a training run, from file bytes to the rows the fit
//! sees (see the step list in [`crate::train::pipeline`]):
//!
//! 1. **read** — [`read_table_step`] reads the table (and a `test_data`
//!    file, appended); [`prepare_rows`] parses the target, resolves the
//!    columns the settings name, infers each other column's kind and drops
//!    the excluded, constant and identifier-like ones, and collects the raw
//!    feature values.
//! 2. **guard** — [`guard_leakage`] refuses columns that give the label
//!    away unless `allow_leaky` names them.
//! 3. **split** — [`split_rows`] keys accounts, splits off the held-out rows
//!    (given test file, out-of-time, grouped or stratified) and draws the
//!    cross-validation folds; [`check_named_features`] then checks the
//!    settings that name features (behavioural features, stage rules)
//!    before any fitting.

use std::collections::HashSet;

use crate::scoring::accounts;
use crate::scoring::features::{
    parse_bool, parse_number_text, snake_case, FeatureKind, RawValue, TextFormat,
};
use crate::scoring::stages::StageRules;
use crate::train::default_stages;
use crate::train::error::TrainError;
use crate::train::leakage::{self, LeakFinding, LeakageThresholds, Tier};
use crate::train::progress::Progress;
use crate::train::settings::{ClassWeight, TrainParams, TrainSettings, ValidTrainSettings};
use crate::train::splits::{self, stratified_split};
use crate::train::table::{self, Table};

/// Cells treated as missing besides the empty string (compared case-insensitively).
pub const DEFAULT_NA_VALUES: &[&str] = &["NA", "N/A", "NaN", "null", "None"];

/// The table of a run: the training file's rows, then the rows of the
/// `test_data` file if there is one.
pub(crate) struct ReadTable {
    pub(crate) table: Table,
    /// The first row of the `test_data` file (`None`: split the table).
    pub(crate) given_test: Option<usize>,
    /// With `--events`: the window features added to the table.
    pub(crate) events: Option<crate::train::events::Materialised>,
}

/// One feature column chosen for training.
pub(crate) struct Column {
    /// Position in the table.
    pub(crate) index: usize,
    pub(crate) kind: FeatureKind,
    /// How the cells' text became values (numeric columns of text that is
    /// not a plain number: dates).
    pub(crate) read_as: Option<TextFormat>,
    /// How the column was read, for the report ("number", "date → days
    /// since 1970-01-01", ...).
    pub(crate) reading: String,
}

/// The columns the settings name besides the target, as table positions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyColumns {
    pub(crate) time: Option<usize>,
    pub(crate) group: Option<usize>,
    pub(crate) account: Option<usize>,
    pub(crate) email: Option<usize>,
}

/// The rows and columns every later step works on.
pub(crate) struct Prepared<'a> {
    pub(crate) table: &'a Table,
    pub(crate) columns: Vec<Column>,
    /// Raw values, one row per lead, in feature order (`None` = missing).
    pub(crate) raw: Vec<Vec<Option<RawValue>>>,
    pub(crate) labels: Vec<bool>,
    pub(crate) positives: usize,
    /// Class weights per row (`None`: every row counts once).
    pub(crate) weights: Option<Vec<f64>>,
    pub(crate) params: &'a TrainParams,
    /// Columns left out of the features, named or found (for provenance).
    pub(crate) excluded: Vec<String>,
    pub(crate) keys: KeyColumns,
    /// Missing-value tokens, lower case.
    na: HashSet<String>,
}

impl Prepared<'_> {
    /// Whether a cell counts as missing: empty, or a missing-value token.
    pub(crate) fn is_missing(&self, cell: &str) -> bool {
        let t = cell.trim();
        t.is_empty() || self.na.contains(&t.to_ascii_lowercase())
    }

    /// Rows with a negative label.
    pub(crate) fn negatives(&self) -> usize {
        self.labels.len() - self.positives
    }

    /// Feature names of the chosen columns: the header in snake case, made
    /// unique with trailing underscores.
    pub(crate) fn feature_names(&self) -> Vec<String> {
        let mut used = HashSet::new();
        self.columns
            .iter()
            .map(|col| {
                let mut name = snake_case(&self.table.header[col.index]);
                while !used.insert(name.clone()) {
                    name.push('_');
                }
                name
            })
            .collect()
    }
}

/// The held-out split and the cross-validation folds.
pub(crate) struct HeldOutSplit {
    /// Training rows (table positions).
    pub(crate) train_idx: Vec<usize>,
    /// Held-out test rows (table positions).
    pub(crate) test_idx: Vec<usize>,
    pub(crate) y_train: Vec<bool>,
    pub(crate) y_test: Vec<bool>,
    /// How the rows were split, for the report ("stratified", ...).
    pub(crate) method: String,
    /// Cross-validation folds on the training rows (positions in `train_idx`).
    pub(crate) folds: Vec<Vec<usize>>,
    /// Account key per row (`None`: the lead has no account), when an
    /// account or email column is given.
    pub(crate) account_keys: Option<Vec<Option<String>>>,
}

/// Step "read": the table from the file's bytes, with the rows of the
/// `test_data` file appended (they are held out as they are).
///
/// # Errors
/// [`TrainError::Table`] for a malformed file, [`TrainError::Empty`] without
/// rows, [`TrainError::Fit`] when the test file's columns differ.
pub(crate) fn read_table_step(
    bytes: &[u8],
    test_bytes: Option<&[u8]>,
    settings: &ValidTrainSettings,
) -> Result<ReadTable, TrainError> {
    let name = settings.data().display().to_string();
    let mut table = table::read_table(bytes, &name)?;
    if table.rows.is_empty() {
        return Err(TrainError::Empty { path: name });
    }
    let given_test = match (test_bytes, &settings.settings().test_data) {
        (Some(test_bytes), Some(test_path)) => {
            let test_name = test_path.display().to_string();
            let test = table::read_table(test_bytes, &test_name)?;
            if test.header != table.header {
                return Err(TrainError::Fit(format!(
                    "{test_name} must have the same columns as {name}, in the same order"
                )));
            }
            if test.rows.is_empty() {
                return Err(TrainError::Empty { path: test_name });
            }
            let first = table.rows.len();
            table.rows.extend(test.rows);
            table.lines.extend(test.lines);
            Some(first)
        }
        _ => None,
    };
    let events = crate::train::events::materialise(&mut table, &name, settings.settings())?;
    Ok(ReadTable {
        table,
        given_test,
        events,
    })
}

/// Step "read", continued: the labels, the feature columns and their raw
/// values, and the class weights. Columns dropped automatically get a
/// notice.
///
/// # Errors
/// No or a bad target column, a constant target, too few examples of a
/// class, a setting naming no column, a stray word in a numeric column, no
/// feature left.
pub(crate) fn prepare_rows<'a>(
    table: &'a Table,
    settings: &'a ValidTrainSettings,
    notices: &mut Vec<String>,
) -> Result<Prepared<'a>, TrainError> {
    let params = settings.params();
    let (target_idx, labels) = read_labels(table, settings.target())?;
    let positives = labels.iter().filter(|&&y| y).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(TrainError::ConstantTarget {
            column: settings.target().to_string(),
            value: positives > 0,
        });
    }
    if positives < params.min_positives || negatives < params.min_positives {
        return Err(TrainError::TooFewExamples {
            positives,
            negatives,
            min: params.min_positives,
        });
    }
    let given = settings.settings();
    let mut excluded = Vec::new();
    let keys = named_columns(table, given, &mut excluded, notices)?;
    let na: HashSet<String> = DEFAULT_NA_VALUES
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .chain(given.na_values.iter().map(|s| s.to_ascii_lowercase()))
        .collect();
    let mut prepared = Prepared {
        table,
        columns: Vec::new(),
        raw: Vec::new(),
        weights: class_weights(params.class_weight, &labels, positives),
        labels,
        positives,
        params,
        excluded,
        keys,
        na,
    };
    prepared.columns = infer_feature_columns(&mut prepared, target_idx, notices)?;
    prepared.raw = raw_values(&prepared);
    Ok(prepared)
}

/// The target column's position and its labels.
fn read_labels(table: &Table, target: &str) -> Result<(usize, Vec<bool>), TrainError> {
    let target_idx = table
        .header
        .iter()
        .position(|h| h == target)
        .ok_or_else(|| TrainError::NoTargetColumn {
            target: target.to_string(),
            available: table.header.join(", "),
        })?;
    let labels = table
        .rows
        .iter()
        .zip(&table.lines)
        .map(|(row, &line)| {
            parse_target(&row[target_idx]).ok_or_else(|| TrainError::BadTarget {
                line,
                column: target.to_string(),
                value: row[target_idx].clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((target_idx, labels))
}

/// Resolves the columns the settings name (id, split, account and email
/// columns, exclusions, allowed leaks), adding those that are never
/// features to `excluded`.
fn named_columns(
    table: &Table,
    given: &TrainSettings,
    excluded: &mut Vec<String>,
    notices: &mut Vec<String>,
) -> Result<KeyColumns, TrainError> {
    let find = |flag: &'static str, column: &String| -> Result<usize, TrainError> {
        table
            .header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| TrainError::UnknownColumn {
                flag,
                column: column.clone(),
            })
    };
    let find_opt = |flag: &'static str, column: &Option<String>| {
        column.as_ref().map(|c| find(flag, c)).transpose()
    };
    if let Some(id) = &given.id {
        find("--id", id)?;
        excluded.push(id.clone());
    }
    if let Some(as_of) = &given.as_of_column {
        if given.events.is_some() && given.time_column.as_ref() != Some(as_of) {
            find("--as-of-column", as_of)?;
            notices.push(format!(
                "column \"{as_of}\" excluded from the lead features: it is the as-of time of the event features (--as-of-column)"
            ));
            excluded.push(as_of.clone());
        }
    }
    let time = find_opt("--time-column", &given.time_column)?;
    let group = find_opt("--group-column", &given.group_column)?;
    for c in time.iter().chain(group.iter()) {
        excluded.push(table.header[*c].clone());
    }
    let account = find_opt("--account-column", &given.account_column)?;
    let email = find_opt("--email-column", &given.email_column)?;
    for (c, flag) in [(account, "--account-column"), (email, "--email-column")] {
        if let Some(c) = c {
            let column = &table.header[c];
            if !excluded.contains(column) {
                notices.push(format!(
                    "column \"{column}\" excluded from the lead features: it keys accounts ({flag})"
                ));
                excluded.push(column.clone());
            }
        }
    }
    for pattern in &given.exclude {
        let hits: Vec<&String> = table
            .header
            .iter()
            .filter(|h| matches_pattern(h, pattern))
            .collect();
        if hits.is_empty() {
            return Err(TrainError::UnknownColumn {
                flag: "--exclude",
                column: pattern.clone(),
            });
        }
        excluded.extend(hits.into_iter().cloned());
    }
    for column in &given.allow_leaky {
        find("--allow-leaky", column)?;
    }
    Ok(KeyColumns {
        time,
        group,
        account,
        email,
    })
}

/// Every column that is not the target or excluded, with its inferred kind;
/// constant and identifier-like columns are dropped with a notice.
fn infer_feature_columns(
    prepared: &mut Prepared,
    target_idx: usize,
    notices: &mut Vec<String>,
) -> Result<Vec<Column>, TrainError> {
    let table = prepared.table;
    let mut columns: Vec<Column> = Vec::new();
    for (c, column) in table.header.iter().enumerate() {
        if c == target_idx || prepared.excluded.contains(column) {
            continue;
        }
        let present: Vec<(usize, &str)> = table
            .rows
            .iter()
            .enumerate()
            .map(|(r, row)| (r, row[c].trim()))
            .filter(|(_, v)| !prepared.is_missing(v))
            .collect();
        let distinct: HashSet<&str> = present.iter().map(|(_, v)| *v).collect();
        if distinct.len() <= 1 {
            notices.push(format!(
                "column \"{column}\" excluded: constant ({} distinct value)",
                distinct.len()
            ));
            prepared.excluded.push(column.clone());
            continue;
        }
        let (kind, read_as, reading) = match read_column(&present) {
            Ok(read) => (read.kind, read.read_as, read.reading),
            Err(StrayWord {
                row: r,
                word: v,
                numeric,
            }) => {
                // A column of numbers with a stray word in it is a data
                // error, not a categorical feature with thousands of levels.
                return Err(TrainError::NotNumeric {
                    line: table.lines[r],
                    column: column.clone(),
                    value: v.to_string(),
                    numeric,
                    present: present.len(),
                });
            }
        };
        if is_identifier_name(column)
            && (kind == FeatureKind::Categorical || distinct.len() == present.len())
        {
            notices.push(format!(
                "column \"{column}\" excluded: its name says it is an identifier ({} distinct values in {} rows); \
                 name it with --account-column if it keys the buying company",
                distinct.len(),
                present.len()
            ));
            prepared.excluded.push(column.clone());
            continue;
        }
        columns.push(Column {
            index: c,
            kind,
            read_as,
            reading,
        });
    }
    if columns.is_empty() {
        return Err(TrainError::NoFeatures);
    }
    Ok(columns)
}

/// Raw values, one row per lead, in feature order.
fn raw_values(prepared: &Prepared) -> Vec<Vec<Option<RawValue>>> {
    prepared
        .table
        .rows
        .iter()
        .map(|row| {
            prepared
                .columns
                .iter()
                .map(|col| {
                    let cell = row[col.index].trim();
                    if prepared.is_missing(cell) {
                        return None;
                    }
                    Some(match col.kind {
                        // Kinds were inferred from these very cells, so the parses succeed.
                        FeatureKind::Numeric => {
                            RawValue::Number(read_number(col.read_as, cell).unwrap_or(f64::NAN))
                        }
                        FeatureKind::Boolean => RawValue::Flag(parse_bool(cell).unwrap_or(false)),
                        FeatureKind::Categorical => RawValue::Category(cell.to_string()),
                    })
                })
                .collect()
        })
        .collect()
}

/// A numeric cell as the column was read: a date in its format, else a
/// number as people write them ([`parse_number_text`]).
fn read_number(read_as: Option<TextFormat>, cell: &str) -> Option<f64> {
    match read_as {
        Some(format) => format.parse(cell),
        None => parse_number_text(cell),
    }
}

/// How a column's cells are read: [`read_column`]'s answer.
struct ColumnRead {
    kind: FeatureKind,
    read_as: Option<TextFormat>,
    /// The report's description.
    reading: String,
}

/// A column of numbers with a stray word in it.
struct StrayWord {
    /// Row of the first word.
    row: usize,
    word: String,
    /// Cells that are numbers.
    numeric: usize,
}

/// The kind of a column from its present cells, how its text is read, and
/// the report's description of that.
///
/// # Errors
/// [`StrayWord`] for a column of numbers with a few words in it.
fn read_column(present: &[(usize, &str)]) -> Result<ColumnRead, StrayWord> {
    let read = |kind, read_as, reading: String| ColumnRead {
        kind,
        read_as,
        reading,
    };
    let plain = present
        .iter()
        .filter(|(_, v)| v.parse::<f64>().is_ok_and(f64::is_finite))
        .count();
    if plain == present.len() {
        return Ok(read(FeatureKind::Numeric, None, "number".to_string()));
    }
    let texts = present
        .iter()
        .filter(|(_, v)| parse_number_text(v).is_some())
        .count();
    if texts == present.len() {
        let example = present
            .iter()
            .find(|(_, v)| v.parse::<f64>().is_err())
            .map_or("", |(_, v)| v);
        return Ok(read(
            FeatureKind::Numeric,
            None,
            format!("number written as text (e.g. \"{example}\": currency sign and thousands separators dropped)"),
        ));
    }
    if present.iter().all(|(_, v)| parse_bool(v).is_some()) {
        return Ok(read(FeatureKind::Boolean, None, "yes/no".to_string()));
    }
    if plain < present.len()
        && present
            .iter()
            .all(|(_, v)| TextFormat::Date.parse(v).is_some())
    {
        let example = present.first().map_or("", |(_, v)| v);
        return Ok(read(
            FeatureKind::Numeric,
            Some(TextFormat::Date),
            format!("date (e.g. \"{example}\") as days since 1970-01-01"),
        ));
    }
    if texts >= 20 && texts * 100 >= present.len() * 95 {
        if let Some(&(r, v)) = present.iter().find(|(_, v)| parse_number_text(v).is_none()) {
            return Err(StrayWord {
                row: r,
                word: v.to_string(),
                numeric: texts,
            });
        }
    }
    Ok(read(FeatureKind::Categorical, None, "category".to_string()))
}

/// Whether a column's name says it is an identifier: `id`, or ending in
/// `_id` / ` ID` / `Id` once in snake case (`customerID`, `lead_id`).
fn is_identifier_name(column: &str) -> bool {
    snake_case(column).rsplit('_').next() == Some("id")
}

/// Per-row weights of the fitting loss (`None`: every row counts once).
fn class_weights(choice: ClassWeight, labels: &[bool], positives: usize) -> Option<Vec<f64>> {
    match choice {
        ClassWeight::None => None,
        ClassWeight::Balanced => {
            let n = labels.len() as f64;
            let negatives = labels.len() - positives;
            let (wp, wn) = (n / (2.0 * positives as f64), n / (2.0 * negatives as f64));
            Some(labels.iter().map(|&y| if y { wp } else { wn }).collect())
        }
    }
}

/// Step "guard": the leakage guard on every labelled row. Findings on
/// columns in `allow_leaky` are allowed with a notice; any other refuses.
///
/// # Errors
/// [`TrainError::Leaky`] with the refused findings.
pub(crate) fn guard_leakage(
    prepared: &Prepared,
    given: &TrainSettings,
    progress: &dyn Progress,
    notices: &mut Vec<String>,
) -> Result<Vec<LeakFinding>, TrainError> {
    progress.start("leakage guard", prepared.columns.len() as u64);
    let findings = leak_findings(prepared);
    progress.finish(&format!("{} finding(s)", findings.len()));
    // A refused column's error shows all of its evidence, warnings too
    // (the pure level behind a refusal by lift, say).
    let refused_columns: HashSet<&str> = findings
        .iter()
        .filter(|f| f.tier == Tier::Refuse && !given.allow_leaky.contains(&f.column))
        .map(|f| f.column.as_str())
        .collect();
    let refused: Vec<LeakFinding> = findings
        .iter()
        .filter(|f| refused_columns.contains(f.column.as_str()))
        .cloned()
        .collect();
    if !refused.is_empty() {
        return Err(TrainError::Leaky(refused));
    }
    for f in &findings {
        notices.push(match f.tier {
            Tier::Refuse => format!("allowed by --allow-leaky: {}", f.evidence),
            Tier::Warn => format!("leakage warning (kept): {}", f.evidence),
        });
    }
    Ok(findings)
}

/// Every leakage finding on the prepared columns, refusals and warnings,
/// whatever `--allow-leaky` says.
pub(crate) fn leak_findings(prepared: &Prepared) -> Vec<LeakFinding> {
    let leak_columns: Vec<leakage::ColumnValues> = prepared
        .columns
        .iter()
        .enumerate()
        .map(|(f, col)| leakage::ColumnValues {
            name: &prepared.table.header[col.index],
            kind: col.kind,
            values: prepared.raw.iter().map(|r| r[f].as_ref()).collect(),
        })
        .collect();
    leakage::find_leaks(
        &leak_columns,
        &prepared.labels,
        &LeakageThresholds::default(),
    )
}

/// Step "split": account keys, the held-out split and the folds. The split
/// is the given test file's, else out-of-time on the time column, else
/// grouped (by the group column, else by account: a lead without one is a
/// group of its own, so that no account straddles training and test rows or
/// two folds), else stratified.
///
/// # Errors
/// [`TrainError::BadTime`] for a time cell that is not a time;
/// [`TrainError::Fit`] when the training or the test rows hold one class.
pub(crate) fn split_rows(
    prepared: &Prepared,
    given_test: Option<usize>,
    given: &TrainSettings,
) -> Result<HeldOutSplit, TrainError> {
    let table = prepared.table;
    let params = prepared.params;
    let keys = prepared.keys;
    let account_keys: Option<Vec<Option<String>>> =
        (keys.account.is_some() || keys.email.is_some()).then(|| {
            table
                .rows
                .iter()
                .map(|row| {
                    let cell = |c: Option<usize>| {
                        c.map(|c| row[c].as_str())
                            .filter(|v| !prepared.is_missing(v))
                    };
                    accounts::account_key(cell(keys.account), cell(keys.email)).map(|k| k.key)
                })
                .collect()
        });
    let split_groups: Option<(Vec<String>, String)> = match (keys.group, &account_keys) {
        (Some(c), _) => Some((
            table.rows.iter().map(|r| r[c].trim().to_string()).collect(),
            format!("grouped by \"{}\"", table.header[c]),
        )),
        (None, Some(account_keys)) => Some((
            account_keys
                .iter()
                .enumerate()
                .map(|(i, k)| match k {
                    Some(k) => format!("account:{k}"),
                    None => format!("row:{i}"),
                })
                .collect(),
            format!("grouped by account ({})", account_key_description(given)),
        )),
        (None, None) => None,
    };

    let labels = &prepared.labels;
    let (train_idx, test_idx, method) = if let Some(first) = given_test {
        (
            (0..first).collect(),
            (first..table.rows.len()).collect(),
            format!(
                "given test file {}",
                given
                    .test_data
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        )
    } else if let Some(c) = keys.time {
        let times: Vec<splits::TimeKey> = table
            .rows
            .iter()
            .zip(&table.lines)
            .map(|(row, &line)| {
                splits::parse_time(&row[c]).ok_or_else(|| TrainError::BadTime {
                    line,
                    column: table.header[c].clone(),
                    value: row[c].clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        let (a, b) = splits::time_split(&times, params.test_fraction);
        (a, b, format!("out-of-time on \"{}\"", table.header[c]))
    } else if let Some((groups, method)) = &split_groups {
        let (a, b) = splits::group_split(groups, params.test_fraction, params.seed);
        (a, b, method.clone())
    } else {
        let (a, b) = stratified_split(labels, params.test_fraction, params.seed);
        (a, b, "stratified".to_string())
    };
    let y_train: Vec<bool> = train_idx.iter().map(|&i: &usize| labels[i]).collect();
    let y_test: Vec<bool> = test_idx.iter().map(|&i: &usize| labels[i]).collect();
    for (part, y) in [("training", &y_train), ("test", &y_test)] {
        if !y.contains(&true) || !y.contains(&false) {
            return Err(TrainError::Fit(format!(
                "the {method} split leaves the {part} rows with a single class; use more data or another split"
            )));
        }
    }

    let folds = match &split_groups {
        Some((groups, _)) => {
            let groups: Vec<String> = train_idx.iter().map(|&i| groups[i].clone()).collect();
            splits::group_folds(&groups, params.folds, params.seed)
        }
        None => splits::stratified_folds(&y_train, params.folds, params.seed),
    };
    Ok(HeldOutSplit {
        train_idx,
        test_idx,
        y_train,
        y_test,
        method,
        folds,
        account_keys,
    })
}

/// Step "split", continued: the settings that name features are checked
/// before any fitting. Each behavioural feature must be a numeric feature;
/// the stage rules are `[[stages]]` checked against the feature names, else
/// the defaults for these features ([`default_stages::default_for_features`],
/// with a notice).
///
/// # Errors
/// [`TrainError::Accounts`] for a behavioural feature that is not a numeric
/// feature, [`TrainError::Stages`] for a rule that does not fit.
pub(crate) fn check_named_features(
    prepared: &Prepared,
    given: &TrainSettings,
    notices: &mut Vec<String>,
) -> Result<StageRules, TrainError> {
    let names = prepared.feature_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for wanted in &given.behavioural_features {
        let kind = names
            .iter()
            .position(|n| n == wanted)
            .map(|i| prepared.columns[i].kind);
        if kind != Some(FeatureKind::Numeric) {
            return Err(TrainError::Accounts(format!(
                "behavioural feature {wanted:?} is not a numeric feature of this model \
                 (numeric features: {})",
                names
                    .iter()
                    .zip(&prepared.columns)
                    .filter(|(_, c)| c.kind == FeatureKind::Numeric)
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    match &given.stages {
        Some(rules) => {
            rules
                .validate(&names)
                .map_err(|e| TrainError::Stages(e.to_string()))?;
            Ok(rules.clone())
        }
        None => {
            let rules = default_stages::default_for_features(&names);
            notices.push(if rules.rules().is_empty() {
                "no stage rules: none of the default rules fits these features, so responses \
                 leave the stage blank; write [[stages]] in train.toml to place leads in stages"
                    .to_string()
            } else {
                format!(
                    "stage rules: {} default rule(s) for these features \
                     (default_stages::default_for_features); write [[stages]] in train.toml to change them",
                    rules.rules().len()
                )
            });
            Ok(rules)
        }
    }
}

/// How accounts were keyed, for the report.
pub(crate) fn account_key_description(given: &TrainSettings) -> String {
    match (&given.account_column, &given.email_column) {
        (Some(a), Some(e)) => format!("\"{a}\", else the email domain of \"{e}\""),
        (Some(a), None) => format!("\"{a}\""),
        (None, Some(e)) => format!("the email domain of \"{e}\""),
        (None, None) => String::new(),
    }
}

fn parse_target(cell: &str) -> Option<bool> {
    let t = cell.trim();
    match t {
        "1" | "1.0" => Some(true),
        "0" | "0.0" => Some(false),
        _ => parse_bool(t),
    }
}

fn matches_pattern(column: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => column.starts_with(prefix),
        None => column == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_patterns() {
        assert!(matches_pattern(
            "Asymmetrique Activity Index",
            "Asymmetrique*"
        ));
        assert!(!matches_pattern("Tags", "Tag"));
    }

    #[test]
    fn targets_parse_as_booleans() {
        for (cell, want) in [
            ("1", Some(true)),
            (" 0.0 ", Some(false)),
            ("yes", Some(true)),
            ("False", Some(false)),
            ("maybe", None),
        ] {
            assert_eq!(parse_target(cell), want, "{cell}");
        }
    }
}
