//! The trainer's account model and stage rules, end to end: leads of
//! generated companies whose purchase depends on several engaged contacts
//! (`synthetic::accounts`), trained with an account column, the artifact
//! served by the real server. All on generated data (no `../shared`).

use std::collections::HashMap;

use leadscore::scoring::model::ModelArtifact;
use leadscore::serve::proto::{Lead, ScoreAccountsRequest};
use leadscore::train::default_stages;
use leadscore::train::report::AccountSummary;
use leadscore::train::synthetic;
use leadscore::train::{self, TrainError, TrainOutcome, TrainParams, TrainSettings};
use tempfile::TempDir;

use crate::helpers::{cat, num, settings, spawn_with, MODEL};

fn request(dir: &TempDir, csv: &str, account: Option<&str>, email: Option<&str>) -> TrainSettings {
    let path = dir.path().join("account_leads.csv");
    std::fs::write(&path, csv).expect("write csv");
    // The column that keys nothing is left out: an email is an identifier.
    let unused = match (account, email) {
        (Some(_), None) => vec!["email".to_string()],
        (None, Some(_)) => vec!["account_id".to_string()],
        _ => vec![],
    };
    TrainSettings {
        data: Some(path),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        exclude: unused,
        account_column: account.map(str::to_string),
        email_column: email.map(str::to_string),
        params: TrainParams::default(),
        command: "test".into(),
        ..Default::default()
    }
}

fn metric<'a>(
    summary: &'a AccountSummary,
    method: &str,
) -> &'a leadscore::train::report::AccountMetrics {
    summary
        .methods
        .iter()
        .find(|m| m.method.starts_with(method))
        .unwrap_or_else(|| panic!("no {method} row in {:?}", summary.methods))
}

fn trained_with_account_column() -> &'static TrainOutcome {
    static OUTCOME: std::sync::OnceLock<TrainOutcome> = std::sync::OnceLock::new();
    OUTCOME.get_or_init(|| {
        let dir = TempDir::new().expect("tempdir");
        let csv = synthetic::accounts(3000, 21);
        train::train(&request(&dir, &csv, Some("account_id"), None)).expect("train")
    })
}

#[test]
fn the_account_model_beats_the_max_roll_up_on_held_out_accounts() {
    // Arrange + Act
    let outcome = trained_with_account_column();
    // Assert: grouped by account, and the account column is no lead feature.
    let a: &ModelArtifact = &outcome.artifact;
    assert!(
        outcome.report.split.method.contains("grouped by account"),
        "{}",
        outcome.report.split.method
    );
    assert!(a.features.iter().all(|f| f.name != "account_id"));
    assert!(
        outcome
            .notices
            .iter()
            .any(|n| n.contains("\"account_id\"") && n.contains("--account-column")),
        "{:?}",
        outcome.notices
    );
    // The known answer: several engaged contacts raise the purchase odds
    // beyond the best lead, which only the account model can see.
    let summary = outcome.report.accounts.as_ref().expect("account summary");
    let (model, max, noisy_or, base) = (
        metric(summary, "account model"),
        metric(summary, "max lead score"),
        metric(summary, "noisy-OR"),
        metric(summary, "base rate"),
    );
    eprintln!("{summary:#?}");
    assert!(summary.test_accounts >= 400, "{}", summary.test_accounts);
    assert!(summary.leads_without_account > 0);
    assert!(
        model.log_loss < max.log_loss - 0.03,
        "account model {} vs max roll-up {}",
        model.log_loss,
        max.log_loss
    );
    assert!(model.log_loss < noisy_or.log_loss && model.log_loss < base.log_loss);
    assert!(
        model.roc_auc > max.roc_auc,
        "{} vs {}",
        model.roc_auc,
        max.roc_auc
    );
    // The artifact carries the account model, its engagement rule (from the
    // warm band) and the default stage rules for these features.
    let account_model = a.account_model.as_ref().expect("account model");
    assert_eq!(
        account_model.numeric_features,
        ["sessions_30d", "demo_actions"]
    );
    let engaged = account_model
        .columns
        .iter()
        .position(|c| c == "engaged_contacts")
        .expect("engaged_contacts column");
    assert!(account_model.weights[engaged] > 0.0);
    let warm = a
        .bands
        .iter()
        .find(|b| b.name == "warm")
        .expect("warm band");
    let rule = a.engagement.expect("engagement rule");
    assert_eq!(rule.min_probability, warm.min_probability);
    assert!(rule.any_behaviour);
    let names: Vec<&str> = a.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(a.stages, default_stages::default_for_features(&names));
    assert!(a
        .stages
        .rules()
        .iter()
        .any(|r| r.to_string() == "high_value when account.engaged_contacts >= 3"));
    // The report says the same in every format.
    let md = leadscore::train::report::render_markdown(&outcome.report);
    assert!(md.contains("| account model |"), "{md}");
    assert!(leadscore::train::report::render_html(&outcome.report).contains(r#"id="accounts""#));
}

fn contact(id: &str, account: &str, sessions: f64, demo: f64, role: &str) -> Lead {
    let features: HashMap<String, _> = [
        ("sessions_30d", num(sessions)),
        ("demo_actions", num(demo)),
        ("role_function", cat(role)),
        ("seniority", cat("manager")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Lead {
        lead_id: id.into(),
        account_id: account.into(),
        email: String::new(),
        features,
        values: vec![],
        ..Default::default()
    }
}

#[tokio::test]
async fn the_trained_account_model_is_served_by_score_accounts() {
    // Arrange: the trained artifact in a model repository, the real server.
    let artifact = trained_with_account_column().artifact.clone();
    let repo = TempDir::new().expect("tempdir");
    train::write_artifact(&artifact, &repo.path().join(MODEL).join("1")).expect("write");
    let app = spawn_with(settings(repo.path()), Some(repo)).await;
    // One lead that looks the same alone and in a busy account.
    let mut busy: Vec<Lead> = (0..6)
        .map(|k| contact(&format!("b{k}"), "busy", 4.0, 0.0, "it"))
        .collect();
    busy.push(contact("b6", "busy", 6.0, 1.0, "finance"));
    let mut leads = busy;
    leads.push(contact("q0", "quiet", 6.0, 1.0, "finance"));
    // Act
    let response = app
        .client()
        .score_accounts(ScoreAccountsRequest {
            leads,
            ..Default::default()
        })
        .await
        .expect("ScoreAccounts")
        .into_inner();
    // Assert: the account model answers, and seven engaged people weigh
    // more than the one lead that is the best of both accounts.
    assert_eq!(response.accounts.len(), 2);
    let (busy, quiet) = (&response.accounts[0], &response.accounts[1]);
    for account in [busy, quiet] {
        assert!(!account.fallback, "{}", account.method);
        assert!(!account.reasons.is_empty());
        let total =
            account.base_log_odds + account.reasons.iter().map(|r| r.contribution).sum::<f64>();
        assert!((total - account.log_odds).abs() < 1e-9);
    }
    assert_eq!((busy.contacts, busy.engaged_contacts), (7, 7));
    assert_eq!(busy.leads[0].lead_id, "b6");
    assert_eq!(busy.leads[0].probability, quiet.leads[0].probability);
    assert!(
        busy.probability > quiet.probability + 0.1,
        "busy {} vs quiet {}",
        busy.probability,
        quiet.probability
    );
    assert!(busy.probability > busy.leads[0].probability);
    // Stages come with the trained default rules: seven engaged contacts
    // make every lead of the busy account high-value.
    assert_eq!(busy.leads[0].stage, "high_value");
}

#[test]
fn accounts_can_come_from_email_domains_and_free_mail_forms_none() {
    // Arrange: the same companies keyed by their email domains only.
    let dir = TempDir::new().expect("tempdir");
    let csv = synthetic::accounts(1500, 4);
    // Act
    let outcome = train::train(&request(&dir, &csv, None, Some("email"))).expect("train");
    // Assert
    let summary = outcome.report.accounts.as_ref().expect("account summary");
    assert!(
        summary.key.contains("email domain of \"email\""),
        "{}",
        summary.key
    );
    assert!(outcome.artifact.account_model.is_some());
    // Everyone at gmail.com: no account, so no account model, and a notice
    // instead of a failure.
    let gmail: String = csv
        .lines()
        .map(|line| match line.split_once("@co") {
            Some((before, after)) => {
                let rest = after.split_once(',').map_or("", |(_, rest)| rest);
                format!("{before}@gmail.com,{rest}\n")
            }
            None => format!("{line}\n"),
        })
        .collect();
    let outcome = train::train(&request(&dir, &gmail, None, Some("email"))).expect("train");
    assert!(outcome.artifact.account_model.is_none());
    assert!(outcome.artifact.engagement.is_none());
    assert!(outcome.report.accounts.is_none());
    assert!(
        outcome
            .notices
            .iter()
            .any(|n| n.starts_with("no account model: too few accounts")),
        "{:?}",
        outcome.notices
    );
}

#[test]
fn stage_rules_come_from_train_toml_and_bad_ones_are_refused_by_name() {
    let dir = TempDir::new().expect("tempdir");
    let csv = synthetic::accounts(600, 8);
    let config = |text: &str| -> TrainSettings { toml::from_str(text).expect("parses") };
    // A good rule set is stored as written.
    let good = config(
        r#"
        [[stages]]
        stage = "activation"
        when = ["demo_actions >= 2"]

        [[stages]]
        stage = "landing"
        when = ["sessions_30d >= 1", 'role_function != "sales"']
    "#,
    );
    let mut req = request(&dir, &csv, None, None);
    req.exclude = vec!["account_id".into(), "email".into()];
    req.stages = good.stages.clone();
    let outcome = train::train(&req).expect("train");
    assert_eq!(Some(&outcome.artifact.stages), good.stages.as_ref());
    assert!(outcome.artifact.account_model.is_none());
    // A rule on a feature the model does not have is refused, named.
    let bad = config(
        r#"
        [[stages]]
        stage = "landing"
        when = ["sessions_30d >= 1"]

        [[stages]]
        stage = "activation"
        when = ["report_made == true"]
    "#,
    );
    req.stages = bad.stages;
    let err = train::train(&req).expect_err("unknown feature");
    let text = err.to_string();
    assert!(matches!(err, TrainError::Stages(_)), "{err:?}");
    assert!(
        text.contains("stage rule 2 (activation)") && text.contains("\"report_made\""),
        "{text}"
    );
}

#[test]
fn the_train_binary_takes_the_account_column_and_stages_from_flags_and_train_toml() {
    // Arrange: accounts by flag, stage rules and the email column in train.toml.
    let dir = TempDir::new().expect("tempdir");
    let data = dir.path().join("leads.csv");
    std::fs::write(&data, synthetic::accounts(1200, 13)).expect("write csv");
    let config = dir.path().join("train.toml");
    let write_config = |rule: &str| {
        std::fs::write(
            &config,
            format!(
                "target = \"converted\"\nid = \"lead_id\"\nemail_column = \"email\"\n\n\
                 [[stages]]\nstage = \"activation\"\nwhen = [\"{rule}\"]\n"
            ),
        )
        .expect("write train.toml")
    };
    let run = |out: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leadscore-train"))
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(&data)
            .args(["--account-column", "account_id", "--out"])
            .arg(out)
            .output()
            .expect("run leadscore-train")
    };
    write_config("demo_actions >= 2");
    let out = dir.path().join("models/leads/1");
    // Act
    let good = run(&out);
    // Assert
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(
        stdout.contains("accounts: ") && stdout.contains("account model log loss"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stages: 1 rule(s) from the config"),
        "{stdout}"
    );
    let served =
        leadscore::scoring::model::ModelArtifact::read(&out.join("model.json")).expect("artifact");
    let a = served.artifact();
    assert!(a.account_model.is_some());
    assert_eq!(
        a.stages
            .rules()
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>(),
        ["activation when demo_actions >= 2"]
    );
    assert!(a
        .features
        .iter()
        .all(|f| f.name != "email" && f.name != "account_id"));
    let report = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    assert!(report.contains("\"accounts\""), "{report}");

    // A rule on an unknown feature stops the binary, naming the rule.
    write_config("demo_made >= 2");
    let bad = run(&dir.path().join("models/leads/2"));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        stderr.contains("stage rule 1 (activation)") && stderr.contains("\"demo_made\""),
        "{stderr}"
    );
    assert!(!dir.path().join("models/leads/2/model.json").exists());
}

#[test]
fn behavioural_features_choose_what_counts_as_engagement_and_bad_ones_are_refused() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let csv = synthetic::accounts(1500, 6);
    let mut chosen = request(&dir, &csv, Some("account_id"), None);
    chosen.behavioural_features = vec!["sessions_30d".into()];
    // Act
    let outcome = train::train(&chosen).expect("train");
    // Assert: the account model rolls up only the chosen feature; the
    // server's lens follows the stored list.
    let model = outcome
        .artifact
        .account_model
        .as_ref()
        .expect("account model");
    assert_eq!(model.numeric_features, ["sessions_30d"]);
    let summary = outcome.report.accounts.as_ref().expect("summary");
    assert_eq!(summary.behavioural_features, ["sessions_30d"]);

    // A categorical or unknown name stops training, naming it.
    for bad in ["role_function", "sessions_90d"] {
        let mut wrong = request(&dir, &csv, Some("account_id"), None);
        wrong.behavioural_features = vec![bad.into()];
        let err = train::train(&wrong).expect_err("refused").to_string();
        assert!(
            err.contains(&format!(
                "behavioural feature {bad:?} is not a numeric feature"
            )) && err.contains("sessions_30d"),
            "{err}"
        );
    }
}
