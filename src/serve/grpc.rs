//! The `leadscore.v1.LeadScoring` gRPC service.
//!
//! Handlers are thin: parse the protobuf request into domain types at the
//! edge ([`parse_leads`]), call the model, convert back. Status codes are
//! chosen only in [`crate::serve::status`]. Each request gets a request id (the
//! caller's `x-request-id`, or a new one), echoed in the response metadata,
//! one debug log line (rpc, request id, model, version, lead count, latency,
//! outcome) and its metrics. Batches of [`BLOCKING_BATCH`] leads or more run on
//! the blocking pool, checking the request's [`Deadline`] as they go.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use crate::scoring::account_scoring::{self, AccountLead, AccountScore, AccountScores};
use crate::scoring::accounts;
use crate::scoring::batch::{map_rows_until, Deadline};
use crate::scoring::events::{normalise_event_type, LeadEventsError, RawEvent, WindowValues};
use crate::scoring::features::UsedValue;
use crate::scoring::features::{Fallback, FeatureKind, LeadInput, RawValue};
use crate::scoring::model::{
    display_score, Contribution, Direction, LeadExplanation, LeadFeatures, LeadScore,
    ModelArtifact, ScoringModel,
};
use crate::scoring::time::{parse_timestamp, Timestamp};
use crate::serve::metrics as m;
use crate::serve::proto;
use crate::serve::proto::lead_scoring_server::LeadScoring;
use crate::serve::registry::{LoadedModel, ModelRegistry};
use crate::serve::status::ServiceError;

/// The registry as the service sees it: swapped atomically as a whole.
pub type SharedRegistry = Arc<ArcSwap<ModelRegistry>>;

/// Batches at least this large are scored on the blocking thread pool.
pub const BLOCKING_BATCH: usize = 512;

/// Implementation of `leadscore.v1.LeadScoring`.
#[derive(Debug, Clone)]
pub struct LeadScoringService {
    registry: SharedRegistry,
    max_leads_per_request: usize,
    max_events_per_lead: usize,
    max_message_bytes: usize,
}

/// Default of `--max-events-per-lead`.
pub const DEFAULT_MAX_EVENTS_PER_LEAD: usize = 10_000;

/// Unknown event types named per lead in `EventSummary.unknown_types`.
const UNKNOWN_TYPES_SHOWN: usize = 16;

/// Decrements the in-flight gauge when a handler ends, however it ends.
struct InFlight;

impl InFlight {
    fn start() -> Self {
        metrics::gauge!(m::REQUESTS_IN_FLIGHT).increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(m::REQUESTS_IN_FLIGHT).decrement(1.0);
    }
}

/// What a scoring request needs besides its leads.
struct Job {
    loaded: Arc<LoadedModel>,
    leads: Vec<ParsedLead>,
    deadline: Option<Deadline>,
}

impl Job {
    /// Applies `f` to every lead, checking the deadline every few leads.
    fn run<T>(
        &self,
        f: impl Fn(&LoadedModel, LeadFeatures<'_>) -> Result<T, crate::scoring::features::FeatureError>,
    ) -> Result<Vec<T>, ServiceError> {
        Ok(map_rows_until(self.leads.len(), self.deadline, |index| {
            let lead = &self.leads[index];
            f(&self.loaded, lead.features()).map_err(|e| invalid_lead(index, &lead.lead_id, e))
        })?)
    }
}

/// Runs `work` inline for small jobs, on the blocking pool for large ones.
async fn run_job<T: Send + 'static>(
    job: Job,
    work: impl FnOnce(&Job) -> Result<T, ServiceError> + Send + 'static,
) -> Result<(Job, T), ServiceError> {
    if job.leads.len() < BLOCKING_BATCH {
        let out = work(&job)?;
        return Ok((job, out));
    }
    tokio::task::spawn_blocking(move || {
        let out = work(&job)?;
        Ok((job, out))
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))?
}

impl LeadScoringService {
    /// A service over `registry`, refusing requests with more than
    /// `max_leads_per_request` leads.
    pub fn new(registry: SharedRegistry, max_leads_per_request: usize) -> Self {
        Self {
            registry,
            max_leads_per_request,
            max_events_per_lead: DEFAULT_MAX_EVENTS_PER_LEAD,
            max_message_bytes: 16 << 20,
        }
    }

    /// The same service, refusing an Explain whose answer would exceed
    /// `max` bytes (the server's `--max-message-bytes`) before doing the work.
    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }

    /// The same service, refusing a lead with more than `max` raw events.
    pub fn with_max_events_per_lead(mut self, max: usize) -> Self {
        self.max_events_per_lead = max;
        self
    }

    fn resolve(&self, model: &str, version: &str) -> Result<Arc<LoadedModel>, ServiceError> {
        Ok(self.registry.load().get(model, version)?)
    }

    fn check_count(&self, n: usize) -> Result<(), ServiceError> {
        if n == 0 {
            return Err(ServiceError::EmptyLeads);
        }
        if n > self.max_leads_per_request {
            return Err(ServiceError::TooManyLeads {
                got: n,
                max: self.max_leads_per_request,
            });
        }
        Ok(())
    }

    fn job(
        &self,
        model: &str,
        version: &str,
        leads: Vec<proto::Lead>,
        deadline: Option<Deadline>,
    ) -> Result<Job, ServiceError> {
        self.check_count(leads.len())?;
        let loaded = self.resolve(model, version)?;
        let mut leads = parse_leads(leads, self.max_events_per_lead)?;
        for (index, lead) in leads.iter_mut().enumerate() {
            apply_events(&loaded.model, index, lead)?;
        }
        Ok(Job {
            loaded,
            leads,
            deadline,
        })
    }

    async fn score_inner(
        &self,
        req: proto::ScoreRequest,
        deadline: Option<Deadline>,
    ) -> Result<proto::ScoreResponse, ServiceError> {
        let job = self.job(&req.model, &req.version, req.leads, deadline)?;
        let (job, scores) = run_job(job, |job| job.run(|l, lead| l.model.score_lead(lead))).await?;
        record_scores(&job.loaded, "Score", scores.iter());
        let model = &job.loaded.model;
        let stages: Vec<String> = job
            .leads
            .iter()
            .map(|lead| stage_text(model, lead.features(), None))
            .collect();
        Ok(proto::ScoreResponse {
            model: job.loaded.name.clone(),
            version: job.loaded.version.to_string(),
            scores: job
                .leads
                .into_iter()
                .zip(scores)
                .zip(stages)
                .map(|((lead, s), stage)| proto::LeadScore {
                    events: lead.computed.as_ref().map(event_summary),
                    lead_id: lead.lead_id,
                    probability: s.probability,
                    score: s.score,
                    band: s.band,
                    warnings: s.warnings,
                    error: None,
                    stage,
                })
                .collect(),
            error: None,
        })
    }

    /// One ScoreStream message: per-lead errors instead of failing the whole
    /// message, and message-level errors as `ScoreResponse.error`.
    pub(crate) fn score_stream_message(&self, req: proto::ScoreRequest) -> proto::ScoreResponse {
        let message_error = |err: ServiceError| {
            let status = Status::from(err);
            proto::ScoreResponse {
                error: Some(proto::StreamError {
                    code: status.code() as i32,
                    message: status.message().to_string(),
                }),
                ..Default::default()
            }
        };
        if let Err(err) = self.check_count(req.leads.len()) {
            return message_error(err);
        }
        let loaded = match self.resolve(&req.model, &req.version) {
            Ok(loaded) => loaded,
            Err(err) => return message_error(err),
        };
        let mut scored = Vec::with_capacity(req.leads.len());
        let scores = req
            .leads
            .into_iter()
            .enumerate()
            .map(|(index, lead)| {
                let lead_id = lead.lead_id.clone();
                let outcome =
                    parse_lead(index, lead, self.max_events_per_lead).and_then(|mut parsed| {
                        apply_events(&loaded.model, index, &mut parsed)?;
                        loaded
                            .model
                            .score_lead(parsed.features())
                            .map(|s| {
                                let stage = stage_text(&loaded.model, parsed.features(), None);
                                (s, stage, parsed.computed.as_ref().map(event_summary))
                            })
                            .map_err(|e| invalid_lead(index, &lead_id, e))
                    });
                match outcome {
                    Ok((s, stage, events)) => {
                        let out = proto::LeadScore {
                            events,
                            lead_id,
                            probability: s.probability,
                            score: s.score,
                            band: s.band.clone(),
                            warnings: s.warnings.clone(),
                            error: None,
                            stage,
                        };
                        scored.push(s);
                        out
                    }
                    Err(ServiceError::InvalidLead { field, message, .. }) => proto::LeadScore {
                        lead_id,
                        error: Some(proto::LeadError { field, message }),
                        ..Default::default()
                    },
                    Err(other) => proto::LeadScore {
                        lead_id,
                        error: Some(proto::LeadError {
                            field: String::new(),
                            message: other.to_string(),
                        }),
                        ..Default::default()
                    },
                }
            })
            .collect();
        record_scores(&loaded, "ScoreStream", scored.iter());
        proto::ScoreResponse {
            model: loaded.name.clone(),
            version: loaded.version.to_string(),
            scores,
            error: None,
        }
    }

    async fn explain_inner(
        &self,
        req: proto::ExplainRequest,
        deadline: Option<Deadline>,
    ) -> Result<proto::ExplainResponse, ServiceError> {
        let job = self.job(&req.model, &req.version, req.leads, deadline)?;
        let top_k = req.top_k as usize;
        self.check_explain_size(&job, top_k)?;
        let (job, explanations) =
            run_job(job, |job| job.run(|l, lead| l.model.explain_lead(lead))).await?;
        record_scores(
            &job.loaded,
            "Explain",
            explanations.iter().map(|e| &e.score),
        );
        let specs = job.loaded.model.pipeline().specs();
        let events = job.loaded.model.events();
        let response = proto::ExplainResponse {
            model: job.loaded.name.clone(),
            version: job.loaded.version.to_string(),
            explanations: job
                .leads
                .into_iter()
                .zip(explanations)
                .map(|(lead, e)| explanation_to_proto(specs, events, lead, e, top_k))
                .collect(),
        };
        let bytes = prost::Message::encoded_len(&response);
        if bytes > self.max_message_bytes {
            return Err(too_large(
                response.explanations.len(),
                bytes,
                self.max_message_bytes,
            ));
        }
        Ok(response)
    }

    /// Refuses, before doing the work, an Explain whose answer would not fit
    /// the response limit: the first lead's explanation, encoded, times the
    /// number of leads (explanations of one model differ little in size).
    fn check_explain_size(&self, job: &Job, top_k: usize) -> Result<(), ServiceError> {
        let n = job.leads.len();
        let Some(first) = job.leads.first().filter(|_| n > 1) else {
            return Ok(());
        };
        let Ok(e) = job.loaded.model.explain_lead(first.features()) else {
            return Ok(()); // the batch reports the lead's error itself
        };
        let one = prost::Message::encoded_len(&explanation_to_proto(
            job.loaded.model.pipeline().specs(),
            job.loaded.model.events(),
            first.clone(),
            e,
            top_k,
        )) + 4; // the repeated field's tag and length
        let estimate = one.saturating_mul(n);
        if estimate > self.max_message_bytes {
            return Err(too_large(n, estimate, self.max_message_bytes));
        }
        Ok(())
    }
}

/// INVALID_ARGUMENT for an Explain answer over the response limit.
fn too_large(leads: usize, bytes: usize, limit: usize) -> ServiceError {
    let per_lead = bytes / leads.max(1);
    ServiceError::InvalidField {
        field: "leads".into(),
        message: format!(
            "leads: {leads} explanations need about {bytes} bytes (≈ {per_lead} per lead), over the \
             {limit}-byte response limit (--max-message-bytes); send at most {} leads per Explain, \
             set top_k, or use ScoreStream for scores",
            (limit / per_lead.max(1)).max(1)
        ),
    }
}

/// One lead's explanation on the wire; `top_k` 0 = every contribution.
fn explanation_to_proto(
    specs: &[crate::scoring::features::FeatureSpec],
    events: Option<&crate::scoring::events::CompiledEvents>,
    lead: ParsedLead,
    e: LeadExplanation,
    top_k: usize,
) -> proto::Explanation {
    let contribution = |c: &Contribution| proto::Contribution {
        feature: specs[c.feature_index].name.clone(),
        label: specs[c.feature_index].label.clone(),
        contribution: c.contribution,
        value: c.value.clone(),
        direction: match c.direction() {
            Direction::Raises => proto::Direction::Raises,
            Direction::Lowers => proto::Direction::Lowers,
            Direction::Neutral => proto::Direction::Neutral,
        } as i32,
        reason: c.reason.clone(),
    };
    proto::Explanation {
        events: lead.computed.as_ref().map(event_summary),
        computed_features: lead
            .computed
            .zip(events)
            .map(|(c, compiled)| c.window.named(compiled).into_iter().collect())
            .unwrap_or_default(),
        lead_id: lead.lead_id,
        probability: e.score.probability,
        base_log_odds: e.base_log_odds,
        log_odds: e.score.log_odds,
        contributions: if top_k == 0 {
            e.contributions.iter().map(contribution).collect()
        } else {
            e.top_k(top_k).into_iter().map(contribution).collect()
        },
        suggestion: e.suggestion.map(|s| proto::Suggestion {
            feature: specs[s.feature_index].name.clone(),
            label: specs[s.feature_index].label.clone(),
            from_value: s.from_value,
            to_value: s.to_value,
            new_probability: s.new_probability,
            new_score: display_score(s.new_probability),
            reason: s.reason,
        }),
        score: e.score.score,
        band: e.score.band,
        warnings: e.score.warnings,
    }
}

impl LeadScoringService {
    async fn score_accounts_inner(
        &self,
        req: proto::ScoreAccountsRequest,
        deadline: Option<Deadline>,
    ) -> Result<proto::ScoreAccountsResponse, ServiceError> {
        let job = self.job(&req.model, &req.version, req.leads, deadline)?;
        let (job, scores) = run_job(job, |job| job.run(|l, lead| l.model.score_lead(lead))).await?;
        record_scores(&job.loaded, "ScoreAccounts", scores.iter());
        let model = &job.loaded.model;
        let leads: Vec<AccountLead<'_>> = job
            .leads
            .iter()
            .zip(&scores)
            .map(|(lead, score)| AccountLead {
                account_id: &lead.account_id,
                email: &lead.email,
                features: lead.features(),
                probability: score.probability,
            })
            .collect();
        let AccountScores {
            accounts,
            unassigned,
        } = account_scoring::score_accounts(model, &leads, TOP_LEADS_PER_ACCOUNT);
        let account_scores = accounts
            .into_iter()
            .map(|account| account_score_to_proto(account, &job.leads, &scores))
            .collect();
        let unassigned_lead_ids = unassigned
            .into_iter()
            .map(|i| job.leads[i].lead_id.clone())
            .collect();
        Ok(proto::ScoreAccountsResponse {
            model: job.loaded.name.clone(),
            version: job.loaded.version.to_string(),
            accounts: account_scores,
            unassigned_lead_ids,
        })
    }
}

/// Top leads shown per account in `ScoreAccounts`.
const TOP_LEADS_PER_ACCOUNT: usize = 5;

/// One account's score on the wire; `leads` and `scores` are the batch the
/// account's lead positions point into.
fn account_score_to_proto(
    account: AccountScore,
    leads: &[ParsedLead],
    scores: &[LeadScore],
) -> proto::AccountScore {
    let top = account
        .top_leads
        .into_iter()
        .map(|top| {
            let s = &scores[top.index];
            proto::LeadScore {
                lead_id: leads[top.index].lead_id.clone(),
                probability: s.probability,
                score: s.score,
                band: s.band.clone(),
                warnings: s.warnings.clone(),
                error: None,
                events: leads[top.index].computed.as_ref().map(event_summary),
                stage: top
                    .stage
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            }
        })
        .collect();
    proto::AccountScore {
        account_key: account.key.key,
        key_source: match account.key.source {
            accounts::KeySource::AccountId => "account_id",
            accounts::KeySource::EmailDomain => "email_domain",
        }
        .to_string(),
        probability: account.probability,
        score: account.score,
        band: account.band,
        contacts: account.features.contacts as u32,
        engaged_contacts: account.features.engaged_contacts as u32,
        leads: top,
        reasons: account
            .reasons
            .into_iter()
            .map(|r| proto::Contribution {
                direction: if r.contribution > 0.0 {
                    proto::Direction::Raises
                } else if r.contribution < 0.0 {
                    proto::Direction::Lowers
                } else {
                    proto::Direction::Neutral
                } as i32,
                label: r.label,
                feature: r.column,
                contribution: r.contribution,
                value: r.value,
                reason: r.reason,
            })
            .collect(),
        fallback: account.fallback,
        method: account.method.to_string(),
        base_log_odds: account.base_log_odds,
        log_odds: account.log_odds,
    }
}

/// The lead's stage as text, "" when the model has no stage rules.
fn stage_text(
    model: &ScoringModel,
    lead: LeadFeatures<'_>,
    account: Option<&accounts::AccountFeatures>,
) -> String {
    model
        .stage_of_lead(lead, account)
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

/// Per-lead metrics: leads scored, the probability distribution, fallbacks.
pub(crate) fn record_scores<'a>(
    loaded: &LoadedModel,
    rpc: &'static str,
    scores: impl Iterator<Item = &'a LeadScore> + Clone,
) {
    record_scored(
        loaded,
        rpc,
        scores.clone().map(|s| s.probability),
        scores.flat_map(|s| s.fallbacks.iter()),
    );
}

/// [`record_scores`] for scores kept as probabilities and fallbacks (the
/// tensor path, see [`crate::scoring::dense`]).
pub(crate) fn record_probabilities(
    loaded: &LoadedModel,
    rpc: &'static str,
    probabilities: &[f64],
    fallbacks: &[(usize, Fallback)],
) {
    record_scored(loaded, rpc, probabilities.iter().copied(), fallbacks.iter());
}

fn record_scored<'a>(
    loaded: &LoadedModel,
    rpc: &'static str,
    probabilities: impl Iterator<Item = f64>,
    fallbacks: impl Iterator<Item = &'a (usize, Fallback)>,
) {
    let model = loaded.name.clone();
    let version = loaded.version.to_string();
    let histogram = metrics::histogram!(m::SCORE_PROBABILITY, "model" => model.clone(), "version" => version.clone());
    let specs = loaded.model.pipeline().specs();
    let mut n = 0u64;
    for p in probabilities {
        n += 1;
        histogram.record(p);
    }
    for (feature, kind) in fallbacks {
        metrics::counter!(
            m::FEATURE_FALLBACKS_TOTAL,
            "model" => model.clone(),
            "feature" => specs[*feature].name.clone(),
            "kind" => kind.as_str()
        )
        .increment(1);
    }
    metrics::counter!(m::LEADS_SCORED_TOTAL, "rpc" => rpc, "model" => model, "version" => version)
        .increment(n);
}

/// A lead parsed from the wire: id plus domain input.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLead {
    /// Caller's id.
    pub lead_id: String,
    /// Caller's account id.
    pub account_id: String,
    /// Caller's email (only for the account key).
    pub email: String,
    /// Named or dense features as sent (the window features of its events
    /// are in `computed`; [`ParsedLead::features`] reads both).
    pub input: LeadInput,
    /// The lead's raw events and as-of time, when it sent any.
    pub events: Option<WireEvents>,
    /// What the model computed from them ([`apply_events`]).
    pub computed: Option<ComputedEvents>,
}

impl ParsedLead {
    /// The lead as the model reads it: its input and the window features
    /// its events gave.
    pub fn features(&self) -> LeadFeatures<'_> {
        LeadFeatures {
            input: &self.input,
            window: self.computed.as_ref().map(|c| &c.window),
        }
    }
}

/// A lead's raw events as sent, their times parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct WireEvents {
    /// Type, time and optional value of each event, in request order.
    pub events: Vec<(String, Timestamp, Option<f64>)>,
    /// The time the features are computed at.
    pub as_of: Timestamp,
}

/// The window features a lead's events gave, and what was counted.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputedEvents {
    /// Computed values and the event summary.
    pub window: WindowValues,
    /// The as-of time used.
    pub as_of: Timestamp,
    /// Distinct unknown event types before `as_of` (at most 16).
    pub unknown_types: Vec<String>,
}

/// Computes a parsed lead's window features with the model's event
/// definition (the trainer's own code, [`crate::scoring::events`]) into
/// its `computed` (the input stays as sent).
///
/// # Errors
/// [`ServiceError::InvalidLead`] naming `events` when the model takes no
/// events or the input is dense, or the precomputed feature that the events
/// also compute.
pub fn apply_events(
    model: &ScoringModel,
    index: usize,
    lead: &mut ParsedLead,
) -> Result<(), ServiceError> {
    let Some(wire) = lead.events.take() else {
        return Ok(());
    };
    let invalid = |field: String, message: String| ServiceError::InvalidLead {
        index,
        lead_id: lead.lead_id.clone(),
        field,
        message,
    };
    let raw: Vec<RawEvent<'_>> = wire
        .events
        .iter()
        .map(|(event_type, at, value)| RawEvent {
            event_type,
            at: *at,
            value: *value,
        })
        .collect();
    let window = model
        .event_features(&lead.input, &raw, wire.as_of)
        .map_err(|e| match &e {
            LeadEventsError::GivenTwice(name) => {
                invalid(format!("features[\"{name}\"]"), e.to_string())
            }
            LeadEventsError::DenseInput => invalid("values".into(), e.to_string()),
            LeadEventsError::NoDefinition => invalid("events".into(), e.to_string()),
        })?;
    let mut unknown_types: Vec<String> = Vec::new();
    if let Some(compiled) = model.events().filter(|_| window.summary.unknown_types > 0) {
        for (event_type, at, _) in &wire.events {
            if unknown_types.len() >= UNKNOWN_TYPES_SHOWN {
                break;
            }
            if *at < wire.as_of
                && compiled.type_index(event_type).is_none()
                && !unknown_types.contains(event_type)
            {
                unknown_types.push(event_type.clone());
            }
        }
    }
    lead.computed = Some(ComputedEvents {
        window,
        as_of: wire.as_of,
        unknown_types,
    });
    Ok(())
}

/// A lead's event summary on the wire.
fn event_summary(computed: &ComputedEvents) -> proto::EventSummary {
    let s = computed.window.summary;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    proto::EventSummary {
        used: count(s.used),
        after_as_of: count(s.after_as_of),
        unknown_type_events: count(s.unknown_types),
        unknown_types: computed.unknown_types.clone(),
        as_of: computed.as_of.to_string(),
    }
}

/// Parses wire leads into domain leads, naming the first malformed field.
///
/// # Errors
/// [`ServiceError::InvalidLead`] when a lead gives both or neither of
/// `features` / `values`, or a feature value with no kind set.
pub fn parse_leads(
    leads: Vec<proto::Lead>,
    max_events_per_lead: usize,
) -> Result<Vec<ParsedLead>, ServiceError> {
    leads
        .into_iter()
        .enumerate()
        .map(|(index, lead)| parse_lead(index, lead, max_events_per_lead))
        .collect()
}

/// Parses one wire lead (at position `index` of its request).
///
/// # Errors
/// As [`parse_leads`].
pub fn parse_lead(
    index: usize,
    mut lead: proto::Lead,
    max_events_per_lead: usize,
) -> Result<ParsedLead, ServiceError> {
    let invalid = |field: String, message: &str| ServiceError::InvalidLead {
        index,
        lead_id: lead.lead_id.clone(),
        field,
        message: message.to_string(),
    };
    let events = if lead.events.is_empty() && lead.as_of.is_empty() {
        None
    } else {
        Some(
            parse_events(
                std::mem::take(&mut lead.events),
                &lead.as_of,
                max_events_per_lead,
            )
            .map_err(|(field, message)| invalid(field, &message))?,
        )
    };
    let input = match (lead.features.is_empty(), lead.values.is_empty()) {
        (true, true) if events.is_some() => LeadInput::Named(HashMap::new()),
        (false, false) => {
            return Err(invalid(
                "features".into(),
                "give exactly one of features or values, not both",
            ))
        }
        (true, true) => {
            return Err(invalid(
                "features".into(),
                "give exactly one of features or values; both are empty",
            ))
        }
        (false, true) => {
            let features = std::mem::take(&mut lead.features);
            let mut map = HashMap::with_capacity(features.len());
            for (name, value) in features {
                let raw = match value.kind {
                    Some(proto::feature_value::Kind::Number(x)) => RawValue::Number(x),
                    Some(proto::feature_value::Kind::Category(c)) => RawValue::Category(c),
                    Some(proto::feature_value::Kind::Flag(b)) => RawValue::Flag(b),
                    None => {
                        return Err(invalid(
                            format!("features[\"{name}\"]"),
                            "no value set (number, category or flag)",
                        ))
                    }
                };
                map.insert(name, raw);
            }
            LeadInput::Named(map)
        }
        (true, false) => LeadInput::Dense(lead.values),
    };
    Ok(ParsedLead {
        lead_id: lead.lead_id,
        account_id: lead.account_id,
        email: lead.email,
        input,
        events,
        computed: None,
    })
}

/// A wire lead's events and as-of time; the error names the field.
fn parse_events(
    wire: Vec<proto::Event>,
    as_of: &str,
    max_events_per_lead: usize,
) -> Result<WireEvents, (String, String)> {
    if wire.len() > max_events_per_lead {
        return Err((
            "events".into(),
            format!(
                "{} events; at most {max_events_per_lead} per lead (--max-events-per-lead)",
                wire.len()
            ),
        ));
    }
    let as_of = if as_of.is_empty() {
        Timestamp::now()
    } else {
        parse_timestamp(as_of).map_err(|e| ("as_of".to_string(), e.to_string()))?
    };
    let mut events = Vec::with_capacity(wire.len());
    for (j, mut event) in wire.into_iter().enumerate() {
        // The trainer's normalisation of an event type, so " page_view " is
        // the page_view it learnt from (copied only when it changes).
        let Some(kind) = normalise_event_type(&event.r#type) else {
            return Err((format!("events[{j}].type"), "empty event type".into()));
        };
        if kind.len() != event.r#type.len() {
            event.r#type = kind.to_string();
        }
        let at = parse_timestamp(&event.time)
            .map_err(|e| (format!("events[{j}].time"), e.to_string()))?;
        if let Some(v) = event.value {
            if !v.is_finite() {
                return Err((
                    format!("events[{j}].value"),
                    format!("{v} is not a finite number"),
                ));
            }
        }
        events.push((event.r#type, at, event.value));
    }
    Ok(WireEvents { events, as_of })
}

fn invalid_lead(
    index: usize,
    lead_id: &str,
    err: crate::scoring::features::FeatureError,
) -> ServiceError {
    ServiceError::InvalidLead {
        index,
        lead_id: lead_id.to_string(),
        field: err.field(),
        message: err.to_string(),
    }
}

/// `ModelInfo` of a loaded version, with the labels that point at it.
pub fn model_info(loaded: &LoadedModel, labels: Vec<String>) -> proto::ModelInfo {
    let a: &ModelArtifact = loaded.model.artifact();
    proto::ModelInfo {
        name: loaded.name.clone(),
        version: loaded.version.to_string(),
        kind: a.estimator.kind().to_string(),
        format_version: a.format_version,
        features: a
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| proto::FeatureSchema {
                name: f.name.clone(),
                kind: match f.kind() {
                    FeatureKind::Numeric => proto::FeatureKind::Numeric,
                    FeatureKind::Categorical => proto::FeatureKind::Categorical,
                    FeatureKind::Boolean => proto::FeatureKind::Boolean,
                } as i32,
                label: f.label.clone(),
                categories: f.categories().to_vec(),
                source_column: f.source_column.clone(),
                imputed_value: f.imputed_value(),
                mean_abs_contribution: a
                    .explanation
                    .mean_abs_contributions
                    .get(i)
                    .copied()
                    .unwrap_or(0.0),
                reason: f.reason_template(&UsedValue::Flag(true)).to_string(),
                reason_when_false: match f.kind() {
                    FeatureKind::Boolean => f.reason_template(&UsedValue::Flag(false)).to_string(),
                    _ => String::new(),
                },
                actionable: f.is_actionable(),
            })
            .collect(),
        bands: a
            .bands
            .iter()
            .map(|b| proto::Band {
                name: b.name.clone(),
                min_probability: b.min_probability,
            })
            .collect(),
        provenance: Some(proto::Provenance {
            data_sha256: a.provenance.data_sha256.clone(),
            data_file: a.provenance.data_file.clone(),
            rows: a.provenance.rows,
            positive_rate: a.provenance.positive_rate,
            excluded_columns: a.provenance.excluded_columns.clone(),
            trainer_version: a.provenance.trainer_version.clone(),
            target_column: a.provenance.target_column.clone(),
            trained_at: a.provenance.trained_at.clone(),
            seed: a.provenance.seed,
            test_fraction: a.provenance.test_fraction,
            command: a.provenance.command.clone(),
        }),
        metrics: Some(proto::HeldOutMetrics {
            roc_auc: a.metrics.roc_auc,
            log_loss: a.metrics.log_loss,
            brier: a.metrics.brier,
            base_rate_log_loss: a.metrics.base_rate_log_loss,
            rows: a.metrics.rows,
            positives: a.metrics.positives,
            pr_auc: a.metrics.pr_auc,
            ece: a.metrics.ece,
            precision_top10: a.metrics.precision_top10,
            lift_top10: a.metrics.lift_top10,
        }),
        base_log_odds: loaded.model.base_log_odds(),
        loaded_at_unix: loaded
            .loaded_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        labels,
        calibration: a.calibration.method().to_string(),
        stage_rules: a.stages.rules().iter().map(ToString::to_string).collect(),
        events: a.events.as_ref().map(event_definition_to_proto),
    }
}

/// Per-request context: id, deadline, timer, in-flight guard.
pub(crate) struct Call {
    rpc: &'static str,
    protocol: &'static str,
    /// The caller's `x-request-id`, or a fresh one.
    pub(crate) request_id: String,
    pub(crate) deadline: Option<Deadline>,
    pub(crate) started: Instant,
    _in_flight: InFlight,
}

impl Call {
    pub(crate) fn start<T>(rpc: &'static str, request: &Request<T>) -> Self {
        let request_id = request
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_string)
            .unwrap_or_else(new_request_id);
        Self {
            rpc,
            protocol: crate::serve::metrics::Protocol::of(request.extensions()).label(),
            request_id,
            deadline: request.extensions().get::<Deadline>().copied(),
            started: Instant::now(),
            _in_flight: InFlight::start(),
        }
    }

    /// Logs one debug line, records metrics, converts the outcome.
    fn finish<T>(
        self,
        leads: usize,
        result: Result<(T, String, String), ServiceError>,
    ) -> Result<Response<T>, Status> {
        self.finish_status(leads, result.map_err(Status::from))
    }

    /// [`Call::finish`] for handlers that already hold a `Status` (the Open
    /// Inference Protocol service): `Ok` carries the body, model and version.
    pub(crate) fn finish_status<T>(
        self,
        leads: usize,
        result: Result<(T, String, String), Status>,
    ) -> Result<Response<T>, Status> {
        let elapsed = self.started.elapsed();
        let latency_us = elapsed.as_micros() as u64;
        let rpc = self.rpc;
        let request_id = self.request_id.as_str();
        let (mut outcome, model, version, code) = match result {
            Ok((body, model, version)) => {
                tracing::debug!(
                    rpc,
                    request_id,
                    model,
                    version,
                    leads,
                    latency_us,
                    code = "OK",
                    "request"
                );
                (Ok(Response::new(body)), model, version, tonic::Code::Ok)
            }
            Err(status) => {
                tracing::debug!(rpc, request_id, leads, latency_us, code = ?status.code(), error = status.message(), "request");
                let code = status.code();
                (Err(status), String::new(), String::new(), code)
            }
        };
        if code == tonic::Code::DeadlineExceeded {
            metrics::counter!(m::DEADLINE_EXCEEDED_TOTAL, "rpc" => rpc).increment(1);
        }
        let protocol = self.protocol;
        metrics::histogram!(m::REQUEST_DURATION_SECONDS, "protocol" => protocol, "rpc" => rpc, "model" => model.clone(), "version" => version.clone())
            .record(elapsed.as_secs_f64());
        metrics::counter!(m::REQUESTS_TOTAL, "protocol" => protocol, "rpc" => rpc, "model" => model, "version" => version, "code" => crate::serve::status::code_label(code))
            .increment(1);
        if let Ok(mut id) = MetadataValue::try_from(self.request_id.as_str()) {
            // A fresh value per response: sent as a never-indexed literal.
            // Indexed, every id would enter the connection's HPACK table,
            // evict the headers that repeat, and lengthen the list of
            // same-named entries each later response is compared against.
            id.set_sensitive(true);
            match &mut outcome {
                Ok(response) => {
                    response.metadata_mut().insert("x-request-id", id);
                }
                Err(status) => {
                    status.metadata_mut().insert("x-request-id", id);
                }
            }
        }
        outcome
    }
}

fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Answers of one ScoreStream call, produced as requests arrive.
pub type ScoreStreamResponses =
    tokio_stream::wrappers::ReceiverStream<Result<proto::ScoreResponse, Status>>;

#[tonic::async_trait]
impl LeadScoring for LeadScoringService {
    type ScoreStreamStream = ScoreStreamResponses;

    async fn score_stream(
        &self,
        request: Request<tonic::Streaming<proto::ScoreRequest>>,
    ) -> Result<Response<Self::ScoreStreamStream>, Status> {
        let call = Call::start("ScoreStream", &request);
        let request_id = call.request_id.clone();
        let mut inbound = request.into_inner();
        // Capacity 1: the next request is read only when the previous answer
        // has been taken by the transport, so HTTP/2 flow control reaches the
        // writer and memory stays bounded whatever the client sends.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let service = self.clone();
        tokio::spawn(async move {
            let (mut messages, mut leads) = (0u64, 0u64);
            loop {
                let next = match inbound.message().await {
                    Ok(Some(req)) => req,
                    Ok(None) => break,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        break;
                    }
                };
                messages += 1;
                leads += next.leads.len() as u64;
                let service = service.clone();
                let answer = if next.leads.len() >= BLOCKING_BATCH {
                    tokio::task::spawn_blocking(move || service.score_stream_message(next))
                        .await
                        .map_err(|e| Status::from(ServiceError::Internal(e.to_string())))
                } else {
                    Ok(service.score_stream_message(next))
                };
                if tx.send(answer).await.is_err() {
                    break; // the client went away
                }
            }
            tracing::debug!(
                rpc = "ScoreStream",
                request_id,
                messages,
                leads,
                "stream ended"
            );
        });
        call.finish(
            0,
            Ok((ScoreStreamResponses::new(rx), String::new(), String::new())),
        )
    }

    async fn score(
        &self,
        request: Request<proto::ScoreRequest>,
    ) -> Result<Response<proto::ScoreResponse>, Status> {
        let call = Call::start("Score", &request);
        let req = request.into_inner();
        let leads = req.leads.len();
        let result = self
            .score_inner(req, call.deadline)
            .await
            .map(|r| (r.model.clone(), r.version.clone(), r))
            .map(|(m, v, r)| (r, m, v));
        call.finish(leads, result)
    }

    async fn explain(
        &self,
        request: Request<proto::ExplainRequest>,
    ) -> Result<Response<proto::ExplainResponse>, Status> {
        let call = Call::start("Explain", &request);
        let req = request.into_inner();
        let leads = req.leads.len();
        let result = self
            .explain_inner(req, call.deadline)
            .await
            .map(|r| (r.model.clone(), r.version.clone(), r))
            .map(|(m, v, r)| (r, m, v));
        call.finish(leads, result)
    }

    async fn score_accounts(
        &self,
        request: Request<proto::ScoreAccountsRequest>,
    ) -> Result<Response<proto::ScoreAccountsResponse>, Status> {
        let call = Call::start("ScoreAccounts", &request);
        let req = request.into_inner();
        let leads = req.leads.len();
        let result = self
            .score_accounts_inner(req, call.deadline)
            .await
            .map(|r| (r.model.clone(), r.version.clone(), r))
            .map(|(m, v, r)| (r, m, v));
        call.finish(leads, result)
    }

    async fn get_model(
        &self,
        request: Request<proto::GetModelRequest>,
    ) -> Result<Response<proto::ModelInfo>, Status> {
        let call = Call::start("GetModel", &request);
        let req = request.into_inner();
        let registry = self.registry.load();
        let result = registry
            .get(&req.model, &req.version)
            .map_err(ServiceError::from)
            .map(|loaded| {
                let labels = registry.labels_of(&loaded.name, loaded.version);
                (
                    model_info(&loaded, labels),
                    loaded.name.clone(),
                    loaded.version.to_string(),
                )
            });
        call.finish(0, result)
    }

    async fn list_models(
        &self,
        request: Request<proto::ListModelsRequest>,
    ) -> Result<Response<proto::ListModelsResponse>, Status> {
        let call = Call::start("ListModels", &request);
        let registry = self.registry.load();
        let body = proto::ListModelsResponse {
            models: registry
                .all()
                .map(|m| model_info(m, registry.labels_of(&m.name, m.version)))
                .collect(),
            default_model: registry.default_model().unwrap_or_default().to_string(),
        };
        call.finish(0, Ok((body, String::new(), String::new())))
    }
}

/// A model's event definition on the wire (GetModel).
fn event_definition_to_proto(
    definition: &crate::scoring::events::EventDefinition,
) -> proto::EventDefinition {
    use crate::scoring::events::Aggregate;
    proto::EventDefinition {
        event_types: definition.event_types.clone(),
        features: definition
            .features
            .iter()
            .map(|f| {
                let mut out = proto::WindowFeature {
                    name: f.name.clone(),
                    kind: f.aggregate.kind().to_string(),
                    event: f.aggregate.event().unwrap_or_default().to_string(),
                    description: f.aggregate.description(),
                    ..Default::default()
                };
                match &f.aggregate {
                    Aggregate::Count { days, .. }
                    | Aggregate::ActiveDays { days, .. }
                    | Aggregate::ValueSum { days, .. } => out.days = *days,
                    Aggregate::DecayedCount { half_life_days, .. } => {
                        out.half_life_days = *half_life_days
                    }
                    Aggregate::Ratio {
                        numerator,
                        denominator,
                    } => {
                        out.numerator = numerator.clone();
                        out.denominator = denominator.clone();
                    }
                    _ => {}
                }
                out
            })
            .collect(),
    }
}
