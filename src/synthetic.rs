//! B2B lead data drawn from a known logistic model.
//!
//! Used by the trainer tests (can the trainer recover the weights?), the
//! integration tests (a real model trained in the test, without `../shared`),
//! and benchmarks. The behaviours are the product brief's: demo actions,
//! 30-day visits, report created in the demo (the "magic behaviour"), email
//! opens, plus company size and lead source.

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
            let true_probability = 1.0 / (1.0 + (-z).exp());
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
}
