//! Training from events: a leads table plus an events table become one table
//! of point-in-time features.
//!
//! Each lead's window features are computed by
//! [`CompiledEvents::lead_values`], the function the server calls on a
//! request's events, from the lead's events strictly before its as-of time
//! (`--as-of-column`, plus `--as-of-offset-days`); events at or after it are
//! never seen. The features become ordinary numeric columns of the leads
//! table (an empty cell where a feature has no value, e.g. days since the
//! last visit of a lead that never visited), and the definition goes into
//! the artifact, so the served model computes them the same way.
//! `leadscore-train features` writes this table for inspection.

use std::collections::{BTreeSet, HashMap};

use crate::scoring::events::{normalise_event_type, CompiledEvents, EventDefinition, RawEvent};
use crate::scoring::time::{parse_timestamp, Timestamp, MS_PER_DAY};
use crate::train::error::TrainError;
use crate::train::settings::TrainSettings;
use crate::train::table::{self, Table};

/// What joining the events did.
#[derive(Debug, Clone, PartialEq)]
pub struct Materialised {
    /// The definition used (given, or the defaults for the types present).
    pub definition: EventDefinition,
    /// Events read.
    pub events: usize,
    /// Events whose lead id is not in the leads table (ignored).
    pub unknown_leads: usize,
    /// Events at or after their lead's as-of time (never seen).
    pub after_as_of: usize,
    /// Events of types the definition does not name (ignored).
    pub unknown_types: usize,
}

impl Materialised {
    /// One line for the run's notices.
    pub fn notice(&self) -> String {
        format!(
            "events: {} read, {} window features of {} event types added; ignored: {} after their lead's as-of time, {} of unknown leads, {} of types the definition does not name",
            self.events,
            self.definition.features.len(),
            self.definition.event_types.len(),
            self.after_as_of,
            self.unknown_leads,
            self.unknown_types
        )
    }
}

/// One parsed event row: type, time, optional value.
type LeadEvent<'a> = (&'a str, Timestamp, Option<f64>);

/// The columns of the events table, from the settings (defaults
/// `lead_id`, `timestamp`, `event_type`, no value column).
struct EventColumns {
    lead: usize,
    time: usize,
    kind: usize,
    value: Option<usize>,
}

fn column(table: &Table, flag: &'static str, name: &str) -> Result<usize, TrainError> {
    table
        .header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| TrainError::UnknownColumn {
            flag,
            column: name.to_string(),
        })
}

/// Reads `settings.events` and adds the window features of each lead of
/// `leads` as columns. `leads_path` names the leads file in messages.
///
/// # Errors
/// [`TrainError::MissingSetting`] without `--id` or `--as-of-column`;
/// [`TrainError::UnknownColumn`] for a named column not in its file;
/// [`TrainError::Events`] for an unparsable time, value or as-of cell, or a
/// feature name that is already a column; [`TrainError::EventDefinition`]
/// for a `[event_features]` definition that does not validate.
pub fn materialise(
    leads: &mut Table,
    leads_path: &str,
    settings: &TrainSettings,
) -> Result<Option<Materialised>, TrainError> {
    let Some(events_path) = &settings.events else {
        return Ok(None);
    };
    let shown = events_path.display().to_string();
    let bytes = std::fs::read(events_path).map_err(|source| TrainError::Io {
        path: shown.clone(),
        source,
    })?;
    let events = table::read_table(&bytes, &shown)?;
    let id_name = settings.id.as_deref().ok_or(TrainError::MissingSetting {
        flag: "--id",
        key: "id",
    })?;
    let as_of_name = settings
        .as_of_column
        .as_deref()
        .ok_or(TrainError::MissingSetting {
            flag: "--as-of-column",
            key: "as_of_column",
        })?;
    let id_col = column(leads, "--id", id_name)?;
    let as_of_col = column(leads, "--as-of-column", as_of_name)?;
    let cols = EventColumns {
        lead: column(
            &events,
            "--event-lead-column",
            settings.event_lead_column.as_deref().unwrap_or("lead_id"),
        )?,
        time: column(
            &events,
            "--event-time-column",
            settings.event_time_column.as_deref().unwrap_or("timestamp"),
        )?,
        kind: column(
            &events,
            "--event-type-column",
            settings
                .event_type_column
                .as_deref()
                .unwrap_or("event_type"),
        )?,
        value: match settings.event_value_column.as_deref() {
            Some(name) => Some(column(&events, "--event-value-column", name)?),
            None => None,
        },
    };

    // Events by lead, times and values parsed (errors name the line).
    let bad = |path: &str, line: u64, problem: String| TrainError::Events {
        path: path.to_string(),
        line,
        problem,
    };
    let mut by_lead: HashMap<&str, Vec<LeadEvent<'_>>> = HashMap::new();
    let mut types = BTreeSet::new();
    let mut types_with_values = BTreeSet::new();
    for (row, &line) in events.rows.iter().zip(&events.lines) {
        let Some(kind) = normalise_event_type(&row[cols.kind]) else {
            return Err(bad(&shown, line, "empty event type".into()));
        };
        let at = parse_timestamp(row[cols.time].trim()).map_err(|e| {
            bad(
                &shown,
                line,
                format!("column \"{}\": {e}", events.header[cols.time]),
            )
        })?;
        let value = match cols.value.map(|c| row[c].trim()) {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        bad(
                            &shown,
                            line,
                            format!(
                                "column \"{}\": \"{text}\" is not a finite number",
                                events.header[cols.value.unwrap_or_default()]
                            ),
                        )
                    })?,
            ),
        };
        types.insert(kind.to_string());
        if value.is_some() {
            types_with_values.insert(kind.to_string());
        }
        by_lead
            .entry(row[cols.lead].trim())
            .or_default()
            .push((kind, at, value));
    }

    let definition = match &settings.event_features {
        Some(given) => given.clone(),
        None => EventDefinition::defaults(&types, &types_with_values),
    };
    definition.validate()?;
    for name in definition.feature_names() {
        if leads.header.iter().any(|h| h == name) {
            return Err(bad(
                leads_path,
                1,
                format!("column \"{name}\" is also a window feature computed from the events; rename one"),
            ));
        }
    }
    let compiled: CompiledEvents = definition.compile();
    let offset = settings.as_of_offset_days.unwrap_or(0.0);
    let offset_ms = (offset * MS_PER_DAY as f64).round() as i64;

    let mut out = Materialised {
        definition: definition.clone(),
        events: events.rows.len(),
        unknown_leads: 0,
        after_as_of: 0,
        unknown_types: 0,
    };
    let known: std::collections::HashSet<&str> =
        leads.rows.iter().map(|r| r[id_col].trim()).collect();
    out.unknown_leads = by_lead
        .iter()
        .filter(|(id, _)| !known.contains(*id))
        .map(|(_, e)| e.len())
        .sum();
    let mut values = vec![0.0; compiled.width()];
    let mut new_cells: Vec<Vec<String>> = Vec::with_capacity(leads.rows.len());
    for (row, &line) in leads.rows.iter().zip(&leads.lines) {
        let cell = row[as_of_col].trim();
        let as_of = parse_timestamp(cell)
            .map_err(|e| bad(leads_path, line, format!("column \"{as_of_name}\": {e}")))?;
        let as_of = Timestamp(as_of.0.saturating_add(offset_ms));
        let raw: Vec<RawEvent<'_>> = by_lead
            .get(row[id_col].trim())
            .map(|events| {
                events
                    .iter()
                    .map(|&(event_type, at, value)| RawEvent {
                        event_type,
                        at,
                        value,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let summary = compiled.compute(&raw, as_of, &mut values);
        out.after_as_of += summary.after_as_of;
        out.unknown_types += summary.unknown_types;
        new_cells.push(
            values
                .iter()
                .map(|v| {
                    if v.is_finite() {
                        v.to_string()
                    } else {
                        String::new()
                    }
                })
                .collect(),
        );
    }
    leads
        .header
        .extend(compiled.feature_names().iter().cloned());
    for (row, cells) in leads.rows.iter_mut().zip(new_cells) {
        row.extend(cells);
    }
    Ok(Some(out))
}

/// The table `leadscore-train features` writes: the leads file with its
/// window features, as CSV (numbers in Rust's shortest round-trip form, so
/// they read back bit for bit).
///
/// # Errors
/// As [`materialise`], and reading the leads file.
pub fn feature_table(settings: &TrainSettings) -> Result<(Table, Materialised), TrainError> {
    let data = settings.data.as_ref().ok_or(TrainError::MissingSetting {
        flag: "--data",
        key: "data",
    })?;
    let shown = data.display().to_string();
    let bytes = std::fs::read(data).map_err(|source| TrainError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut leads = table::read_table(&bytes, &shown)?;
    let materialised =
        materialise(&mut leads, &shown, settings)?.ok_or(TrainError::MissingSetting {
            flag: "--events",
            key: "events",
        })?;
    Ok((leads, materialised))
}

/// A table as CSV text (cells quoted when they hold a comma, quote or
/// newline).
pub fn to_csv(table: &Table) -> String {
    let quote = |cell: &str| {
        if cell.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", cell.replace('"', "\"\""))
        } else {
            cell.to_string()
        }
    };
    let mut out = String::new();
    for row in std::iter::once(&table.header).chain(&table.rows) {
        let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}
