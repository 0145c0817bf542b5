//! ScoreAccounts and lifecycle stages over the real server.

use leadscore::scoring::accounts::{AccountModel, FIXED_COLUMNS};
use leadscore::scoring::model::ModelArtifact;
use leadscore::serve::proto::{GetModelRequest, Lead, ScoreAccountsRequest, ScoreRequest};
use leadscore::train::default_stages;
use tempfile::TempDir;

use crate::helpers::{lead, settings, spawn_with, synthetic_artifact, TestApp, MODEL};

/// The synthetic model with the default B2B stage rules and, optionally, an
/// account model.
async fn app_with(account_model: Option<AccountModel>) -> TestApp {
    let mut artifact: ModelArtifact = synthetic_artifact().clone();
    let names: Vec<&str> = artifact.features.iter().map(|f| f.name.as_str()).collect();
    artifact.stages = default_stages::default_for_features(&names);
    artifact.account_model = account_model;
    let repo = TempDir::new().expect("tempdir");
    leadscore::train::write_artifact(&artifact, &repo.path().join(MODEL).join("1"))
        .expect("write artifact");
    spawn_with(settings(repo.path()), Some(repo)).await
}

fn with_account(mut l: Lead, account_id: &str, email: &str) -> Lead {
    l.account_id = account_id.into();
    l.email = email.into();
    l
}

/// A hand-made account model: max lead log-odds plus 0.5 per engaged contact.
fn planted_account_model() -> AccountModel {
    let d = FIXED_COLUMNS.len();
    let mut weights = vec![0.0; d];
    weights[1] = 0.5; // engaged_contacts
    weights[4] = 1.0; // max_lead_log_odds
    AccountModel {
        columns: FIXED_COLUMNS.iter().map(|c| c.to_string()).collect(),
        numeric_features: vec![],
        means: vec![0.0; d],
        stds: vec![1.0; d],
        weights,
        base_log_odds: -1.0,
        l2: 1.0,
    }
}

fn leads_of_two_accounts() -> Vec<Lead> {
    vec![
        with_account(lead("a1", 6.0, true, "201-1000"), "", "jane@acme.com"),
        with_account(lead("a2", 1.0, false, "201-1000"), "", "bob@ACME.com"),
        with_account(lead("a3", 0.0, false, "201-1000"), "", "x+y@www.acme.com"),
        with_account(lead("b1", 2.0, false, "11-50"), "CRM-7", "ann@gmail.com"),
        with_account(lead("g1", 3.0, true, "11-50"), "", "solo@gmail.com"),
    ]
}

#[tokio::test]
async fn accounts_group_by_id_and_domain_with_the_account_model() {
    // Arrange
    let app = app_with(Some(planted_account_model())).await;
    // Act
    let response = app
        .client()
        .score_accounts(ScoreAccountsRequest {
            leads: leads_of_two_accounts(),
            ..Default::default()
        })
        .await
        .expect("ScoreAccounts")
        .into_inner();
    // Assert
    assert_eq!(response.unassigned_lead_ids, ["g1"]);
    assert_eq!(response.accounts.len(), 2);
    let acme = &response.accounts[0];
    assert_eq!(
        (acme.account_key.as_str(), acme.key_source.as_str()),
        ("acme.com", "email_domain")
    );
    assert_eq!(acme.contacts, 3);
    assert_eq!(acme.leads.len(), 3);
    assert_eq!(acme.leads[0].lead_id, "a1", "top lead first");
    assert!(acme.probability > 0.0 && acme.probability < 1.0);
    assert!(!acme.fallback);
    let total: f64 = acme.base_log_odds + acme.reasons.iter().map(|r| r.contribution).sum::<f64>();
    assert!(
        (total - acme.log_odds).abs() < 1e-9,
        "{total} vs {}",
        acme.log_odds
    );
    // Reasons speak sales language: label, the account's value, a sentence.
    let contacts = acme
        .reasons
        .iter()
        .find(|r| r.feature == "contacts")
        .expect("contacts reason");
    assert_eq!(
        (contacts.label.as_str(), contacts.value.as_str()),
        ("Contacts", "3")
    );
    assert_eq!(contacts.reason, "3 contacts from this company");
    assert!(acme
        .reasons
        .iter()
        .all(|r| !r.label.is_empty() && !r.value.is_empty() && !r.reason.is_empty()));
    let crm = &response.accounts[1];
    assert_eq!(
        (crm.account_key.as_str(), crm.key_source.as_str()),
        ("CRM-7", "account_id")
    );
    assert_eq!(crm.contacts, 1);
}

#[tokio::test]
async fn without_an_account_model_the_fallback_is_the_max_lead_probability() {
    let app = app_with(None).await;
    let response = app
        .client()
        .score_accounts(ScoreAccountsRequest {
            leads: leads_of_two_accounts(),
            ..Default::default()
        })
        .await
        .expect("ScoreAccounts")
        .into_inner();
    let acme = &response.accounts[0];
    assert!(acme.fallback);
    assert_eq!(
        acme.method,
        leadscore::scoring::accounts::FALLBACK_DESCRIPTION
    );
    assert!(acme.reasons.is_empty());
    let max = acme.leads.iter().map(|l| l.probability).fold(0.0, f64::max);
    assert_eq!(acme.probability, max);
}

#[tokio::test]
async fn stage_and_score_are_independent_and_model_info_lists_rules() {
    // Arrange
    let app = app_with(None).await;
    let mut client = app.client();
    // Act: a report was created, but almost nothing else happened.
    let scored = client
        .score(ScoreRequest {
            leads: vec![
                lead("s1", 0.0, true, "1-10"),
                lead("s2", 0.0, false, "1-10"),
            ],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    let info = client
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    // Assert
    assert_eq!(scored.scores[0].stage, "activation");
    assert_ne!(scored.scores[1].stage, "activation");
    assert!(
        info.stage_rules
            .iter()
            .any(|r| r == "activation when report_created == true"),
        "{:?}",
        info.stage_rules
    );
    eprintln!("activation lead band: {}", scored.scores[0].band);
}
