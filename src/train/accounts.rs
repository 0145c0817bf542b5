//! Fitting the account model that [`crate::scoring::accounts`] applies: a
//! small L2-penalised logistic regression over standardised account
//! features, fitted by Newton's method.

use crate::scoring::accounts::{design_row, AccountFeatures, AccountModel, FIXED_COLUMNS};
use crate::train::linear::LogisticError;

/// Why [`fit_account_model`] failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountFitError {
    /// No account rows.
    #[error("no account rows to fit")]
    NoRows,
    /// Rows and labels differ in length.
    #[error("{rows} account rows but {labels} labels")]
    LengthMismatch {
        /// Account rows.
        rows: usize,
        /// Labels.
        labels: usize,
    },
    /// The L2 penalty is negative or not finite.
    #[error("l2 must be finite and non-negative, got {l2}")]
    BadL2 {
        /// The penalty given.
        l2: f64,
    },
    /// Every account bought, or none did.
    #[error("account labels have a single class ({positives} of {accounts} accounts bought)")]
    SingleClass {
        /// Accounts that bought.
        positives: usize,
        /// All accounts.
        accounts: usize,
    },
    /// A rolled-up account feature is NaN or infinite.
    #[error("non-finite account feature")]
    NonFiniteFeature,
    /// The logistic solver failed.
    #[error("account model: {source}")]
    Solver {
        /// The solver's error.
        #[from]
        source: LogisticError,
    },
    /// The fitted model fails [`AccountModel::validate`].
    #[error("{problem}")]
    InvalidModel {
        /// What the validation said.
        problem: String,
    },
}

/// Fits an [`AccountModel`] on account rows and their labels (account bought
/// = any of its leads converted).
///
/// Columns are [`design_row`] standardised with the training mean and
/// standard deviation; the objective is the summed log loss plus
/// `l2 / 2 · ‖w‖²` on the standardised weights (the intercept is not
/// penalised), minimised by Newton's method with step halving: a handful of
/// columns, so the exact Hessian is cheap. `numeric_features` names the
/// behavioural columns (the width of every row's `sums` / `maxima`).
///
/// # Errors
/// [`AccountFitError`]: no rows, rows and labels of different lengths, a
/// single class, an `l2` that is negative or not finite, non-finite account
/// features, or a solver that does not converge to finite weights.
pub fn fit_account_model(
    rows: &[AccountFeatures],
    labels: &[bool],
    numeric_features: &[&str],
    l2: f64,
) -> Result<AccountModel, AccountFitError> {
    if rows.is_empty() {
        return Err(AccountFitError::NoRows);
    }
    if rows.len() != labels.len() {
        return Err(AccountFitError::LengthMismatch {
            rows: rows.len(),
            labels: labels.len(),
        });
    }
    if !l2.is_finite() || l2 < 0.0 {
        return Err(AccountFitError::BadL2 { l2 });
    }
    let positives = labels.iter().filter(|y| **y).count();
    if positives == 0 || positives == labels.len() {
        return Err(AccountFitError::SingleClass {
            positives,
            accounts: labels.len(),
        });
    }
    let width = numeric_features.len();
    let x: Vec<Vec<f64>> = rows.iter().map(|r| design_row(r, width)).collect();
    if x.iter().flatten().any(|v| !v.is_finite()) {
        return Err(AccountFitError::NonFiniteFeature);
    }
    let n = x.len() as f64;
    let d = FIXED_COLUMNS.len() + 2 * width;
    let mut means = vec![0.0; d];
    for row in &x {
        for (m, v) in means.iter_mut().zip(row) {
            *m += v / n;
        }
    }
    let mut stds = vec![0.0; d];
    for row in &x {
        for ((s, v), m) in stds.iter_mut().zip(row).zip(&means) {
            *s += (v - m) * (v - m) / n;
        }
    }
    for s in &mut stds {
        *s = s.sqrt();
        // A constant column carries no information; std 1 keeps it at 0.
        if !(s.is_finite() && *s > 1e-12) {
            *s = 1.0;
        }
    }
    let z: Vec<Vec<f64>> = x
        .iter()
        .map(|row| {
            row.iter()
                .zip(&means)
                .zip(&stds)
                .map(|((v, m), s)| (v - m) / s)
                .collect()
        })
        .collect();
    let (weights, intercept) = newton(&z, labels, l2)?;
    let columns = FIXED_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(numeric_features.iter().map(|f| format!("sum_{f}")))
        .chain(numeric_features.iter().map(|f| format!("max_{f}")))
        .collect();
    let model = AccountModel {
        columns,
        numeric_features: numeric_features.iter().map(|f| f.to_string()).collect(),
        means,
        stds,
        weights,
        base_log_odds: intercept,
        l2,
    };
    model
        .validate()
        .map_err(|e| AccountFitError::InvalidModel {
            problem: e.to_string(),
        })?;
    Ok(model)
}

/// Penalties [`choose_account_l2`] tries (summed log loss, so 1 is weak
/// and 1,000 strong for a thousand accounts).
pub const ACCOUNT_L2_GRID: [f64; 6] = [0.1, 1.0, 10.0, 30.0, 100.0, 1000.0];

/// Folds of [`choose_account_l2`].
const ACCOUNT_L2_FOLDS: usize = 5;

/// The L2 penalty of the account model, chosen by 5-fold cross-validation
/// over the training accounts (fold = position mod 5, so deterministic):
/// the [`ACCOUNT_L2_GRID`] value with the lowest out-of-fold log loss,
/// `fallback` when no value could be evaluated (a fold with one class).
/// Returns the penalty with its out-of-fold log loss (`None` for the fallback).
pub fn choose_account_l2(
    rows: &[AccountFeatures],
    labels: &[bool],
    numeric_features: &[&str],
    fallback: f64,
) -> (f64, Option<f64>) {
    let mut best: Option<(f64, f64)> = None;
    'grid: for &l2 in &ACCOUNT_L2_GRID {
        let mut loss = 0.0;
        for fold in 0..ACCOUNT_L2_FOLDS {
            let (mut fit_rows, mut fit_labels, mut held_rows, mut held_labels) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (i, (row, label)) in rows.iter().zip(labels).enumerate() {
                if i % ACCOUNT_L2_FOLDS == fold {
                    held_rows.push(row);
                    held_labels.push(*label);
                } else {
                    fit_rows.push(row.clone());
                    fit_labels.push(*label);
                }
            }
            let Ok(model) = fit_account_model(&fit_rows, &fit_labels, numeric_features, l2) else {
                continue 'grid;
            };
            for (row, label) in held_rows.iter().zip(&held_labels) {
                let p = model.probability(row).clamp(1e-15, 1.0 - 1e-15);
                loss -= if *label { p.ln() } else { (1.0 - p).ln() };
            }
        }
        let loss = loss / rows.len() as f64;
        if best.is_none_or(|(_, b)| loss < b) {
            best = Some((l2, loss));
        }
    }
    match best {
        Some((l2, loss)) => (l2, Some(loss)),
        None => (fallback, None),
    }
}

/// Fits `Σ logloss + l2/2 ‖w‖²` with the trainer's Newton solver
/// ([`crate::train::linear::fit_logistic`] with unit weights); returns
/// (weights, intercept).
fn newton(z: &[Vec<f64>], y: &[bool], l2: f64) -> Result<(Vec<f64>, f64), LogisticError> {
    let p = z.first().map_or(0, Vec::len);
    let x = ndarray::Array2::from_shape_fn((z.len(), p), |(i, j)| z[i][j]);
    let fit = crate::train::linear::fit_logistic(&x, y, Some(&vec![1.0; y.len()]), l2, 100)?;
    Ok((fit.coefficients, fit.intercept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::accounts::*;
    use crate::scoring::math::sigmoid;
    use rand::{Rng, SeedableRng};

    #[test]
    fn email_domains_are_normalised() {
        let cases: &[(&str, Option<&str>)] = &[
            ("jane@acme.com", Some("acme.com")),
            ("  Jane.Doe@Example-Corp.COM ", Some("example-corp.com")),
            ("user+tag@Example.COM", Some("example.com")),
            ("jane@www.acme.com", Some("acme.com")),
            ("jane@WWW.Acme.Com.", Some("acme.com")),
            ("jane@eu.acme.com", Some("eu.acme.com")),
            ("jane@acme.co.uk", Some("acme.co.uk")),
            ("\"odd@local\"@acme.com", Some("acme.com")),
            ("jürgen@MÜLLER.de", Some("müller.de")),
            ("jane@acme", None),
            ("jane@", None),
            ("@acme.com", None),
            ("jane.acme.com", None),
            ("", None),
            ("jane@acme..com", None),
            ("jane@.acme.com", None),
            ("jane@-acme.com", None),
            ("jane@ac me.com", None),
            ("ja ne@acme.com", None),
            ("jane@[10.0.0.1]", None),
            ("Jane <jane@acme.com>", None),
            ("jane@acme.com;bob@acme.com", None),
            ("jane@www.", None),
        ];
        for (email, expected) in cases {
            assert_eq!(
                email_domain(email).as_deref(),
                *expected,
                "email_domain({email:?})"
            );
        }
    }

    #[test]
    fn free_and_disposable_domains_never_form_an_account() {
        let cases: &[(&str, bool)] = &[
            ("gmail.com", true),
            ("GMail.com", true),
            ("googlemail.com", true),
            ("qq.com", true),
            ("vip.qq.com", true),
            ("163.com", true),
            ("outlook.com", true),
            ("hotmail.co.uk", true),
            ("yahoo.co.jp", true),
            ("icloud.com", true),
            ("proton.me", true),
            ("web.de", true),
            ("yandex.ru", true),
            ("naver.com", true),
            ("comcast.net", true),
            ("mailinator.com", true),
            ("abc.mailinator.com", true),
            ("guerrillamail.com", true),
            ("10minutemail.com", true),
            ("temp-mail.org", true),
            ("privaterelay.appleid.com", true),
            ("www.gmail.com", true),
            ("acme.com", false),
            ("google.com", false),
            ("microsoft.com", false),
            ("gmail.company.com", false),
            ("co.uk", false),
            ("com", false),
            ("mygmail.com", false),
        ];
        for (domain, expected) in cases {
            assert_eq!(
                is_free_or_disposable(domain),
                *expected,
                "is_free_or_disposable({domain:?})"
            );
        }
    }

    #[test]
    fn account_keys_prefer_the_account_id_and_skip_free_mail() {
        let id = |k: &str| {
            Some(AccountKey {
                key: k.to_string(),
                source: KeySource::AccountId,
            })
        };
        let domain = |k: &str| {
            Some(AccountKey {
                key: k.to_string(),
                source: KeySource::EmailDomain,
            })
        };
        let cases: &[(Option<&str>, Option<&str>, Option<AccountKey>)] = &[
            (Some("acct_42"), Some("jane@acme.com"), id("acct_42")),
            (Some(" acct_42 "), None, id("acct_42")),
            (Some("acct_42"), Some("jane@gmail.com"), id("acct_42")),
            (Some("  "), Some("Jane+x@ACME.com"), domain("acme.com")),
            (None, Some("bob@www.acme.com"), domain("acme.com")),
            (None, Some("bob@gmail.com"), None),
            (None, Some("bob@mailinator.com"), None),
            (None, Some("not an email"), None),
            (Some(""), None, None),
            (None, None, None),
        ];
        for (account_id, email, expected) in cases {
            assert_eq!(
                &account_key(*account_id, *email),
                expected,
                "account_key({account_id:?}, {email:?})"
            );
        }
    }

    #[test]
    fn domain_lists_are_sorted_lower_case_and_disjoint() {
        let lists = [FREE_MAIL_DOMAINS, ISP_MAIL_DOMAINS, DISPOSABLE_DOMAINS];
        for list in lists {
            for pair in list.windows(2) {
                assert!(pair[0] < pair[1], "{} before {}", pair[0], pair[1]);
            }
            for d in list {
                assert_eq!(email_domain(&format!("x@{d}")).as_deref(), Some(*d));
            }
        }
        let mut all: Vec<&str> = lists.concat();
        let total = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), total, "a domain is in two lists");
        assert!(total >= 250, "{total} domains");
    }

    fn lead(p: f64, engaged: bool, numeric: Vec<f64>, role: Option<&str>) -> LeadView {
        LeadView {
            probability: p,
            engaged,
            numeric,
            role: role.map(str::to_string),
            seniority: None,
        }
    }

    #[test]
    fn roll_up_counts_and_aggregates() {
        let leads = [
            lead(0.2, true, vec![3.0, f64::NAN], Some("Finance")),
            lead(0.5, false, vec![1.0, f64::NAN], Some("finance ")),
            lead(f64::NAN, true, vec![0.0], Some("IT")),
        ];
        let a = roll_up(&leads);
        assert_eq!(a.contacts, 3);
        assert_eq!(a.engaged_contacts, 2);
        assert_eq!(a.max_lead_probability, 0.5);
        assert!((a.noisy_or - (1.0 - 0.8 * 0.5)).abs() < 1e-12);
        assert!((a.mean_lead_probability - 0.7 / 3.0).abs() < 1e-12);
        assert_eq!(a.sums, vec![4.0, 0.0]);
        assert_eq!(a.maxima, vec![3.0, 0.0]);
        assert_eq!(a.distinct_roles, 2);
        assert_eq!(a.distinct_seniorities, 0);
        let empty = roll_up(&[]);
        assert_eq!((empty.contacts, empty.max_lead_probability), (0, 0.0));
        assert_eq!(fallback_probability(&a), 0.5);
        assert_eq!(top_leads(&leads, 2), vec![1, 0]);
    }

    #[test]
    fn naive_roll_ups() {
        let cases: &[(&[f64], f64, f64)] = &[
            (&[], 0.0, 0.0),
            (&[0.3], 0.3, 0.3),
            (&[0.3, 0.3], 0.3, 0.51),
            (&[0.5, 1.0], 1.0, 1.0),
            (&[0.1, f64::NAN], 0.1, 0.1),
        ];
        for (p, max, nor) in cases {
            assert!((max_probability(p) - max).abs() < 1e-12, "max {p:?}");
            assert!((noisy_or(p) - nor).abs() < 1e-12, "noisy_or {p:?}");
        }
    }

    #[test]
    fn engagement_rule() {
        let rule = EngagementRule::from_warm_band(0.27);
        let cases: &[(f64, &[f64], bool)] = &[
            (0.3, &[], true),
            (0.1, &[0.0, 2.0], true),
            (0.1, &[0.0, f64::NAN], false),
            (f64::NAN, &[], false),
        ];
        for (p, b, expected) in cases {
            assert_eq!(rule.is_engaged(*p, b), *expected, "{p} {b:?}");
        }
        let strict = EngagementRule {
            any_behaviour: false,
            ..rule
        };
        assert!(!strict.is_engaged(0.1, &[5.0]));
    }

    #[test]
    fn activity_only_engagement_ignores_the_score() {
        let rule = EngagementRule::activity_only();
        assert!(!rule.is_engaged(0.999_999, &[0.0, f64::NAN]));
        assert!(rule.is_engaged(0.01, &[0.0, 1.0]));
    }

    #[test]
    fn the_account_l2_is_the_grid_value_with_the_lowest_out_of_fold_loss() {
        // Arrange: the planted accounts, and the same five folds by hand.
        let (rows, labels) = planted(600, 11);
        let numeric = ["sessions"];
        let oof_loss = |l2: f64| {
            let mut loss = 0.0;
            for fold in 0..5 {
                let fit: Vec<usize> = (0..rows.len()).filter(|i| i % 5 != fold).collect();
                let fit_rows: Vec<AccountFeatures> = fit.iter().map(|&i| rows[i].clone()).collect();
                let fit_labels: Vec<bool> = fit.iter().map(|&i| labels[i]).collect();
                let model = fit_account_model(&fit_rows, &fit_labels, &numeric, l2).expect("fit");
                for i in (0..rows.len()).filter(|i| i % 5 == fold) {
                    let p = model.probability(&rows[i]).clamp(1e-15, 1.0 - 1e-15);
                    loss -= if labels[i] { p.ln() } else { (1.0 - p).ln() };
                }
            }
            loss / rows.len() as f64
        };

        // Act
        let (l2, loss) = choose_account_l2(&rows, &labels, &numeric, 1.0);

        // Assert
        let loss = loss.expect("every fold has both classes");
        assert!(ACCOUNT_L2_GRID.contains(&l2));
        assert!((loss - oof_loss(l2)).abs() < 1e-12);
        for other in ACCOUNT_L2_GRID {
            assert!(loss <= oof_loss(other) + 1e-12, "{l2} beaten by {other}");
        }
        // One class only: nothing can be evaluated, the fallback is kept.
        let (l2, loss) = choose_account_l2(&rows, &vec![true; rows.len()], &numeric, 7.0);
        assert_eq!((l2, loss), (7.0, None));
    }

    fn log_loss(p: &[f64], y: &[bool]) -> f64 {
        p.iter()
            .zip(y)
            .map(|(p, y)| {
                let p = p.clamp(1e-12, 1.0 - 1e-12);
                if *y {
                    -p.ln()
                } else {
                    -(1.0 - p).ln()
                }
            })
            .sum::<f64>()
            / p.len() as f64
    }

    /// Accounts of 1–10 contacts; each lead has a lead-model probability
    /// from its sessions, and an account's purchase log-odds are
    /// `logit(max lead p) − 1.0 + 0.5 · engaged contacts`: a multi-contact
    /// effect the max roll-up cannot see.
    fn planted(n_accounts: usize, seed: u64) -> (Vec<AccountFeatures>, Vec<bool>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let rule = EngagementRule {
            min_probability: 0.3,
            any_behaviour: true,
        };
        let roles = ["finance", "it", "ops", "procurement"];
        let mut rows = Vec::with_capacity(n_accounts);
        let mut labels = Vec::with_capacity(n_accounts);
        for _ in 0..n_accounts {
            let size = rng.gen_range(1..=10);
            let interest: f64 = rng.gen(); // how active this company is
            let leads: Vec<LeadView> = (0..size)
                .map(|_| {
                    let sessions = if rng.gen::<f64>() < 0.25 + 0.5 * interest {
                        (rng.gen::<f64>() * 8.0).floor() + 1.0
                    } else {
                        0.0
                    };
                    let z = -2.5 + 0.25 * sessions + rng.gen_range(-0.5..0.5);
                    let p = sigmoid(z);
                    let numeric = vec![sessions];
                    LeadView {
                        probability: p,
                        engaged: rule.is_engaged(p, &numeric),
                        numeric,
                        role: Some(roles[rng.gen_range(0..roles.len())].to_string()),
                        seniority: None,
                    }
                })
                .collect();
            let features = roll_up(&leads);
            let p_max = features.max_lead_probability.clamp(EPS, 1.0 - EPS);
            let z = crate::scoring::math::log_odds(p_max) - 1.0
                + 0.5 * features.engaged_contacts as f64;
            labels.push(rng.gen::<f64>() < sigmoid(z));
            rows.push(features);
        }
        (rows, labels)
    }

    #[test]
    fn account_model_finds_the_planted_multi_contact_effect() {
        // Arrange: accounts are the groups, so splitting accounts is a grouped split.
        let (rows, labels) = planted(6000, 7);
        let cut = 4200;
        // Act
        let model =
            fit_account_model(&rows[..cut], &labels[..cut], &["sessions"], 1.0).expect("fit");
        // Assert
        let (test, y) = (&rows[cut..], &labels[cut..]);
        let fitted: Vec<f64> = test.iter().map(|r| model.probability(r)).collect();
        let max: Vec<f64> = test.iter().map(fallback_probability).collect();
        let nor: Vec<f64> = test.iter().map(|r| r.noisy_or).collect();
        let (ll_model, ll_max, ll_nor) =
            (log_loss(&fitted, y), log_loss(&max, y), log_loss(&nor, y));
        let base = y.iter().filter(|v| **v).count() as f64 / y.len() as f64;
        let ll_base = log_loss(&vec![base; y.len()], y);
        println!(
            "held-out log loss on {} accounts: account model {ll_model:.4}, max roll-up \
             {ll_max:.4}, noisy-OR {ll_nor:.4}, base rate {ll_base:.4}",
            y.len()
        );
        let weight = |name: &str| {
            model
                .columns
                .iter()
                .position(|c| c == name)
                .map(|i| model.weights[i] / model.stds[i])
                .expect("column")
        };
        println!(
            "per-unit log-odds: engaged_contacts {:+.3} (planted +0.5), max_lead_log_odds {:+.3} \
             (planted +1), contacts {:+.3} (planted 0)",
            weight("engaged_contacts"),
            weight("max_lead_log_odds"),
            weight("contacts")
        );
        assert!(ll_model < ll_max - 0.02, "{ll_model} vs max {ll_max}");
        assert!(ll_model < ll_nor - 0.02, "{ll_model} vs noisy-OR {ll_nor}");
        let engaged = weight("engaged_contacts");
        assert!(
            (0.3..0.7).contains(&engaged),
            "the multi-contact effect: {engaged}"
        );
        // Contributions are exact: they add up with the base log-odds.
        for r in test.iter().take(50) {
            let sum: f64 = model.contributions(r).iter().map(|(_, c)| c).sum();
            assert!((model.base_log_odds + sum - model.log_odds(r)).abs() < 1e-9);
        }
    }

    #[test]
    fn account_model_round_trips_and_validates() {
        let (rows, labels) = planted(500, 3);
        let model = fit_account_model(&rows, &labels, &["sessions"], 1.0).expect("fit");
        let json = serde_json::to_string(&model).expect("serialise");
        let back: AccountModel = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back.validate(), Ok(()));
        assert_eq!(back.probability(&rows[0]), model.probability(&rows[0]));
        let mut broken = model.clone();
        broken.weights.pop();
        assert!(broken.validate().is_err());
        let mut broken = model.clone();
        broken.stds[0] = 0.0;
        assert!(broken.validate().is_err());
        let mut broken = model;
        broken.base_log_odds = f64::NAN;
        assert!(broken.validate().is_err());
    }

    #[test]
    fn fitting_refuses_bad_input() {
        let (rows, labels) = planted(50, 1);
        assert!(matches!(
            fit_account_model(&[], &[], &[], 1.0),
            Err(AccountFitError::NoRows)
        ));
        assert!(matches!(
            fit_account_model(&rows, &labels[..10], &["sessions"], 1.0),
            Err(AccountFitError::LengthMismatch { labels: 10, .. })
        ));
        assert!(matches!(
            fit_account_model(&rows, &[true; 50], &["sessions"], 1.0),
            Err(AccountFitError::SingleClass { .. })
        ));
        assert!(matches!(
            fit_account_model(&rows, &labels, &["sessions"], -1.0),
            Err(AccountFitError::BadL2 { .. })
        ));
        assert!(matches!(
            fit_account_model(&rows, &labels, &["sessions"], f64::NAN),
            Err(AccountFitError::BadL2 { .. })
        ));
    }
}
