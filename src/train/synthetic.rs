//! B2B lead data drawn from a known logistic model.
//!
//! Used by the trainer tests (can the trainer recover the weights?), the
//! integration tests (a real model trained in the test, without `../shared`),
//! and benchmarks. The behaviours are the product brief's: demo actions,
//! 30-day visits, report created in the demo (the "magic behaviour"), email
//! opens, plus company size and lead source.
//!
//! [`behavioural`] draws leads whose outcome has thresholds and an
//! interaction (pricing-page views *and* demo actions) that a linear model
//! cannot express, with account ids and sign-up dates for grouped and
//! out-of-time evaluation; [`accounts`] draws leads of companies whose
//! purchase depends on how many of their people engage, for the account
//! model; [`write_wide`] draws many numeric columns for the trainer's scaling
//! runs.

use rand::{Rng, SeedableRng};

/// True weights of the generating model, on the raw (unstandardised) scale.
#[derive(Debug, Clone, PartialEq)]
pub struct TrueModel {
    /// Intercept in log-odds.
    pub intercept: f64,
    /// Per numeric column: (column, weight per unit).
    pub numeric: Vec<(&'static str, f64)>,
    /// Per boolean column: (column, weight when "Yes").
    pub boolean: Vec<(&'static str, f64)>,
    /// Per categorical column: (column, [(level, weight)]).
    pub categorical: Vec<(&'static str, Vec<(&'static str, f64)>)>,
}

impl TrueModel {
    /// The model the generator uses.
    pub fn b2b() -> Self {
        Self {
            intercept: -3.2,
            numeric: vec![
                ("demo_actions", 0.25),
                ("visits_30d", 0.06),
                ("email_opens", 0.15),
            ],
            boolean: vec![("report_created", 1.2)],
            categorical: vec![
                (
                    "company_size",
                    vec![
                        ("1-10", -0.4),
                        ("11-50", 0.0),
                        ("51-200", 0.3),
                        ("201-1000", 0.5),
                        ("1000+", 0.2),
                    ],
                ),
                (
                    "lead_source",
                    vec![
                        ("organic", 0.0),
                        ("paid", -0.3),
                        ("referral", 0.6),
                        ("event", 0.2),
                    ],
                ),
            ],
        }
    }
}

/// One generated lead.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticLead {
    /// "L000001", ...
    pub lead_id: String,
    /// Demo actions in the first 30 days.
    pub demo_actions: f64,
    /// Website visits in the last 30 days.
    pub visits_30d: f64,
    /// Marketing emails opened.
    pub email_opens: f64,
    /// Created a report in the demo.
    pub report_created: bool,
    /// Company size band.
    pub company_size: &'static str,
    /// Lead source.
    pub lead_source: &'static str,
    /// Probability under the generating model.
    pub true_probability: f64,
    /// Drawn outcome.
    pub converted: bool,
}

/// Generated leads plus the model that generated them.
#[derive(Debug, Clone)]
pub struct SyntheticLeads {
    /// The leads.
    pub leads: Vec<SyntheticLead>,
    /// The generating model.
    pub truth: TrueModel,
}

/// Column header of [`SyntheticLeads::to_csv`].
pub const CSV_HEADER: &str =
    "lead_id,demo_actions,visits_30d,email_opens,report_created,company_size,lead_source,converted";

impl SyntheticLeads {
    /// The leads as CSV, target column `converted` (0/1), booleans as Yes/No.
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(self.leads.len() * 48);
        out.push_str(CSV_HEADER);
        out.push('\n');
        for l in &self.leads {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                l.lead_id,
                l.demo_actions,
                l.visits_30d,
                l.email_opens,
                if l.report_created { "Yes" } else { "No" },
                l.company_size,
                l.lead_source,
                u8::from(l.converted)
            ));
        }
        out
    }
}

/// Draws `n` leads with a seeded ChaCha8 generator (same seed, same data).
pub fn generate(n: usize, seed: u64) -> SyntheticLeads {
    let truth = TrueModel::b2b();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let sizes = &truth.categorical[0].1;
    let sources = &truth.categorical[1].1;
    let leads = (0..n)
        .map(|i| {
            let engaged: f64 = rng.gen();
            let demo_actions = (rng.gen::<f64>().powi(2) * 12.0 * (0.5 + engaged)).floor();
            let visits_30d = (rng.gen::<f64>() * 25.0 * (0.3 + engaged)).floor();
            let email_opens = (rng.gen::<f64>() * 10.0).floor();
            let report_created = rng.gen::<f64>() < 0.15 + 0.3 * engaged;
            let (company_size, size_w) = sizes[rng.gen_range(0..sizes.len())];
            let (lead_source, source_w) = sources[rng.gen_range(0..sources.len())];
            let z = truth.intercept
                + truth.numeric[0].1 * demo_actions
                + truth.numeric[1].1 * visits_30d
                + truth.numeric[2].1 * email_opens
                + if report_created {
                    truth.boolean[0].1
                } else {
                    0.0
                }
                + size_w
                + source_w;
            let true_probability = crate::scoring::math::sigmoid(z);
            let converted = rng.gen::<f64>() < true_probability;
            SyntheticLead {
                lead_id: format!("L{:06}", i + 1),
                demo_actions,
                visits_30d,
                email_opens,
                report_created,
                company_size,
                lead_source,
                true_probability,
                converted,
            }
        })
        .collect();
    SyntheticLeads { leads, truth }
}

/// Leads with non-linear effects, as CSV (target `converted`), plus each
/// lead's probability under the generating model.
///
/// Columns: `lead_id`, `account_id` (about 5 leads per account), `signup_date`
/// (ISO dates, increasing with the row), `sessions_30d`, `pricing_page_views`,
/// `demo_actions`, `report_created` (Yes/No), `industry`, `converted`. Log-odds:
/// −2.2, +1.8 when pricing views ≥ 3 *and* demo actions ≥ 2, +1.0 when
/// sessions ≥ 15, −0.6 when sessions < 2, +0.9 for a report, and an industry
/// effect.
pub fn behavioural(n: usize, seed: u64) -> (String, Vec<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let industries = [
        ("software", 0.3),
        ("finance", 0.0),
        ("retail", -0.4),
        ("health", 0.1),
        ("education", -0.2),
    ];
    let mut csv = String::with_capacity(n * 80);
    csv.push_str("lead_id,account_id,signup_date,sessions_30d,pricing_page_views,demo_actions,report_created,industry,converted\n");
    let mut truth = Vec::with_capacity(n);
    for i in 0..n {
        let engaged: f64 = rng.gen();
        let sessions = (rng.gen::<f64>() * 30.0 * (0.2 + engaged)).floor();
        let pricing = (rng.gen::<f64>().powi(2) * 8.0 * (0.3 + engaged)).floor();
        let demo = (rng.gen::<f64>() * 5.0 * (0.2 + engaged)).floor();
        let report = rng.gen::<f64>() < 0.1 + 0.3 * engaged;
        let (industry, industry_w) = industries[rng.gen_range(0..industries.len())];
        let z: f64 =
            -2.2 + if pricing >= 3.0 && demo >= 2.0 {
                1.8
            } else {
                0.0
            } + if sessions >= 15.0 { 1.0 } else { 0.0 }
                + if sessions < 2.0 { -0.6 } else { 0.0 }
                + if report { 0.9 } else { 0.0 }
                + industry_w;
        let p = crate::scoring::math::sigmoid(z);
        let converted = rng.gen::<f64>() < p;
        let day = i * 365 / n.max(1);
        let (month, dom) = month_day(day);
        csv.push_str(&format!(
            "B{:06},acct_{:05},2024-{month:02}-{dom:02},{sessions},{pricing},{demo},{},{industry},{}\n",
            i + 1,
            rng.gen_range(0..(n / 5).max(1)),
            if report { "Yes" } else { "No" },
            u8::from(converted)
        ));
        truth.push(p);
    }
    (csv, truth)
}

/// Leads of `n_accounts` companies, as CSV (target `converted`): the
/// account model's known answer.
///
/// Columns: `lead_id`, `account_id`, `email`, `sessions_30d`,
/// `demo_actions`, `role_function`, `seniority`, `converted`. A company has
/// 1–8 contacts; each has a lead probability `σ(−2.5 + 0.12 · sessions +
/// 0.3 · demo actions + noise)` and is *engaged* when it had a session. The
/// company buys with log-odds `logit(max lead probability) − 1 + 0.6 ·
/// engaged contacts`: several engaged people matter beyond what the best
/// lead shows. When it buys, one of its leads (drawn in proportion to the
/// lead probabilities) is the converted row; the others are 0. About a tenth
/// of the one-contact companies have no account id and a gmail.com address
/// (no account: scored alone); the others have addresses at `co<id>.com`.
pub fn accounts(n_accounts: usize, seed: u64) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let roles = ["finance", "it", "operations", "procurement", "sales"];
    let seniorities = ["individual", "manager", "director", "vp"];
    use crate::scoring::math::sigmoid;
    let mut csv = String::with_capacity(n_accounts * 4 * 64);
    csv.push_str(
        "lead_id,account_id,email,sessions_30d,demo_actions,role_function,seniority,converted\n",
    );
    let mut lead_no = 0usize;
    for a in 0..n_accounts {
        let size = rng.gen_range(1..=8usize);
        let interest: f64 = rng.gen();
        let solo = size == 1 && rng.gen::<f64>() < 0.1;
        let leads: Vec<(f64, f64, f64)> = (0..size)
            .map(|_| {
                let sessions = if rng.gen::<f64>() < 0.2 + 0.6 * interest {
                    (rng.gen::<f64>() * 20.0).floor() + 1.0
                } else {
                    0.0
                };
                let demo = if sessions > 0.0 && rng.gen::<f64>() < 0.5 {
                    (rng.gen::<f64>() * 4.0).floor()
                } else {
                    0.0
                };
                let z = -2.5 + 0.12 * sessions + 0.3 * demo + rng.gen_range(-0.5..0.5);
                (sessions, demo, sigmoid(z))
            })
            .collect();
        let max_p = leads.iter().map(|l| l.2).fold(0.0, f64::max);
        let engaged = leads.iter().filter(|l| l.0 > 0.0).count() as f64;
        let z = crate::scoring::math::log_odds(max_p) - 1.0 + 0.6 * engaged;
        let buyer = if rng.gen::<f64>() < sigmoid(z) {
            let total: f64 = leads.iter().map(|l| l.2).sum();
            let mut draw = rng.gen::<f64>() * total;
            let mut chosen = size - 1;
            for (j, l) in leads.iter().enumerate() {
                if draw < l.2 {
                    chosen = j;
                    break;
                }
                draw -= l.2;
            }
            Some(chosen)
        } else {
            None
        };
        for (j, (sessions, demo, _)) in leads.iter().enumerate() {
            lead_no += 1;
            let role = roles[rng.gen_range(0..roles.len())];
            let seniority = seniorities[rng.gen_range(0..seniorities.len())];
            let (account, email) = if solo {
                (String::new(), format!("person{a}@gmail.com"))
            } else {
                (format!("acct_{a:05}"), format!("{role}.{j}@co{a:05}.com"))
            };
            csv.push_str(&format!(
                "A{lead_no:06},{account},{email},{sessions},{demo},{role},{seniority},{}\n",
                u8::from(buyer == Some(j))
            ));
        }
    }
    csv
}

/// Month (1–12) and day of month of day `d` (0-based) of a 365-day year.
fn month_day(d: usize) -> (usize, usize) {
    const LENGTHS: [usize; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut d = d.min(364);
    for (m, len) in LENGTHS.iter().enumerate() {
        if d < *len {
            return (m + 1, d + 1);
        }
        d -= len;
    }
    (12, 31)
}

/// `n` rows of `features` numeric columns `x01…` (uniform on [0, 10), two
/// decimals) and a target `converted` from log-odds `−1 + Σ wⱼ·(xⱼ − 5)/3`
/// plus a threshold effect on `x01` and an interaction of `x02` and `x03`:
/// the data of the trainer's scaling runs. Written to `out` as CSV.
///
/// # Errors
/// I/O errors of `out`.
pub fn write_wide(
    out: &mut dyn std::io::Write,
    n: usize,
    features: usize,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let weights: Vec<f64> = (0..features)
        .map(|j| {
            if j % 3 == 0 {
                0.0
            } else {
                rng.gen_range(-0.8..0.8)
            }
        })
        .collect();
    let mut line = String::new();
    for j in 0..features {
        line.push_str(&format!("x{:02},", j + 1));
    }
    line.push_str("converted\n");
    out.write_all(line.as_bytes())?;
    let mut x = vec![0.0; features];
    for _ in 0..n {
        line.clear();
        for v in x.iter_mut() {
            *v = (rng.gen::<f64>() * 1000.0).floor() / 100.0;
        }
        let mut z = -1.0;
        for (w, v) in weights.iter().zip(&x) {
            z += w * (v - 5.0) / 3.0;
        }
        if x[0] > 7.0 {
            z += 1.0;
        }
        if features > 2 && x[1] > 5.0 && x[2] > 5.0 {
            z += 1.2;
        }
        let y = rng.gen::<f64>() < crate::scoring::math::sigmoid(z);
        for v in &x {
            line.push_str(&format!("{v},"));
        }
        line.push_str(if y { "1\n" } else { "0\n" });
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_plausible() {
        let a = generate(2000, 3);
        let b = generate(2000, 3);
        assert_eq!(a.leads, b.leads);
        let rate = a.leads.iter().filter(|l| l.converted).count() as f64 / 2000.0;
        assert!((0.1..0.6).contains(&rate), "positive rate {rate}");
        assert_eq!(a.to_csv().lines().count(), 2001);
    }

    #[test]
    fn behavioural_and_wide_data_have_the_stated_shape() {
        let (csv, truth) = behavioural(1000, 2);
        assert_eq!(csv.lines().count(), 1001);
        assert_eq!(truth.len(), 1000);
        assert!(csv
            .lines()
            .nth(1000)
            .is_some_and(|l| l.contains(",2024-12-")));
        let mut out = Vec::new();
        write_wide(&mut out, 50, 30, 1).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(text.lines().count(), 51);
        assert_eq!(text.lines().next().map(|h| h.split(',').count()), Some(31));
    }

    #[test]
    fn account_leads_have_the_stated_shape() {
        let csv = accounts(400, 5);
        assert_eq!(csv, accounts(400, 5));
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert!(rows.iter().all(|r| r.len() == 8));
        let mut ids: Vec<&str> = rows
            .iter()
            .map(|r| r[1])
            .filter(|a| !a.is_empty())
            .collect();
        ids.dedup();
        assert!((300..=400).contains(&ids.len()), "{} accounts", ids.len());
        assert!(rows
            .iter()
            .any(|r| r[1].is_empty() && r[2].ends_with("@gmail.com")));
        // At most one converted lead per account.
        for id in &ids {
            let converted = rows.iter().filter(|r| r[1] == *id && r[7] == "1").count();
            assert!(converted <= 1, "{id}: {converted}");
        }
    }
}
