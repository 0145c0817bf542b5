//! Account scoring of a batch of scored leads: the transport-free core of
//! the `ScoreAccounts` RPC.
//!
//! [`score_accounts`] groups leads into accounts ([`accounts::account_key`],
//! in order of first appearance), reads each lead through the model's
//! [`accounts::LeadLens`], rolls the account up ([`accounts::roll_up`]),
//! applies the model's account model (or, without one, the documented
//! [`accounts::fallback_probability`]), and picks the account's top leads
//! with their stages. It lives apart from [`accounts`] because it needs the
//! served [`ScoringModel`], and `model` already imports `accounts`.

use std::collections::HashMap;

use crate::scoring::accounts::{self, AccountFeatures, AccountKey, AccountReason, LeadLens};
use crate::scoring::features::FeatureKind;
use crate::scoring::math::log_odds;
use crate::scoring::model::{display_score, LeadFeatures, ScoringModel};
use crate::scoring::stages::Stage;

/// What the account model says about its method, shown to callers.
pub const ACCOUNT_MODEL_DESCRIPTION: &str = "account model (logistic over rolled-up leads)";

/// One scored lead, as account scoring needs it.
#[derive(Debug, Clone, Copy)]
pub struct AccountLead<'a> {
    /// Caller's account id ("" when none).
    pub account_id: &'a str,
    /// Caller's email ("" when none), only for the account key.
    pub email: &'a str,
    /// The lead's features as sent, and the window features of its events.
    pub features: LeadFeatures<'a>,
    /// The lead's calibrated probability.
    pub probability: f64,
}

/// One of an account's top leads.
#[derive(Debug, Clone, PartialEq)]
pub struct TopLead {
    /// Position of the lead in the input slice.
    pub index: usize,
    /// The lead's stage with the account's roll-up (`None`: the model has
    /// no stage rules).
    pub stage: Option<Stage>,
}

/// The score of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountScore {
    /// The account key and where it came from.
    pub key: AccountKey,
    /// Probability that the account buys.
    pub probability: f64,
    /// Display score 1..=99.
    pub score: u32,
    /// Band name of the probability.
    pub band: String,
    /// Log-odds of the probability.
    pub log_odds: f64,
    /// The account model's base log-odds (0 for the fallback).
    pub base_log_odds: f64,
    /// The account model's reasons (empty for the fallback).
    pub reasons: Vec<AccountReason>,
    /// Whether the fallback roll-up was used (no account model).
    pub fallback: bool,
    /// How the probability was computed, in words.
    pub method: &'static str,
    /// The rolled-up account features.
    pub features: AccountFeatures,
    /// The account's best leads, best first.
    pub top_leads: Vec<TopLead>,
}

/// The accounts of a batch and the leads that form none.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountScores {
    /// Accounts in order of their first lead.
    pub accounts: Vec<AccountScore>,
    /// Positions of the leads with no account key (no account id, and no
    /// company email domain).
    pub unassigned: Vec<usize>,
}

/// Scores the accounts behind `leads`, keeping at most `top_k` top leads
/// per account. Never panics; accounts and leads keep the input order.
pub fn score_accounts(
    model: &ScoringModel,
    leads: &[AccountLead<'_>],
    top_k: usize,
) -> AccountScores {
    let lens = account_lens(model);
    let mut keys: Vec<AccountKey> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let mut unassigned = Vec::new();
    for (i, lead) in leads.iter().enumerate() {
        match accounts::account_key(Some(lead.account_id), Some(lead.email)) {
            Some(key) => {
                let at = *index_of.entry(key.key.clone()).or_insert_with(|| {
                    keys.push(key);
                    members.push(Vec::new());
                    keys.len() - 1
                });
                members[at].push(i);
            }
            None => unassigned.push(i),
        }
    }
    let accounts = keys
        .into_iter()
        .zip(members)
        .map(|(key, member)| score_account(model, &lens, leads, key, &member, top_k))
        .collect();
    AccountScores {
        accounts,
        unassigned,
    }
}

/// One account from the positions of its leads.
fn score_account(
    model: &ScoringModel,
    lens: &LeadLens,
    leads: &[AccountLead<'_>],
    key: AccountKey,
    member: &[usize],
    top_k: usize,
) -> AccountScore {
    let views: Vec<accounts::LeadView> = member
        .iter()
        .map(|&i| {
            let lead = &leads[i];
            lens.view(lead.probability, &|name| {
                model.lead_value(lead.features, name)
            })
        })
        .collect();
    let features = accounts::roll_up(&views);
    let (probability, log_odds, base_log_odds, reasons, fallback, method) =
        match &model.artifact().account_model {
            Some(am) => (
                am.probability(&features),
                am.log_odds(&features),
                am.base_log_odds,
                am.reasons(&features),
                false,
                ACCOUNT_MODEL_DESCRIPTION,
            ),
            None => {
                let p = accounts::fallback_probability(&features);
                (
                    p,
                    log_odds(p),
                    0.0,
                    Vec::new(),
                    true,
                    accounts::FALLBACK_DESCRIPTION,
                )
            }
        };
    let top_leads = accounts::top_leads(&views, top_k)
        .into_iter()
        .map(|v| {
            let index = member[v];
            TopLead {
                index,
                stage: model.stage_of_lead(leads[index].features, Some(&features)),
            }
        })
        .collect();
    AccountScore {
        key,
        probability,
        score: display_score(probability),
        band: model.band_of(probability).to_string(),
        log_odds,
        base_log_odds,
        reasons,
        fallback,
        method,
        features,
        top_leads,
    }
}

/// The account lens of a model: its account model's behavioural features
/// (else every numeric feature) and its engagement rule.
pub fn account_lens(model: &ScoringModel) -> LeadLens {
    let features: Vec<(&str, FeatureKind)> = model
        .pipeline()
        .specs()
        .iter()
        .map(|s| (s.name.as_str(), s.kind()))
        .collect();
    let account_numeric = model
        .artifact()
        .account_model
        .as_ref()
        .map(|am| am.numeric_features.as_slice());
    LeadLens::new(&features, account_numeric, model.engagement_rule())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::accounts::KeySource;
    use crate::scoring::features::LeadInput;
    use crate::scoring::model::ModelArtifact;

    fn served_model() -> ScoringModel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/x_education/2/model.json");
        let bytes = std::fs::read(path).expect("read model");
        let artifact: ModelArtifact = serde_json::from_slice(&bytes).expect("artifact");
        ScoringModel::from_artifact(artifact).expect("valid")
    }

    #[test]
    fn leads_are_grouped_by_account_in_order_and_free_mail_stays_unassigned() {
        // Arrange: a model without an account model, so the fallback applies.
        let model = served_model();
        assert!(model.artifact().account_model.is_none());
        let input = LeadInput::Named(HashMap::new());
        let lead = |account_id, email, probability| AccountLead {
            account_id,
            email,
            features: LeadFeatures::sent(&input),
            probability,
        };
        let leads = [
            lead("", "ann@betacorp.com", 0.2),
            lead("acme", "", 0.3),
            lead("", "joe@gmail.com", 0.9),
            lead("acme", "bob@acme.com", 0.7),
            lead("", "cy@betacorp.com", 0.4),
        ];

        // Act
        let scores = score_accounts(&model, &leads, 1);

        // Assert
        assert_eq!(scores.unassigned, vec![2]);
        assert_eq!(scores.accounts.len(), 2);
        let beta = &scores.accounts[0];
        let acme = &scores.accounts[1];
        assert_eq!(beta.key.source, KeySource::EmailDomain);
        assert_eq!(acme.key.key, "acme");
        assert_eq!(acme.key.source, KeySource::AccountId);
        assert_eq!(acme.features.contacts, 2);
        assert_eq!(beta.features.contacts, 2);
        // The fallback is the highest lead probability, and the best lead leads.
        assert!(acme.fallback && beta.fallback);
        assert_eq!(acme.method, accounts::FALLBACK_DESCRIPTION);
        assert!((acme.probability - 0.7).abs() < 1e-12);
        assert!((beta.probability - 0.4).abs() < 1e-12);
        assert_eq!(acme.score, display_score(0.7));
        assert_eq!(acme.band, model.band_of(0.7));
        assert!(acme.reasons.is_empty());
        assert_eq!(acme.base_log_odds, 0.0);
        assert_eq!(
            acme.top_leads.iter().map(|t| t.index).collect::<Vec<_>>(),
            vec![3]
        );
        assert_eq!(
            beta.top_leads.iter().map(|t| t.index).collect::<Vec<_>>(),
            vec![4]
        );
    }
}
