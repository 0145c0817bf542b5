//! The trainer's default lifecycle stage rules, for a model whose
//! `train.toml` has no `[[stages]]`.
//!
//! The rules are data, not code: `src/train/default_stages.toml`, beside
//! this file, embedded at build time and parsed once. It holds named
//! sets of rules (B2B product data, the bundled X Education model), each rule
//! with a `why`. [`default_for_features`] picks the rules a model can
//! evaluate. The server never needs these defaults: it uses the
//! [`StageRules`] stored in each model.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::scoring::stages::{
    Condition, Stage, StageRule, StageRules, ACCOUNT_CONTACTS, ACCOUNT_ENGAGED_CONTACTS,
};

/// The embedded data file (`src/train/default_stages.toml`).
const DEFAULT_STAGES_TOML: &str = include_str!("default_stages.toml");

/// A named set of default rules for one family of data sets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultStageSet {
    /// Short name (`b2b`, `x_education`).
    pub name: String,
    /// Which data the set was designed on.
    pub about: String,
    /// The rules, in the order written.
    pub rules: Vec<DefaultStageRule>,
}

/// One default rule with the reason it is there.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultStageRule {
    /// The stage a lead reaches when every condition holds.
    pub stage: Stage,
    /// The conditions, all required.
    pub when: Vec<Condition>,
    /// Why the rule places a lead in this stage (for the reader).
    pub why: String,
}

impl DefaultStageSet {
    /// The set's rules without their reasons.
    pub fn stage_rules(&self) -> StageRules {
        StageRules(
            self.rules
                .iter()
                .map(DefaultStageRule::stage_rule)
                .collect(),
        )
    }
}

impl DefaultStageRule {
    /// The rule as a model stores it.
    pub fn stage_rule(&self) -> StageRule {
        StageRule {
            stage: self.stage,
            when: self.when.clone(),
        }
    }
}

/// The shape of `default_stages.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultStagesFile {
    sets: Vec<DefaultStageSet>,
}

/// Parses a default-stages file (the embedded one, or another for tests).
fn parse_default_stages(text: &str) -> Result<Vec<DefaultStageSet>, toml::de::Error> {
    toml::from_str::<DefaultStagesFile>(text).map(|file| file.sets)
}

/// Every default set, in the file's order.
///
/// # Panics
/// If the embedded `default_stages.toml` does not parse: it is fixed at build
/// time and parsed by this module's tests, so that is a bug of the build, not
/// a condition of the input.
pub fn default_sets() -> &'static [DefaultStageSet] {
    static SETS: OnceLock<Vec<DefaultStageSet>> = OnceLock::new();
    SETS.get_or_init(|| {
        parse_default_stages(DEFAULT_STAGES_TOML).unwrap_or_else(|e| {
            panic!("src/train/default_stages.toml (embedded at build time) is invalid: {e}")
        })
    })
}

/// The rules of the default set called `name`, if there is one.
pub fn default_set(name: &str) -> Option<StageRules> {
    default_sets()
        .iter()
        .find(|set| set.name == name)
        .map(DefaultStageSet::stage_rules)
}

/// The default rules whose features all exist in `names` (the account
/// special features always exist), from every set of
/// [`default_sets`] in order. A set counts only when one of its lead rules
/// fits: an account-only rule alone would make a set look applicable to any
/// model. Empty when none fits: every lead is then in `public_traffic`, and
/// the model's rules should be written in `train.toml`.
pub fn default_for_features(names: &[&str]) -> StageRules {
    let fits = |rule: &DefaultStageRule| {
        rule.when.iter().all(|c| {
            c.feature == ACCOUNT_ENGAGED_CONTACTS
                || c.feature == ACCOUNT_CONTACTS
                || names.contains(&c.feature.as_str())
        })
    };
    let is_lead_rule =
        |rule: &DefaultStageRule| rule.when.iter().all(|c| !c.feature.starts_with("account."));
    let mut out = Vec::new();
    for set in default_sets() {
        if set.rules.iter().any(|r| fits(r) && is_lead_rule(r)) {
            out.extend(
                set.rules
                    .iter()
                    .filter(|r| fits(r))
                    .map(DefaultStageRule::stage_rule),
            );
        }
    }
    StageRules(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::stages::FeatureValueRef;
    use std::collections::HashMap;

    fn set(name: &str) -> StageRules {
        default_set(name).unwrap_or_else(|| panic!("no default set {name:?}"))
    }

    /// The rules of `default_for_b2b()` / `default_for_x_education()` when
    /// they were code, as written then: the data file must keep them.
    const B2B_RULES: &[(&str, &[&str])] = &[
        ("signing", &["opportunity_open == true"]),
        ("signing", &["has_open_opportunity == true"]),
        ("high_value", &["sessions_30d >= 15"]),
        ("high_value", &["session_count >= 5"]),
        ("high_value", &["account.engaged_contacts >= 3"]),
        ("activation", &["report_created == true"]),
        ("activation", &["demo_page_views >= 2"]),
        ("conversion", &["demo_actions >= 1"]),
        ("conversion", &["inbound_touch_count >= 1"]),
        ("landing", &["visits_30d >= 1"]),
        ("landing", &["sessions_30d >= 1"]),
        ("landing", &["session_count >= 1"]),
        ("landing", &["pricing_page_views >= 1"]),
    ];

    const X_EDUCATION_RULES: &[(&str, &[&str])] = &[
        (
            "signing",
            &["last_activity == \"Had a Phone Conversation\""],
        ),
        (
            "signing",
            &["last_notable_activity == \"Had a Phone Conversation\""],
        ),
        (
            "high_value",
            &["total_visits >= 5", "total_time_spent_on_website >= 1000"],
        ),
        ("activation", &["total_time_spent_on_website >= 500"]),
        (
            "conversion",
            &["lead_origin == \"Landing Page Submission\""],
        ),
        ("conversion", &["lead_origin == \"Lead Add Form\""]),
        ("conversion", &["lead_origin == \"Quick Add Form\""]),
        (
            "conversion",
            &["last_activity == \"Form Submitted on Website\""],
        ),
        ("landing", &["total_visits >= 1"]),
    ];

    fn rules_of(table: &[(&str, &[&str])]) -> StageRules {
        StageRules(
            table
                .iter()
                .map(|(stage, when)| StageRule::parse(stage, when).expect("rule"))
                .collect(),
        )
    }

    #[test]
    fn the_data_file_parses_and_keeps_the_former_rules() {
        let names: Vec<&str> = default_sets().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b2b", "x_education"]);
        assert_eq!(set("b2b"), rules_of(B2B_RULES));
        assert_eq!(set("x_education"), rules_of(X_EDUCATION_RULES));
        assert!(default_sets()
            .iter()
            .flat_map(|s| &s.rules)
            .all(|r| !r.when.is_empty() && !r.why.is_empty()));
        assert_eq!(default_set("retail"), None);
    }

    #[test]
    fn unknown_keys_and_bad_rules_in_the_data_are_refused() {
        let typo = "[[sets]]\nname = \"a\"\nabout = \"b\"\n\n[[sets.rules]]\nstage = \"landing\"\nwhen = [\"v >= 1\"]\nwhy = \"c\"\nwhy_not = \"d\"\n";
        let err = parse_default_stages(typo).expect_err("unknown key");
        assert!(err.to_string().contains("why_not"), "{err}");
        let bad = typo.replace("why_not = \"d\"\n", "").replace(">=", ">==");
        let err = parse_default_stages(&bad).expect_err("bad operator");
        assert!(err.to_string().contains("unknown operator"), "{err}");
        assert!(parse_default_stages(&typo.replace("why_not = \"d\"\n", "")).is_ok());
    }

    #[test]
    fn defaults_pick_by_feature() {
        let synthetic = [
            "sessions_30d",
            "pricing_page_views",
            "demo_actions",
            "report_created",
            "industry",
        ];
        let picked = default_for_features(&synthetic);
        assert_eq!(picked.validate(&synthetic), Ok(()));
        let stages: Vec<String> = picked.rules().iter().map(ToString::to_string).collect();
        assert_eq!(
            stages,
            [
                "high_value when sessions_30d >= 15",
                "high_value when account.engaged_contacts >= 3",
                "activation when report_created == true",
                "conversion when demo_actions >= 1",
                "landing when sessions_30d >= 1",
                "landing when pricing_page_views >= 1",
            ]
        );
        let x_names = [
            "lead_origin",
            "lead_source",
            "total_visits",
            "total_time_spent_on_website",
            "page_views_per_visit",
            "last_activity",
            "last_notable_activity",
        ];
        assert_eq!(default_for_features(&x_names), set("x_education"));
        assert_eq!(
            set("x_education").validate(&x_names[..]),
            Ok(()),
            "every X Education rule names a feature of the bundled model"
        );
        assert!(default_for_features(&["x01", "x02"]).rules().is_empty());
        // An account-only rule does not make a set apply.
        assert!(default_for_features(&[]).rules().is_empty());
    }

    fn lookup<'a>(
        lead: &'a HashMap<&'a str, FeatureValueRef<'a>>,
    ) -> impl Fn(&str) -> Option<FeatureValueRef<'a>> + 'a {
        move |name| lead.get(name).copied()
    }

    #[test]
    fn b2b_stages_are_evaluated_from_signing_down() {
        use FeatureValueRef::{Bool, Number};
        let rules = set("b2b");
        let cases: &[(&[(&str, FeatureValueRef<'_>)], Stage)] = &[
            (&[], Stage::PublicTraffic),
            (&[("visits_30d", Number(0.0))], Stage::PublicTraffic),
            (&[("visits_30d", Number(2.0))], Stage::Landing),
            (
                &[("visits_30d", Number(2.0)), ("demo_actions", Number(1.0))],
                Stage::Conversion,
            ),
            (&[("report_created", Bool(true))], Stage::Activation),
            (
                &[
                    ("report_created", Bool(true)),
                    ("sessions_30d", Number(20.0)),
                ],
                Stage::HighValue,
            ),
            (
                &[
                    ("report_created", Bool(true)),
                    ("account.engaged_contacts", Number(3.0)),
                ],
                Stage::HighValue,
            ),
            (
                &[
                    ("visits_30d", Number(1.0)),
                    ("opportunity_open", Bool(true)),
                ],
                Stage::Signing,
            ),
            (
                &[
                    ("opportunity_open", Bool(false)),
                    ("demo_actions", Number(0.0)),
                ],
                Stage::PublicTraffic,
            ),
        ];
        for (values, expected) in cases {
            let lead: HashMap<&str, FeatureValueRef<'_>> = values.iter().copied().collect();
            assert_eq!(rules.stage_of(&lookup(&lead)), *expected, "{values:?}");
        }
    }
}
