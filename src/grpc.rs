//! The `leadscore.v1.LeadScoring` gRPC service.
//!
//! Handlers are thin: parse the protobuf request into domain types at the
//! edge ([`parse_leads`]), call the model, convert back. Status codes are
//! chosen only in [`crate::error`]. Each handler logs one line at debug level
//! with the rpc, model, version, lead count, latency and outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tonic::{Request, Response, Status};

use crate::error::ServiceError;
use crate::features::{FeatureKind, LeadInput, RawValue};
use crate::model::ModelArtifact;
use crate::proto;
use crate::proto::lead_scoring_server::LeadScoring;
use crate::registry::{LoadedModel, ModelRegistry};

/// The registry as the service sees it: swapped atomically as a whole.
pub type SharedRegistry = Arc<ArcSwap<ModelRegistry>>;

/// Implementation of `leadscore.v1.LeadScoring`.
#[derive(Debug, Clone)]
pub struct LeadScoringService {
    registry: SharedRegistry,
    max_leads_per_request: usize,
}

impl LeadScoringService {
    /// A service over `registry`, refusing requests with more than
    /// `max_leads_per_request` leads.
    pub fn new(registry: SharedRegistry, max_leads_per_request: usize) -> Self {
        Self {
            registry,
            max_leads_per_request,
        }
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

    fn score_inner(&self, req: proto::ScoreRequest) -> Result<proto::ScoreResponse, ServiceError> {
        self.check_count(req.leads.len())?;
        let loaded = self.resolve(&req.model, &req.version)?;
        let leads = parse_leads(req.leads)?;
        let mut scores = Vec::with_capacity(leads.len());
        for (index, lead) in leads.into_iter().enumerate() {
            let s = loaded
                .model
                .score(&lead.input)
                .map_err(|e| invalid_lead(index, &lead.lead_id, e))?;
            scores.push(proto::LeadScore {
                lead_id: lead.lead_id,
                probability: s.probability,
                score: s.score,
                band: s.band,
                warnings: s.warnings,
            });
        }
        Ok(proto::ScoreResponse {
            model: loaded.name.clone(),
            version: loaded.version.to_string(),
            scores,
        })
    }

    fn explain_inner(
        &self,
        req: proto::ExplainRequest,
    ) -> Result<proto::ExplainResponse, ServiceError> {
        self.check_count(req.leads.len())?;
        let loaded = self.resolve(&req.model, &req.version)?;
        let leads = parse_leads(req.leads)?;
        let specs = loaded.model.pipeline().specs();
        let mut explanations = Vec::with_capacity(leads.len());
        for (index, lead) in leads.into_iter().enumerate() {
            let e = loaded
                .model
                .explain(&lead.input)
                .map_err(|e| invalid_lead(index, &lead.lead_id, e))?;
            let keep = if req.top_k == 0 {
                e.contributions.len()
            } else {
                req.top_k as usize
            };
            explanations.push(proto::Explanation {
                lead_id: lead.lead_id,
                probability: e.score.probability,
                base_log_odds: e.base_log_odds,
                log_odds: e.score.log_odds,
                contributions: e
                    .contributions
                    .into_iter()
                    .take(keep)
                    .map(|c| proto::Contribution {
                        feature: specs[c.feature_index].name.clone(),
                        label: specs[c.feature_index].label.clone(),
                        contribution: c.contribution,
                        value: c.value,
                    })
                    .collect(),
                score: e.score.score,
                band: e.score.band,
                warnings: e.score.warnings,
            });
        }
        Ok(proto::ExplainResponse {
            model: loaded.name.clone(),
            version: loaded.version.to_string(),
            explanations,
        })
    }
}

/// A lead parsed from the wire: id plus domain input.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLead {
    /// Caller's id.
    pub lead_id: String,
    /// Caller's account id.
    pub account_id: String,
    /// Named or dense features.
    pub input: LeadInput,
}

/// Parses wire leads into domain leads, naming the first malformed field.
///
/// # Errors
/// [`ServiceError::InvalidLead`] when a lead gives both or neither of
/// `features` / `values`, or a feature value with no kind set.
pub fn parse_leads(leads: Vec<proto::Lead>) -> Result<Vec<ParsedLead>, ServiceError> {
    leads
        .into_iter()
        .enumerate()
        .map(|(index, lead)| {
            let invalid = |field: String, message: &str| ServiceError::InvalidLead {
                index,
                lead_id: lead.lead_id.clone(),
                field,
                message: message.to_string(),
            };
            let input = match (lead.features.is_empty(), lead.values.is_empty()) {
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
                    let mut map = HashMap::with_capacity(lead.features.len());
                    for (name, value) in &lead.features {
                        let raw = match &value.kind {
                            Some(proto::feature_value::Kind::Number(x)) => RawValue::Number(*x),
                            Some(proto::feature_value::Kind::Category(c)) => {
                                RawValue::Category(c.clone())
                            }
                            Some(proto::feature_value::Kind::Flag(b)) => RawValue::Flag(*b),
                            None => {
                                return Err(invalid(
                                    format!("features[\"{name}\"]"),
                                    "no value set (number, category or flag)",
                                ))
                            }
                        };
                        map.insert(name.clone(), raw);
                    }
                    LeadInput::Named(map)
                }
                (true, false) => LeadInput::Dense(lead.values.clone()),
            };
            Ok(ParsedLead {
                lead_id: lead.lead_id,
                account_id: lead.account_id,
                input,
            })
        })
        .collect()
}

fn invalid_lead(index: usize, lead_id: &str, err: crate::features::FeatureError) -> ServiceError {
    ServiceError::InvalidLead {
        index,
        lead_id: lead_id.to_string(),
        field: err.field(),
        message: err.to_string(),
    }
}

/// `ModelInfo` of a loaded version.
pub fn model_info(loaded: &LoadedModel) -> proto::ModelInfo {
    let a: &ModelArtifact = loaded.model.artifact();
    proto::ModelInfo {
        name: loaded.name.clone(),
        version: loaded.version.to_string(),
        kind: a.estimator.kind().to_string(),
        format_version: a.format_version,
        features: a
            .features
            .iter()
            .map(|f| proto::FeatureSchema {
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
        }),
        base_log_odds: loaded.model.base_log_odds(),
        loaded_at_unix: loaded
            .loaded_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    }
}

/// Logs one debug line per request and converts the outcome.
fn finish<T>(
    rpc: &'static str,
    started: Instant,
    leads: usize,
    result: Result<(T, String, String), ServiceError>,
) -> Result<Response<T>, Status> {
    let latency_us = started.elapsed().as_micros() as u64;
    match result {
        Ok((body, model, version)) => {
            tracing::debug!(
                rpc,
                model,
                version,
                leads,
                latency_us,
                code = "OK",
                "request"
            );
            Ok(Response::new(body))
        }
        Err(err) => {
            let status = Status::from(err);
            tracing::debug!(
                rpc,
                leads,
                latency_us,
                code = ?status.code(),
                error = status.message(),
                "request"
            );
            Err(status)
        }
    }
}

#[tonic::async_trait]
impl LeadScoring for LeadScoringService {
    async fn score(
        &self,
        request: Request<proto::ScoreRequest>,
    ) -> Result<Response<proto::ScoreResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let leads = req.leads.len();
        let result = self
            .score_inner(req)
            .map(|r| (r.model.clone(), r.version.clone(), r))
            .map(|(m, v, r)| (r, m, v));
        finish("Score", started, leads, result)
    }

    async fn explain(
        &self,
        request: Request<proto::ExplainRequest>,
    ) -> Result<Response<proto::ExplainResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let leads = req.leads.len();
        let result = self
            .explain_inner(req)
            .map(|r| (r.model.clone(), r.version.clone(), r))
            .map(|(m, v, r)| (r, m, v));
        finish("Explain", started, leads, result)
    }

    async fn get_model(
        &self,
        request: Request<proto::GetModelRequest>,
    ) -> Result<Response<proto::ModelInfo>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let result = self.resolve(&req.model, &req.version).map(|loaded| {
            (
                model_info(&loaded),
                loaded.name.clone(),
                loaded.version.to_string(),
            )
        });
        finish("GetModel", started, 0, result)
    }

    async fn list_models(
        &self,
        _request: Request<proto::ListModelsRequest>,
    ) -> Result<Response<proto::ListModelsResponse>, Status> {
        let started = Instant::now();
        let registry = self.registry.load();
        let body = proto::ListModelsResponse {
            models: registry.all().map(|m| model_info(m)).collect(),
            default_model: registry.default_model().unwrap_or_default().to_string(),
        };
        finish(
            "ListModels",
            started,
            0,
            Ok((body, String::new(), String::new())),
        )
    }
}
