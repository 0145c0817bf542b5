//! Behaviour in, features out: the one definition of point-in-time window
//! features over a lead's raw events, shared by the trainer (which
//! materialises them for every lead of a leads table) and the server (which
//! computes them per request from the events a CRM sends).
//!
//! An [`EventDefinition`] names the event types (`page_view`,
//! `demo_action`, `report_created`, …) and lists [`WindowFeature`]s, each an
//! [`Aggregate`] of one type's events as of a time T:
//! - `count` in the last N days, `active_days` (distinct UTC days with an
//!   event) in the last N days, `value_sum` of the events' optional values in
//!   the last N days;
//! - `days_since_last` and `days_since_first` (missing when there is no
//!   such event, so the feature pipeline imputes them like any gap);
//! - `decayed_count`: `Σ 2^(−age / half_life)`;
//! - `ever`: 1 when the lead ever did it (the brief's "magic behaviour", such
//!   as creating a report in the demo), else 0;
//! - `ratio` of two other window features (missing when the denominator is 0).
//!
//! **Point in time.** Only events strictly before T count; events at or
//! after T are never seen, and [`EventSummary::after_as_of`] says how many
//! were ignored. Event types the definition does not name are counted in
//! [`EventSummary::unknown_types`], never silently dropped.
//!
//! [`EventDefinition::compute`] fills a caller's buffer and allocates
//! nothing per window: one pass over the events, with the distinct days of
//! `active_days` kept in a fixed bitset on the stack (windows of at most
//! [`MAX_WINDOW_DAYS`] days).

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::scoring::time::{Timestamp, MS_PER_DAY};

/// The longest window `count`, `active_days` and `value_sum` accept.
pub const MAX_WINDOW_DAYS: u32 = 366;

/// Half-life of the default decayed counts, in days.
pub const DEFAULT_HALF_LIFE_DAYS: f64 = 14.0;

/// Windows (days) of the default counts.
pub const DEFAULT_WINDOWS: [u32; 3] = [7, 30, 90];

/// Length of the account-level windows ([`EventDefinition::account_windows`]).
pub const ACCOUNT_WINDOW_DAYS: u32 = 30;

/// The definition stored in `model.json` as `"events"` and shown by GetModel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDefinition {
    /// The event types the model knows, in a stable order.
    pub event_types: Vec<String>,
    /// The features computed from them, in the order the model reads them.
    pub features: Vec<WindowFeature>,
}

/// One numeric feature computed from events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFeature {
    /// The feature's name in the model (e.g. `report_created_count_30d`).
    pub name: String,
    /// What it computes, e.g. `{"kind": "count", "event": "page_view", "days": 30}`.
    pub aggregate: Aggregate,
}

/// What a [`WindowFeature`] computes, as of a time T.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Aggregate {
    /// Events of `event` in `[T − days, T)`.
    Count {
        /// Event type.
        event: String,
        /// Window length.
        days: u32,
    },
    /// Distinct UTC days with an event of `event` in `[T − days, T)`.
    ActiveDays {
        /// Event type.
        event: String,
        /// Window length.
        days: u32,
    },
    /// Sum of the values of `event`'s events in `[T − days, T)` (events
    /// without a value add nothing).
    ValueSum {
        /// Event type.
        event: String,
        /// Window length.
        days: u32,
    },
    /// Days from the latest event of `event` before T to T; missing if none.
    DaysSinceLast {
        /// Event type.
        event: String,
    },
    /// Days from the earliest event of `event` before T to T; missing if none.
    DaysSinceFirst {
        /// Event type.
        event: String,
    },
    /// `Σ 2^(−age_days / half_life_days)` over `event`'s events before T.
    DecayedCount {
        /// Event type.
        event: String,
        /// Half-life in days (> 0).
        half_life_days: f64,
    },
    /// 1 when any event of `event` happened before T, else 0.
    Ever {
        /// Event type.
        event: String,
    },
    /// `numerator / denominator`, two other window features listed before
    /// this one; missing when the denominator is 0 or missing.
    Ratio {
        /// Name of the numerator feature.
        numerator: String,
        /// Name of the denominator feature.
        denominator: String,
    },
}

impl Aggregate {
    /// The event type this aggregate reads (`None` for a ratio).
    pub fn event(&self) -> Option<&str> {
        match self {
            Aggregate::Count { event, .. }
            | Aggregate::ActiveDays { event, .. }
            | Aggregate::ValueSum { event, .. }
            | Aggregate::DaysSinceLast { event }
            | Aggregate::DaysSinceFirst { event }
            | Aggregate::DecayedCount { event, .. }
            | Aggregate::Ever { event } => Some(event),
            Aggregate::Ratio { .. } => None,
        }
    }

    /// A sales-language reason template for the feature (`{value}` is the
    /// computed value), e.g. "{value} report created events in the last 30
    /// days".
    pub fn reason_template(&self) -> String {
        let pretty = |e: &str| e.replace('_', " ");
        match self {
            Aggregate::Count { event, days } => {
                format!("{{value}} {} events in the last {days} days", pretty(event))
            }
            Aggregate::ActiveDays { event, days } => {
                format!("{} on {{value}} of the last {days} days", pretty(event))
            }
            Aggregate::ValueSum { event, days } => {
                format!("{} worth {{value}} in the last {days} days", pretty(event))
            }
            Aggregate::DaysSinceLast { event } => {
                format!("no {} for {{value}} days", pretty(event))
            }
            Aggregate::DaysSinceFirst { event } => {
                format!("first {} {{value}} days ago", pretty(event))
            }
            Aggregate::DecayedCount { event, .. } => {
                format!("recent {} activity {{value}}", pretty(event))
            }
            Aggregate::Ever { event } => format!("has done {}", pretty(event)),
            Aggregate::Ratio {
                numerator,
                denominator,
            } => format!(
                "{} per {} is {{value}}",
                pretty(numerator),
                pretty(denominator)
            ),
        }
    }

    /// The reason of an `ever` feature when the lead never did it ("never
    /// did sales demo"); `None` for other aggregates, whose template reads
    /// for any value.
    pub fn reason_when_false(&self) -> Option<String> {
        match self {
            Aggregate::Ever { event } => Some(format!("never did {}", event.replace('_', " "))),
            _ => None,
        }
    }

    /// A value as a reason shows it (the exact value stays in the computed
    /// features): counts, active days and flags as whole numbers; days
    /// since to whole days, to one decimal under 10 days ("for 45 days",
    /// "for 2.3 days"); decayed counts and value sums to one decimal;
    /// ratios to two. The result prints with no more digits than that.
    pub fn reason_value(&self, x: f64) -> f64 {
        let to = |decimals: i32| {
            let scale = 10f64.powi(decimals);
            let rounded = (x * scale).round() / scale;
            // Not "-0" for a tiny negative value.
            if rounded == 0.0 {
                0.0
            } else {
                rounded
            }
        };
        match self {
            Aggregate::Count { .. } | Aggregate::ActiveDays { .. } | Aggregate::Ever { .. } => {
                to(0)
            }
            Aggregate::DaysSinceLast { .. } | Aggregate::DaysSinceFirst { .. } => {
                to(if x.abs() < 9.95 { 1 } else { 0 })
            }
            Aggregate::DecayedCount { .. } | Aggregate::ValueSum { .. } => to(1),
            Aggregate::Ratio { .. } => to(2),
        }
    }

    /// The `kind` tag as stored: `count`, `active_days`, `value_sum`,
    /// `days_since_last`, `days_since_first`, `decayed_count`, `ever`, `ratio`.
    pub fn kind(&self) -> &'static str {
        match self {
            Aggregate::Count { .. } => "count",
            Aggregate::ActiveDays { .. } => "active_days",
            Aggregate::ValueSum { .. } => "value_sum",
            Aggregate::DaysSinceLast { .. } => "days_since_last",
            Aggregate::DaysSinceFirst { .. } => "days_since_first",
            Aggregate::DecayedCount { .. } => "decayed_count",
            Aggregate::Ever { .. } => "ever",
            Aggregate::Ratio { .. } => "ratio",
        }
    }

    /// What the feature means, in words, e.g. "report created events in
    /// the last 30 days" (shown by GetModel).
    pub fn description(&self) -> String {
        let pretty = |e: &str| e.replace('_', " ");
        match self {
            Aggregate::Count { event, days } => {
                format!("{} events in the last {days} days", pretty(event))
            }
            Aggregate::ActiveDays { event, days } => {
                format!(
                    "days with a {} event in the last {days} days",
                    pretty(event)
                )
            }
            Aggregate::ValueSum { event, days } => {
                format!("sum of {} values in the last {days} days", pretty(event))
            }
            Aggregate::DaysSinceLast { event } => format!("days since the last {}", pretty(event)),
            Aggregate::DaysSinceFirst { event } => {
                format!("days since the first {}", pretty(event))
            }
            Aggregate::DecayedCount {
                event,
                half_life_days,
            } => format!(
                "{} events, each weighted by 2^(-age / {half_life_days} days)",
                pretty(event)
            ),
            Aggregate::Ever { event } => {
                format!("1 if the lead ever had a {} event, else 0", pretty(event))
            }
            Aggregate::Ratio {
                numerator,
                denominator,
            } => format!("{numerator} / {denominator}"),
        }
    }

    /// Boolean-valued aggregates ([`Aggregate::Ever`]) show as yes/no.
    pub fn is_flag(&self) -> bool {
        matches!(self, Aggregate::Ever { .. })
    }
}

/// An event type as the definition compares it: the text without
/// surrounding whitespace; `None` when nothing is left. The trainer (reading
/// an events table) and the server (reading a request's events) both pass
/// every event type through this one function before it reaches
/// [`CompiledEvents::compute`], so `" page_view "` is `page_view` on both
/// sides and an empty type is refused by both.
pub fn normalise_event_type(raw: &str) -> Option<&str> {
    let t = raw.trim();
    (!t.is_empty()).then_some(t)
}

/// One raw event as the trainer reads it or a request sends it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawEvent<'a> {
    /// Event type as sent (e.g. `report_created`).
    pub event_type: &'a str,
    /// When it happened.
    pub at: Timestamp,
    /// Optional numeric value (e.g. seconds on a page, a deal size).
    pub value: Option<f64>,
}

/// What [`EventDefinition::compute`] saw besides the features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventSummary {
    /// Events before the as-of time whose type the definition does not name.
    pub unknown_types: usize,
    /// Events at or after the as-of time, ignored.
    pub after_as_of: usize,
    /// Events that counted.
    pub used: usize,
}

/// Why an [`EventDefinition`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDefinitionError {
    /// Two features share a name, or an event type is listed twice.
    #[error("events: '{0}' is defined twice")]
    Duplicate(String),
    /// A feature reads an event type not in `event_types`.
    #[error("events: feature '{feature}' reads event type '{event}', which is not in event_types")]
    UnknownEventType {
        /// The feature.
        feature: String,
        /// The type it names.
        event: String,
    },
    /// A window is 0 days or longer than [`MAX_WINDOW_DAYS`].
    #[error("events: feature '{feature}' has a window of {days} days; it must be 1 to {MAX_WINDOW_DAYS}")]
    BadWindow {
        /// The feature.
        feature: String,
        /// Its window.
        days: u32,
    },
    /// A half-life that is not finite and positive.
    #[error("events: feature '{feature}' has half-life {half_life}; it must be finite and > 0")]
    BadHalfLife {
        /// The feature.
        feature: String,
        /// Its half-life in days.
        half_life: String,
    },
    /// A ratio names a feature that is not listed before it.
    #[error("events: ratio '{feature}' reads '{operand}', which must be a window feature listed before it")]
    BadRatio {
        /// The ratio.
        feature: String,
        /// The operand it names.
        operand: String,
    },
}

impl EventDefinition {
    /// Gives each model feature computed from events its behaviour reason
    /// ("no page view for {value} days", "{value} report created events in
    /// the last 30 days"; "has done report created" for an `ever` feature,
    /// with "never did report created" as the false text of one read as a
    /// boolean; the server says the latter for one read as a number at 0),
    /// unless the feature already has a reason of its own (one other than
    /// its kind's default template). The trainer calls it on the artifact
    /// it writes and the server on every artifact it loads, so artifacts
    /// written before a template changed explain in behaviour too.
    pub fn apply_reason_templates(&self, specs: &mut [crate::scoring::features::FeatureSpec]) {
        use crate::scoring::features::{
            FeatureKind, DEFAULT_CATEGORICAL_REASON, DEFAULT_NUMERIC_REASON, DEFAULT_TRUE_REASON,
        };
        for feature in &self.features {
            let Some(spec) = specs.iter_mut().find(|s| s.name == feature.name) else {
                continue;
            };
            let defaults = [
                "",
                DEFAULT_NUMERIC_REASON,
                DEFAULT_CATEGORICAL_REASON,
                DEFAULT_TRUE_REASON,
            ];
            if !defaults.contains(&spec.reason.as_str()) {
                continue;
            }
            match (&feature.aggregate, spec.kind()) {
                (aggregate @ Aggregate::Ever { .. }, FeatureKind::Boolean) => {
                    spec.reason = aggregate.reason_template();
                    let default_false = [crate::scoring::features::DEFAULT_FALSE_REASON, ""];
                    if default_false.contains(&spec.reason_when_false.as_str()) {
                        spec.reason_when_false = aggregate.reason_when_false().unwrap_or_default();
                    }
                }
                (aggregate, FeatureKind::Numeric) => spec.reason = aggregate.reason_template(),
                _ => {}
            }
        }
    }

    /// The default definition for the event types present: per type, counts
    /// in the last 7, 30 and 90 days, active days in the last 30, days since
    /// the last and the first event, a decayed count (half-life 14 days),
    /// "ever", and the 30-day sum of values for types whose events carry
    /// values (`types_with_values`). Types are sorted by name.
    pub fn defaults(types: &BTreeSet<String>, types_with_values: &BTreeSet<String>) -> Self {
        let mut features = Vec::new();
        for event in types {
            let mut add = |name: String, aggregate: Aggregate| {
                features.push(WindowFeature { name, aggregate });
            };
            for days in DEFAULT_WINDOWS {
                add(
                    format!("{event}_count_{days}d"),
                    Aggregate::Count {
                        event: event.clone(),
                        days,
                    },
                );
            }
            add(
                format!("{event}_active_days_30d"),
                Aggregate::ActiveDays {
                    event: event.clone(),
                    days: 30,
                },
            );
            add(
                format!("{event}_days_since_last"),
                Aggregate::DaysSinceLast {
                    event: event.clone(),
                },
            );
            add(
                format!("{event}_days_since_first"),
                Aggregate::DaysSinceFirst {
                    event: event.clone(),
                },
            );
            add(
                format!("{event}_decayed_14d"),
                Aggregate::DecayedCount {
                    event: event.clone(),
                    half_life_days: DEFAULT_HALF_LIFE_DAYS,
                },
            );
            add(
                format!("{event}_ever"),
                Aggregate::Ever {
                    event: event.clone(),
                },
            );
            if types_with_values.contains(event) {
                add(
                    format!("{event}_value_sum_30d"),
                    Aggregate::ValueSum {
                        event: event.clone(),
                        days: 30,
                    },
                );
            }
        }
        EventDefinition {
            event_types: types.iter().cloned().collect(),
            features,
        }
    }

    /// Checks names, windows, half-lives and ratio operands.
    ///
    /// # Errors
    /// The first [`EventDefinitionError`] found.
    pub fn validate(&self) -> Result<(), EventDefinitionError> {
        let mut types = BTreeSet::new();
        for t in &self.event_types {
            if !types.insert(t.as_str()) {
                return Err(EventDefinitionError::Duplicate(t.clone()));
            }
        }
        let mut names = BTreeSet::new();
        for f in &self.features {
            if let Some(event) = f.aggregate.event() {
                if !types.contains(event) {
                    return Err(EventDefinitionError::UnknownEventType {
                        feature: f.name.clone(),
                        event: event.to_string(),
                    });
                }
            }
            match &f.aggregate {
                Aggregate::Count { days, .. }
                | Aggregate::ActiveDays { days, .. }
                | Aggregate::ValueSum { days, .. } => {
                    if *days == 0 || *days > MAX_WINDOW_DAYS {
                        return Err(EventDefinitionError::BadWindow {
                            feature: f.name.clone(),
                            days: *days,
                        });
                    }
                }
                Aggregate::DecayedCount { half_life_days, .. } => {
                    if !(half_life_days.is_finite() && *half_life_days > 0.0) {
                        return Err(EventDefinitionError::BadHalfLife {
                            feature: f.name.clone(),
                            half_life: half_life_days.to_string(),
                        });
                    }
                }
                Aggregate::Ratio {
                    numerator,
                    denominator,
                } => {
                    for operand in [numerator, denominator] {
                        if !names.contains(operand.as_str()) {
                            return Err(EventDefinitionError::BadRatio {
                                feature: f.name.clone(),
                                operand: operand.clone(),
                            });
                        }
                    }
                }
                Aggregate::DaysSinceLast { .. }
                | Aggregate::DaysSinceFirst { .. }
                | Aggregate::Ever { .. } => {}
            }
            if !names.insert(f.name.as_str()) {
                return Err(EventDefinitionError::Duplicate(f.name.clone()));
            }
        }
        Ok(())
    }

    /// The account-level windows: per event type, its `count` feature over
    /// the last [`ACCOUNT_WINDOW_DAYS`] days, in definition order. Counts add
    /// up, so summed over an account's contacts they are the account's events
    /// of that type in the window, the maximum is its most active contact's,
    /// and a contact with any of them above 0 is an *engaged contact of the
    /// last 30 days*. The trainer makes them the account model's behavioural
    /// features for a model trained from events, with
    /// [`crate::scoring::accounts::EngagementRule::activity_only`].
    pub fn account_windows(&self) -> Vec<&str> {
        self.features
            .iter()
            .filter(|f| {
                matches!(f.aggregate, Aggregate::Count { days, .. } if days == ACCOUNT_WINDOW_DAYS)
            })
            .map(|f| f.name.as_str())
            .collect()
    }

    /// Feature names in order.
    pub fn feature_names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// Resolves the definition for fast repeated use (type and ratio
    /// indices). Call on a validated definition.
    pub fn compile(&self) -> CompiledEvents {
        let type_index = |e: &str| self.event_types.iter().position(|t| t == e);
        let feature_index = |n: &str| self.features.iter().position(|f| f.name == n);
        let plans: Vec<Plan> = self
            .features
            .iter()
            .map(|f| {
                let ty = f
                    .aggregate
                    .event()
                    .and_then(type_index)
                    .unwrap_or(usize::MAX);
                match &f.aggregate {
                    Aggregate::Count { days, .. } => Plan::Count {
                        ty,
                        window: window_ms(*days),
                    },
                    Aggregate::ActiveDays { days, .. } => Plan::ActiveDays {
                        ty,
                        window: window_ms(*days),
                    },
                    Aggregate::ValueSum { days, .. } => Plan::ValueSum {
                        ty,
                        window: window_ms(*days),
                    },
                    Aggregate::DaysSinceLast { .. } => Plan::SinceLast { ty },
                    Aggregate::DaysSinceFirst { .. } => Plan::SinceFirst { ty },
                    Aggregate::DecayedCount { half_life_days, .. } => Plan::Decayed {
                        ty,
                        rate: std::f64::consts::LN_2 / half_life_days,
                    },
                    Aggregate::Ever { .. } => Plan::Ever { ty },
                    Aggregate::Ratio {
                        numerator,
                        denominator,
                    } => Plan::Ratio {
                        num: feature_index(numerator).unwrap_or(usize::MAX),
                        den: feature_index(denominator).unwrap_or(usize::MAX),
                    },
                }
            })
            .collect();
        let names = self.features.iter().map(|f| f.name.clone()).collect();
        CompiledEvents::new(self.event_types.clone(), names, plans)
    }
}

fn window_ms(days: u32) -> i64 {
    i64::from(days) * MS_PER_DAY
}

/// One feature's work, with its event type as an index.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Count { ty: usize, window: i64 },
    ActiveDays { ty: usize, window: i64 },
    ValueSum { ty: usize, window: i64 },
    SinceLast { ty: usize },
    SinceFirst { ty: usize },
    Decayed { ty: usize, rate: f64 },
    Ever { ty: usize },
    Ratio { num: usize, den: usize },
}

/// A validated [`EventDefinition`] ready to compute: the trainer's and the
/// server's one code path from events to feature values.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledEvents {
    event_types: Vec<String>,
    /// Feature names, in definition order.
    names: Vec<String>,
    plans: Vec<Plan>,
    /// Event type → index, without comparing against every type.
    lookup: TypeLookup,
    /// Feature name → index.
    name_index: std::collections::HashMap<String, usize>,
}

/// Words of one `active_days` day set: a bit per day of the longest window.
const DAY_WORDS: usize = (MAX_WINDOW_DAYS as usize).div_ceil(64) + 1;

/// A slot of [`TypeLookup`] that holds no type.
const NO_TYPE: u32 = u32::MAX;

/// A perfect hash of the definition's event types, found once at compile
/// time: a type's length and its first, middle and last bytes, multiplied
/// by a seed, pick one slot; the slot's type is then compared in full (so
/// an unknown type is never mistaken for a known one). When no seed
/// separates the types (two types alike in all four), `slots` is empty and
/// lookups compare against every type, as before.
#[derive(Debug, Clone, PartialEq)]
struct TypeLookup {
    seed: u32,
    shift: u32,
    slots: Vec<u32>,
}

impl TypeLookup {
    fn key(s: &[u8]) -> u32 {
        let Some((&first, &last)) = s.first().zip(s.last()) else {
            return 0;
        };
        (s.len() as u32 & 0xff)
            | u32::from(first) << 8
            | u32::from(s[s.len() / 2]) << 16
            | u32::from(last) << 24
    }

    fn slot(&self, key: u32) -> usize {
        (key.wrapping_mul(self.seed) >> self.shift) as usize
    }

    fn new(types: &[String]) -> Self {
        let fallback = TypeLookup {
            seed: 0,
            shift: 0,
            slots: Vec::new(),
        };
        if types.is_empty() || types.len() > 1 << 12 {
            return fallback;
        }
        let keys: Vec<u32> = types.iter().map(|t| Self::key(t.as_bytes())).collect();
        let min_bits = (types.len() * 2)
            .next_power_of_two()
            .trailing_zeros()
            .max(1);
        let mut seed: u32 = 0x9E37_79B9;
        for bits in min_bits..=min_bits + 4 {
            for _ in 0..256 {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223) | 1;
                let lookup = TypeLookup {
                    seed,
                    shift: 32 - bits,
                    slots: vec![NO_TYPE; 1 << bits],
                };
                let mut lookup = lookup;
                let mut perfect = true;
                for (i, &k) in keys.iter().enumerate() {
                    let s = lookup.slot(k);
                    if lookup.slots[s] != NO_TYPE {
                        perfect = false;
                        break;
                    }
                    lookup.slots[s] = i as u32;
                }
                if perfect {
                    return lookup;
                }
            }
        }
        fallback
    }
}

/// Reusable buffers of [`CompiledEvents::compute_with`]: the events before
/// the as-of time, bucketed by type. They grow to the largest lead seen and
/// are then reused, so computing allocates nothing once warm.
#[derive(Debug, Clone, Default)]
pub struct EventScratch {
    /// Per event, its type index (or [`NO_TYPE`] when it does not count).
    types: Vec<u32>,
    /// Per type, where its events start in `at` / `values` (one more entry
    /// than types: the end).
    start: Vec<usize>,
    /// Per type, the next free position while filling.
    fill: Vec<usize>,
    /// Event times, grouped by type, in request order within a type.
    at: Vec<i64>,
    /// Event values (0 for none or not finite), in the same order.
    values: Vec<f64>,
}

impl CompiledEvents {
    fn new(event_types: Vec<String>, names: Vec<String>, plans: Vec<Plan>) -> Self {
        let lookup = TypeLookup::new(&event_types);
        let name_index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Self {
            event_types,
            names,
            plans,
            lookup,
            name_index,
        }
    }

    /// Number of features (the length `compute`'s output must have).
    pub fn width(&self) -> usize {
        self.plans.len()
    }

    /// Index of an event type, `None` for a type the model does not know.
    #[inline]
    pub fn type_index(&self, event_type: &str) -> Option<usize> {
        if self.lookup.slots.is_empty() {
            return self.event_types.iter().position(|t| t == event_type);
        }
        let slot = self.lookup.slot(TypeLookup::key(event_type.as_bytes()));
        let i = self.lookup.slots[slot];
        (i != NO_TYPE && self.event_types[i as usize] == event_type).then_some(i as usize)
    }

    /// Computes every feature as of `as_of` into `out` (length
    /// [`Self::width`]; missing values are NaN). Events may come in any
    /// order; only those strictly before `as_of` count. Uses a per-thread
    /// [`EventScratch`], so it allocates only when a thread first meets a
    /// lead with more events than before; see [`Self::compute_with`].
    pub fn compute(
        &self,
        events: &[RawEvent<'_>],
        as_of: Timestamp,
        out: &mut [f64],
    ) -> EventSummary {
        thread_local! {
            static SCRATCH: RefCell<EventScratch> = RefCell::new(EventScratch::default());
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.compute_with(events, as_of, out, &mut scratch),
            Err(_) => self.compute_with(events, as_of, out, &mut EventScratch::default()),
        })
    }

    /// [`Self::compute`] with the caller's buffers: one pass over the
    /// events buckets those before `as_of` by type (each type's in request
    /// order, so sums add in the same order as ever), then each feature
    /// reads only its type's events. Nothing is allocated once `scratch`
    /// has held as many events.
    pub fn compute_with(
        &self,
        events: &[RawEvent<'_>],
        as_of: Timestamp,
        out: &mut [f64],
        scratch: &mut EventScratch,
    ) -> EventSummary {
        let mut summary = EventSummary::default();
        let n_types = self.event_types.len();
        let EventScratch {
            types,
            start,
            fill,
            at,
            values,
        } = scratch;
        types.clear();
        start.clear();
        start.resize(n_types + 1, 0);
        for e in events {
            let ty = if e.at >= as_of {
                summary.after_as_of += 1;
                NO_TYPE
            } else if let Some(ty) = self.type_index(e.event_type) {
                start[ty + 1] += 1;
                ty as u32
            } else {
                summary.unknown_types += 1;
                NO_TYPE
            };
            types.push(ty);
        }
        for t in 0..n_types {
            start[t + 1] += start[t];
        }
        summary.used = start[n_types];
        fill.clear();
        fill.extend_from_slice(&start[..n_types]);
        at.clear();
        at.resize(summary.used, 0);
        values.clear();
        values.resize(summary.used, 0.0);
        for (e, &ty) in events.iter().zip(types.iter()) {
            if ty == NO_TYPE {
                continue;
            }
            let p = &mut fill[ty as usize];
            at[*p] = e.at.0;
            // Adding 0 for a missing value leaves a sum that starts at +0
            // bit for bit unchanged (it can never be −0).
            values[*p] = e.value.filter(|v| v.is_finite()).unwrap_or(0.0);
            *p += 1;
        }
        let bucket = |ty: usize| -> (&[i64], &[f64]) {
            match (start.get(ty), start.get(ty + 1)) {
                (Some(&a), Some(&b)) => (&at[a..b], &values[a..b]),
                _ => (&[], &[]),
            }
        };
        let now = as_of.0;
        let day = MS_PER_DAY as f64;
        for (slot, plan) in out.iter_mut().zip(&self.plans) {
            *slot = match *plan {
                Plan::Count { ty, window } => {
                    let (at, _) = bucket(ty);
                    at.iter().filter(|&&t| now - t <= window).count() as f64
                }
                Plan::ValueSum { ty, window } => {
                    let (at, values) = bucket(ty);
                    let mut sum = 0.0;
                    for (&t, &v) in at.iter().zip(values) {
                        if now - t <= window {
                            sum += v;
                        }
                    }
                    sum
                }
                Plan::ActiveDays { ty, window } => {
                    let (at, _) = bucket(ty);
                    let today = now.div_euclid(MS_PER_DAY);
                    let mut bits = [0u64; DAY_WORDS];
                    for &t in at {
                        if now - t <= window {
                            let back = (today - t.div_euclid(MS_PER_DAY)) as usize;
                            if let Some(word) = bits.get_mut(back / 64) {
                                *word |= 1 << (back % 64);
                            }
                        }
                    }
                    f64::from(bits.iter().map(|w| w.count_ones()).sum::<u32>())
                }
                Plan::SinceLast { ty } => match bucket(ty).0.iter().max() {
                    Some(&t) => (now as f64 - t as f64) / day,
                    None => f64::NAN,
                },
                Plan::SinceFirst { ty } => match bucket(ty).0.iter().min() {
                    Some(&t) => (now as f64 - t as f64) / day,
                    None => f64::NAN,
                },
                Plan::Decayed { ty, rate } => {
                    let mut sum = 0.0;
                    for &t in bucket(ty).0 {
                        let age = now - t;
                        sum += (-rate * age as f64 / day).exp();
                    }
                    sum
                }
                Plan::Ever { ty } => {
                    if bucket(ty).0.is_empty() {
                        0.0
                    } else {
                        1.0
                    }
                }
                Plan::Ratio { .. } => 0.0,
            };
        }
        for (i, plan) in self.plans.iter().enumerate() {
            if let Plan::Ratio { num, den } = *plan {
                let (n, d) = (
                    out.get(num).copied().unwrap_or(f64::NAN),
                    out.get(den).copied().unwrap_or(f64::NAN),
                );
                out[i] = if d.is_finite() && d != 0.0 && n.is_finite() {
                    n / d
                } else {
                    f64::NAN
                };
            }
        }
        summary
    }
}

/// The implementation before issue 18 (one pass over the events, every
/// event's type compared with each known type, every plan of its type
/// updated per event), kept verbatim as the reference the faster
/// [`CompiledEvents::compute_with`] must equal bit for bit.
#[cfg(test)]
pub(crate) mod reference {
    use super::{CompiledEvents, EventSummary, Plan, RawEvent, Timestamp, MS_PER_DAY};

    const DAY_WORDS: usize = super::DAY_WORDS;
    /// `active_days` features whose day sets live on the stack during the pass.
    const DAY_SETS: usize = 8;

    fn type_index(c: &CompiledEvents, event_type: &str) -> Option<usize> {
        c.event_types.iter().position(|t| t == event_type)
    }

    /// Per event type, the plans that read it; per plan, its day set.
    fn layout(c: &CompiledEvents) -> (Vec<Vec<usize>>, Vec<Option<usize>>) {
        let mut by_type = vec![Vec::new(); c.event_types.len()];
        let mut day_set = vec![None; c.plans.len()];
        let mut sets = 0;
        for (i, plan) in c.plans.iter().enumerate() {
            if let Some(list) = event_type(plan).and_then(|t| by_type.get_mut(t)) {
                list.push(i);
            }
            if matches!(plan, Plan::ActiveDays { .. }) && sets < DAY_SETS {
                day_set[i] = Some(sets);
                sets += 1;
            }
        }
        (by_type, day_set)
    }

    fn event_type(plan: &Plan) -> Option<usize> {
        match *plan {
            Plan::Count { ty, .. }
            | Plan::ActiveDays { ty, .. }
            | Plan::ValueSum { ty, .. }
            | Plan::SinceLast { ty }
            | Plan::SinceFirst { ty }
            | Plan::Decayed { ty, .. }
            | Plan::Ever { ty } => Some(ty),
            Plan::Ratio { .. } => None,
        }
    }

    pub(super) fn compute(
        this: &CompiledEvents,
        events: &[RawEvent<'_>],
        as_of: Timestamp,
        out: &mut [f64],
    ) -> EventSummary {
        let (by_type, day_set) = layout(this);
        let mut summary = EventSummary::default();
        for (slot, plan) in out.iter_mut().zip(&this.plans) {
            *slot = match plan {
                Plan::SinceLast { .. } => f64::NEG_INFINITY,
                Plan::SinceFirst { .. } => f64::INFINITY,
                _ => 0.0,
            };
        }
        let mut day_sets = [[0u64; DAY_WORDS]; DAY_SETS];
        let today = as_of.0.div_euclid(MS_PER_DAY);
        for e in events {
            if e.at >= as_of {
                summary.after_as_of += 1;
                continue;
            }
            let Some(ty) = type_index(this, e.event_type) else {
                summary.unknown_types += 1;
                continue;
            };
            summary.used += 1;
            let age = as_of.0 - e.at.0;
            for &i in &by_type[ty] {
                let slot = &mut out[i];
                match this.plans[i] {
                    Plan::Count { window, .. } if age <= window => *slot += 1.0,
                    Plan::ValueSum { window, .. } if age <= window => {
                        if let Some(v) = e.value.filter(|v| v.is_finite()) {
                            *slot += v;
                        }
                    }
                    Plan::ActiveDays { window, .. } if age <= window => {
                        if let Some(set) = day_set[i] {
                            let back = (today - e.at.0.div_euclid(MS_PER_DAY)) as usize;
                            if let Some(word) = day_sets[set].get_mut(back / 64) {
                                *word |= 1 << (back % 64);
                            }
                        }
                    }
                    Plan::SinceLast { .. } => *slot = slot.max(e.at.0 as f64),
                    Plan::SinceFirst { .. } => *slot = slot.min(e.at.0 as f64),
                    Plan::Decayed { rate, .. } => {
                        *slot += (-rate * age as f64 / MS_PER_DAY as f64).exp();
                    }
                    Plan::Ever { .. } => *slot = 1.0,
                    _ => {}
                }
            }
        }
        for (i, plan) in this.plans.iter().enumerate() {
            match *plan {
                Plan::SinceLast { .. } | Plan::SinceFirst { .. } => {
                    let t = out[i];
                    out[i] = if t.is_finite() {
                        (as_of.0 as f64 - t) / MS_PER_DAY as f64
                    } else {
                        f64::NAN
                    };
                }
                Plan::ActiveDays { ty, window } => {
                    out[i] = match day_set[i] {
                        Some(set) => {
                            f64::from(day_sets[set].iter().map(|w| w.count_ones()).sum::<u32>())
                        }
                        None => active_days(events, ty, this, as_of, window),
                    };
                }
                Plan::Ratio { num, den } => {
                    let (n, d) = (
                        out.get(num).copied().unwrap_or(f64::NAN),
                        out.get(den).copied().unwrap_or(f64::NAN),
                    );
                    out[i] = if d.is_finite() && d != 0.0 && n.is_finite() {
                        n / d
                    } else {
                        f64::NAN
                    };
                }
                _ => {}
            }
        }
        summary
    }

    /// Distinct UTC days with an event of type `ty` in `[as_of − window, as_of)`
    /// (the second pass for `active_days` features beyond the first
    /// [`DAY_SETS`]).
    fn active_days(
        events: &[RawEvent<'_>],
        ty: usize,
        compiled: &CompiledEvents,
        as_of: Timestamp,
        window: i64,
    ) -> f64 {
        let mut bits = [0u64; DAY_WORDS];
        let today = as_of.0.div_euclid(MS_PER_DAY);
        for e in events {
            if e.at >= as_of || as_of.0 - e.at.0 > window {
                continue;
            }
            if type_index(compiled, e.event_type) != Some(ty) {
                continue;
            }
            let back = (today - e.at.0.div_euclid(MS_PER_DAY)) as usize;
            if let Some(word) = bits.get_mut(back / 64) {
                *word |= 1 << (back % 64);
            }
        }
        f64::from(bits.iter().map(|w| w.count_ones()).sum::<u32>())
    }
}

/// Why a lead's events could not become features.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeadEventsError {
    /// Events sent to a model that was not trained from events.
    #[error("this model takes no events (it was not trained from an events table); send features instead")]
    NoDefinition,
    /// Events beside dense `values`, which have no room for computed features.
    #[error("events need named features (or none), not dense values")]
    DenseInput,
    /// A feature the events compute was also sent precomputed.
    #[error("feature \"{0}\" is computed from the events; do not send it as well")]
    GivenTwice(String),
}

/// The window features of one lead, computed from its events.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadWindowValues {
    /// Each computed feature with a value, in definition order (a feature
    /// without one, such as days since the last visit of a lead that never
    /// visited, is absent: the feature pipeline imputes it, exactly as the
    /// trainer's empty cell was imputed).
    pub values: Vec<(String, f64)>,
    /// What was counted besides.
    pub summary: EventSummary,
}

/// The window features of one lead as the server computes them: every
/// feature's value in definition order (NaN: no value, left to the feature
/// pipeline's imputation), without names.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowValues {
    /// One value per [`CompiledEvents::feature_names`] entry.
    pub values: Vec<f64>,
    /// What was counted besides.
    pub summary: EventSummary,
}

impl WindowValues {
    /// The features with a value, named, in definition order: exactly
    /// [`CompiledEvents::lead_values`]'s `values`.
    pub fn named(&self, compiled: &CompiledEvents) -> Vec<(String, f64)> {
        compiled
            .feature_names()
            .iter()
            .zip(&self.values)
            .filter(|(_, v)| v.is_finite())
            .map(|(n, v)| (n.clone(), *v))
            .collect()
    }
}

impl CompiledEvents {
    /// The position of feature `name` in [`Self::feature_names`].
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.name_index.get(name).copied()
    }

    /// The feature names, in the order [`Self::compute`] writes them.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// The event types the definition knows.
    pub fn event_types(&self) -> &[String] {
        &self.event_types
    }

    /// Computes a lead's window features as of `as_of`: the one function the
    /// trainer (materialising a leads table) and the server (scoring a
    /// request's events) both call, so the two cannot disagree.
    pub fn lead_values(&self, events: &[RawEvent<'_>], as_of: Timestamp) -> LeadWindowValues {
        let mut out = vec![0.0; self.width()];
        let summary = self.compute(events, as_of, &mut out);
        let values = self
            .names
            .iter()
            .zip(out)
            .filter(|(_, v)| v.is_finite())
            .map(|(n, v)| (n.clone(), v))
            .collect();
        LeadWindowValues { values, summary }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::time::parse_timestamp;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        parse_timestamp(text).expect("time")
    }

    fn definition() -> EventDefinition {
        let types: BTreeSet<String> = ["page_view", "report_created"].map(String::from).into();
        let values: BTreeSet<String> = ["page_view"].map(String::from).into();
        let mut d = EventDefinition::defaults(&types, &values);
        d.features.push(WindowFeature {
            name: "views_7_over_30".into(),
            aggregate: Aggregate::Ratio {
                numerator: "page_view_count_7d".into(),
                denominator: "page_view_count_30d".into(),
            },
        });
        d
    }

    fn value(d: &EventDefinition, out: &[f64], name: &str) -> f64 {
        out[d.feature_names().position(|n| n == name).expect(name)]
    }

    #[test]
    fn event_types_are_trimmed_and_blank_ones_refused() {
        assert_eq!(normalise_event_type(" page_view\t"), Some("page_view"));
        assert_eq!(normalise_event_type("page_view"), Some("page_view"));
        assert_eq!(normalise_event_type("Page View"), Some("Page View"));
        assert_eq!(normalise_event_type(" \t"), None);
        assert_eq!(normalise_event_type(""), None);
    }

    #[test]
    fn reason_values_are_rounded_by_kind() {
        let event = || "page_view".to_string();
        let days = Aggregate::DaysSinceLast { event: event() };
        assert_eq!(days.reason_value(44.62349537037037), 45.0);
        assert_eq!(days.reason_value(2.2916666666666665), 2.3);
        assert_eq!(days.reason_value(9.96), 10.0);
        let decayed = Aggregate::DecayedCount {
            event: event(),
            half_life_days: 14.0,
        };
        assert_eq!(decayed.reason_value(0.4528618321319534), 0.5);
        assert_eq!(decayed.reason_value(-0.01), 0.0);
        assert!(decayed.reason_value(-0.01).is_sign_positive());
        let count = Aggregate::Count {
            event: event(),
            days: 30,
        };
        assert_eq!(count.reason_value(3.0), 3.0);
        let ratio = Aggregate::Ratio {
            numerator: "a".into(),
            denominator: "b".into(),
        };
        assert_eq!(ratio.reason_value(1.0 / 3.0), 0.33);
        let sum = Aggregate::ValueSum {
            event: event(),
            days: 30,
        };
        assert_eq!(sum.reason_value(1234.5678).to_string(), "1234.6");
    }

    #[test]
    fn ever_features_get_behaviour_reasons_numeric_or_boolean() {
        use crate::scoring::features::{
            FeatureEncoding, FeatureSpec, DEFAULT_FALSE_REASON, DEFAULT_NUMERIC_REASON,
            DEFAULT_TRUE_REASON,
        };
        let spec = |encoding: FeatureEncoding, reason: &str, when_false: &str| FeatureSpec {
            name: "sales_demo_ever".into(),
            source_column: "sales_demo_ever".into(),
            label: "Sales demo ever".into(),
            encoding,
            reason: reason.into(),
            reason_when_false: when_false.into(),
            actionable: None,
            quantiles: vec![],
            read_as: None,
        };
        let numeric = FeatureEncoding::Numeric {
            median: 0.0,
            mean: 0.4,
            std: 0.5,
            min: 0.0,
            max: 1.0,
            bin_edges: vec![],
        };
        let definition = EventDefinition {
            event_types: vec!["sales_demo".into()],
            features: vec![WindowFeature {
                name: "sales_demo_ever".into(),
                aggregate: Aggregate::Ever {
                    event: "sales_demo".into(),
                },
            }],
        };
        let mut specs = vec![
            spec(numeric.clone(), DEFAULT_NUMERIC_REASON, ""),
            spec(
                FeatureEncoding::Boolean { imputed: false },
                DEFAULT_TRUE_REASON,
                DEFAULT_FALSE_REASON,
            ),
            spec(numeric, "Booked a demo", ""),
        ];
        for s in &mut specs {
            definition.apply_reason_templates(std::slice::from_mut(s));
        }
        assert_eq!(specs[0].reason, "has done sales demo");
        assert_eq!(specs[1].reason, "has done sales demo");
        assert_eq!(specs[1].reason_when_false, "never did sales demo");
        assert_eq!(
            specs[2].reason, "Booked a demo",
            "a reason of its own is kept"
        );
        assert_eq!(
            definition.features[0]
                .aggregate
                .reason_when_false()
                .as_deref(),
            Some("never did sales demo")
        );
    }

    #[test]
    fn account_windows_are_the_30_day_counts_of_each_type() {
        let types: BTreeSet<String> = ["demo", "visit"].map(String::from).into();
        let definition = EventDefinition::defaults(&types, &BTreeSet::new());
        assert_eq!(
            definition.account_windows(),
            vec!["demo_count_30d", "visit_count_30d"]
        );
    }

    #[test]
    fn windows_count_only_events_strictly_before_as_of() {
        let d = definition();
        d.validate().expect("valid");
        let c = d.compile();
        let ev = |t: &'static str, when: &str, v: Option<f64>| RawEvent {
            event_type: t,
            at: at(when),
            value: v,
        };
        let events = [
            ev("page_view", "2024-03-01T09:00:00Z", Some(30.0)),
            ev("page_view", "2024-03-01T17:00:00Z", Some(10.0)),
            ev("page_view", "2024-02-20", None),
            ev("page_view", "2024-01-01", Some(5.0)),
            ev("report_created", "2024-02-25", None),
            ev("report_created", "2024-03-10", None), // at as_of: not seen
            ev("report_created", "2024-04-01", None), // after
            ev("webinar", "2024-02-01", None),
        ];
        let mut out = vec![0.0; c.width()];
        let summary = c.compute(&events, at("2024-03-10"), &mut out);
        assert_eq!(
            summary,
            EventSummary {
                unknown_types: 1,
                after_as_of: 2,
                used: 5
            }
        );
        assert_eq!(value(&d, &out, "page_view_count_7d"), 0.0);
        assert_eq!(value(&d, &out, "page_view_count_30d"), 3.0);
        assert_eq!(value(&d, &out, "page_view_count_90d"), 4.0);
        assert_eq!(value(&d, &out, "page_view_active_days_30d"), 2.0);
        assert_eq!(value(&d, &out, "page_view_value_sum_30d"), 40.0);
        assert_eq!(
            value(&d, &out, "page_view_days_since_last"),
            8.0 + 7.0 / 24.0
        );
        assert_eq!(value(&d, &out, "page_view_days_since_first"), 69.0);
        assert_eq!(value(&d, &out, "report_created_ever"), 1.0);
        assert_eq!(value(&d, &out, "report_created_count_30d"), 1.0);
        let decayed = value(&d, &out, "report_created_decayed_14d");
        assert!(
            (decayed - 2f64.powf(-14.0 / 14.0)).abs() < 1e-12,
            "{decayed}"
        );
        assert_eq!(value(&d, &out, "views_7_over_30"), 0.0);
    }

    #[test]
    fn no_events_give_zero_counts_and_missing_recency() {
        let d = definition();
        let c = d.compile();
        let mut out = vec![7.0; c.width()];
        let summary = c.compute(&[], at("2024-03-10"), &mut out);
        assert_eq!(summary, EventSummary::default());
        assert_eq!(value(&d, &out, "page_view_count_30d"), 0.0);
        assert_eq!(value(&d, &out, "report_created_ever"), 0.0);
        assert!(value(&d, &out, "page_view_days_since_last").is_nan());
        assert!(value(&d, &out, "views_7_over_30").is_nan());
    }

    #[test]
    fn broken_definitions_are_refused_naming_the_feature() {
        let mut d = definition();
        d.features[0].aggregate = Aggregate::Count {
            event: "page_view".into(),
            days: 400,
        };
        assert!(matches!(
            d.validate(),
            Err(EventDefinitionError::BadWindow { days: 400, .. })
        ));
        let mut d = definition();
        d.features[1].aggregate = Aggregate::Ever {
            event: "nope".into(),
        };
        assert!(d.validate().unwrap_err().to_string().contains("'nope'"));
        let mut d = definition();
        let last = d.features.len() - 1;
        d.features[last].aggregate = Aggregate::Ratio {
            numerator: "later".into(),
            denominator: "page_view_count_30d".into(),
        };
        assert!(matches!(
            d.validate(),
            Err(EventDefinitionError::BadRatio { .. })
        ));
    }

    #[test]
    fn the_definition_round_trips_as_json() {
        let d = definition();
        let text = serde_json::to_string(&d).expect("json");
        assert!(text.contains(r#""aggregate":{"kind":"count""#), "{text}");
        let back: EventDefinition = serde_json::from_str(&text).expect("back");
        assert_eq!(back, d);
    }
    /// The defaults of five types from 200 events of the benchmark's shape
    /// equal the reference implementation bit for bit.
    #[test]
    fn the_default_definition_equals_the_reference_bit_for_bit() {
        let types: BTreeSet<String> = [
            "page_view",
            "demo_action",
            "report_created",
            "email_open",
            "meeting",
        ]
        .map(String::from)
        .into();
        let c = EventDefinition::defaults(&types, &types).compile();
        let names: Vec<&String> = types.iter().collect();
        let as_of = Timestamp(20_000 * MS_PER_DAY + 12 * 3_600_000);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let mut scratch = EventScratch::default();
        for _ in 0..200 {
            let events: Vec<RawEvent<'_>> = (0..200)
                .map(|_| RawEvent {
                    event_type: names[(next() % 5) as usize],
                    at: Timestamp(as_of.0 - (next() as i64 % (120 * MS_PER_DAY)) + MS_PER_DAY),
                    value: Some((next() % 600) as f64 / 7.0),
                })
                .collect();
            let (mut old, mut new) = (vec![0.0; c.width()], vec![1.0; c.width()]);
            let a = reference::compute(&c, &events, as_of, &mut old);
            let b = c.compute_with(&events, as_of, &mut new, &mut scratch);
            assert_eq!(a, b);
            assert_eq!(bits(&old), bits(&new));
        }
    }

    fn bits(values: &[f64]) -> Vec<u64> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// Types alike in length and first, middle and last bytes defeat the
    /// perfect hash: lookups fall back to comparing every type, and an
    /// unknown type with a known type's key is still unknown.
    #[test]
    fn type_lookup_compares_in_full() {
        let c = EventDefinition {
            event_types: vec!["page_view".into(), "meeting".into()],
            features: vec![],
        }
        .compile();
        assert!(!c.lookup.slots.is_empty());
        assert_eq!(c.type_index("page_view"), Some(0));
        assert_eq!(c.type_index("meeting"), Some(1));
        assert_eq!(c.type_index("pag__view"), None);
        assert_eq!(c.type_index(""), None);
        let c = EventDefinition {
            event_types: vec!["page_view".into(), "pag__view".into(), "".into()],
            features: vec![],
        }
        .compile();
        assert!(c.lookup.slots.is_empty());
        assert_eq!(c.type_index("pag__view"), Some(1));
        assert_eq!(c.type_index(""), Some(2));
    }

    const TYPE_POOL: [&str; 10] = [
        "page_view",
        "demo_action",
        "report_created",
        "email_open",
        "meeting",
        "a",
        "ab",
        "ba",
        "pag__view",
        "x",
    ];
    const EVENT_POOL: [&str; 13] = [
        "page_view",
        "demo_action",
        "report_created",
        "email_open",
        "meeting",
        "a",
        "ab",
        "ba",
        "pag__view",
        "x",
        "webinar",
        "page_vieW",
        "",
    ];

    fn feature_strategy() -> impl Strategy<Value = (u8, usize, u32, f64, usize, usize)> {
        (
            0u8..8,
            0usize..16,
            prop_oneof![1u32..=366, Just(1u32), Just(7), Just(30), Just(366)],
            prop_oneof![Just(14.0), Just(0.5), Just(365.0), 0.01f64..1000.0],
            0usize..64,
            0usize..64,
        )
    }

    fn event_strategy() -> impl Strategy<Value = (usize, i64, Option<f64>)> {
        (
            0usize..EVENT_POOL.len(),
            prop_oneof![
                -400 * MS_PER_DAY..2 * MS_PER_DAY,
                (-400i64..2).prop_map(|d| d * MS_PER_DAY),
                (-400i64..2).prop_map(|d| d * MS_PER_DAY + 1),
                (-400i64..2).prop_map(|d| d * MS_PER_DAY - 1),
            ],
            prop_oneof![
                Just(None),
                (-1e6f64..1e6).prop_map(Some),
                Just(Some(f64::NAN)),
                Just(Some(f64::INFINITY)),
                Just(Some(-0.0)),
                Just(Some(1e308)),
                Just(Some(-1e308)),
            ],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any definition, any events (unknown types, at or after as-of,
        /// day boundaries, missing and non-finite values, before 1970): the
        /// bucketed computation equals the reference bit for bit, through a
        /// reused scratch and the per-thread one alike.
        #[test]
        fn compute_equals_the_reference_bit_for_bit(
            types in proptest::sample::subsequence(TYPE_POOL.to_vec(), 1..=6),
            features in proptest::collection::vec(feature_strategy(), 0..24),
            events in proptest::collection::vec(event_strategy(), 0..300),
            as_of in prop_oneof![Just(0i64), -10_000 * MS_PER_DAY..30_000 * MS_PER_DAY],
            reuse in proptest::collection::vec(event_strategy(), 0..50),
        ) {
            let mut features_out: Vec<WindowFeature> = Vec::new();
            for (i, &(kind, ty, days, half_life, num, den)) in features.iter().enumerate() {
                let event = types[ty % types.len()].to_string();
                let aggregate = match kind {
                    0 => Aggregate::Count { event, days },
                    1 => Aggregate::ActiveDays { event, days },
                    2 => Aggregate::ValueSum { event, days },
                    3 => Aggregate::DaysSinceLast { event },
                    4 => Aggregate::DaysSinceFirst { event },
                    5 => Aggregate::DecayedCount { event, half_life_days: half_life },
                    6 => Aggregate::Ever { event },
                    _ if i > 0 => Aggregate::Ratio {
                        numerator: format!("f{}", num % i),
                        denominator: format!("f{}", den % i),
                    },
                    _ => Aggregate::Ever { event },
                };
                features_out.push(WindowFeature { name: format!("f{i}"), aggregate });
            }
            let d = EventDefinition {
                event_types: types.iter().map(|t| t.to_string()).collect(),
                features: features_out,
            };
            prop_assert_eq!(d.validate(), Ok(()));
            let c = d.compile();
            let raw = |list: &[(usize, i64, Option<f64>)]| -> Vec<RawEvent<'static>> {
                list.iter()
                    .map(|&(t, offset, value)| RawEvent {
                        event_type: EVENT_POOL[t],
                        at: Timestamp(as_of + offset),
                        value,
                    })
                    .collect()
            };
            let (events, reuse) = (raw(&events), raw(&reuse));
            let mut scratch = EventScratch::default();
            let mut out = vec![0.0; c.width()];
            c.compute_with(&reuse, Timestamp(as_of), &mut out, &mut scratch);
            for events in [&events, &reuse] {
                let mut old = vec![0.0; c.width()];
                let a = reference::compute(&c, events, Timestamp(as_of), &mut old);
                let b = c.compute_with(events, Timestamp(as_of), &mut out, &mut scratch);
                prop_assert_eq!(a, b);
                prop_assert_eq!(bits(&old), bits(&out));
                let mut again = vec![5.0; c.width()];
                let b = c.compute(events, Timestamp(as_of), &mut again);
                prop_assert_eq!(a, b);
                prop_assert_eq!(bits(&old), bits(&again));
                let kinds: Vec<Option<usize>> = events.iter().map(|e| c.type_index(e.event_type)).collect();
                let linear: Vec<Option<usize>> = events
                    .iter()
                    .map(|e| c.event_types().iter().position(|t| t == e.event_type))
                    .collect();
                prop_assert_eq!(kinds, linear);
            }
        }
    }
}
