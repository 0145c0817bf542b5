//! Lifecycle stages: where a lead is in the buying journey, by rule.
//!
//! Sales works by stage: public traffic → landing → conversion (sign-up) →
//! activation (the "magic behaviour", e.g. a report created in the demo) →
//! high-value user → signing. A model carries [`StageRules`] (from
//! `train.toml`, else the trainer's defaults in `train::default_stages`;
//! stored in the artifact); [`StageRules::stage_of`] places a lead. Stage and score are independent facts: a lead can be in
//! `activation` with a cold score, and the response shows both.
//!
//! # Rules
//! A [`StageRule`] is a stage and a list of [`Condition`]s that must all
//! hold. Several rules may name the same stage (any of them places the lead
//! there). In `train.toml`:
//!
//! ```toml
//! [[stages]]
//! stage = "activation"
//! when = ["report_created == true"]
//!
//! [[stages]]
//! stage = "high_value"
//! when = ["sessions_30d >= 15"]
//!
//! [[stages]]
//! stage = "high_value"
//! when = ["account.engaged_contacts >= 3"]
//!
//! [[stages]]
//! stage = "conversion"
//! when = ['lead_origin == "Lead Add Form"']
//! ```
//!
//! A condition is `<feature> <op> <value>`: `op` one of `>=`, `>`, `<=`, `<`,
//! `==`, `!=`; `value` a number, `true` / `false`, or a quoted text (`"…"` or
//! `'…'`; ordering operators need a number or a boolean). The feature is a
//! model feature name, or [`ACCOUNT_ENGAGED_CONTACTS`] /
//! [`ACCOUNT_CONTACTS`] (the lead's account, when the caller scores accounts).
//!
//! # Evaluation order
//! From the last stage down: `signing` rules first, then `high_value`,
//! `activation`, `conversion`, `landing` (within a stage, in the order
//! written); the first rule that holds wins. When none holds the lead is in
//! `public_traffic`. So a lead that both created a report and has an open
//! opportunity is in `signing`: the furthest stage it has reached.
//!
//! # Values
//! Conditions see the values **as sent** (before imputation): a missing
//! value never satisfies a condition, `!=` included, because imputing a
//! median would invent behaviour. Comparisons: numbers numerically; booleans
//! as 1 / 0 against numbers (`report_created >= 1` works on a boolean); text
//! values are parsed when compared with a number (`"12"`) or a boolean
//! (`yes` / `no` / `true` / `false` / `1` / `0`); text against text is exact
//! (case-sensitive, as categories are). A value that cannot be compared does
//! not satisfy the condition.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The special feature: engaged contacts of the lead's account.
pub const ACCOUNT_ENGAGED_CONTACTS: &str = "account.engaged_contacts";
/// The special feature: contacts (leads) of the lead's account.
pub const ACCOUNT_CONTACTS: &str = "account.contacts";

/// A lifecycle stage, in journey order (`Ord` follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Anonymous or barely known: no rule holds.
    PublicTraffic,
    /// Visited the site / a landing page.
    Landing,
    /// Signed up (filled a form, started a trial).
    Conversion,
    /// Did the "magic behaviour" (e.g. created a report in the demo).
    Activation,
    /// Uses the product a lot, or several people of the account engage.
    HighValue,
    /// An opportunity is open: sales is negotiating.
    Signing,
}

impl Stage {
    /// Every stage, in journey order.
    pub const ALL: [Stage; 6] = [
        Stage::PublicTraffic,
        Stage::Landing,
        Stage::Conversion,
        Stage::Activation,
        Stage::HighValue,
        Stage::Signing,
    ];

    /// The snake_case name (`"high_value"`), as on the wire and in `train.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::PublicTraffic => "public_traffic",
            Stage::Landing => "landing",
            Stage::Conversion => "conversion",
            Stage::Activation => "activation",
            Stage::HighValue => "high_value",
            Stage::Signing => "signing",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown stage {s:?} (expected one of: {})",
                    Stage::ALL.map(Stage::as_str).join(", ")
                )
            })
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    fn is_ordering(self) -> bool {
        !matches!(self, Op::Eq | Op::Ne)
    }

    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Op::Ge => ordering != Less,
            Op::Gt => ordering == Greater,
            Op::Le => ordering != Greater,
            Op::Lt => ordering == Less,
            Op::Eq => ordering == Equal,
            Op::Ne => ordering != Equal,
        }
    }
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A finite number.
    Number(f64),
    /// A text, compared exactly.
    Text(String),
    /// `true` / `false`.
    Bool(bool),
}

/// A lead's value of a feature, as the caller sent it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureValueRef<'a> {
    /// A number.
    Number(f64),
    /// A category label or other text.
    Text(&'a str),
    /// A flag.
    Bool(bool),
}

/// One test on one feature: `<feature> <op> <value>`. Serialised as that
/// string (see the module docs for the syntax).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Condition {
    /// Model feature name, or an `account.*` special feature.
    pub feature: String,
    /// The comparison.
    pub op: Op,
    /// What the value is compared with.
    pub value: Literal,
}

impl Condition {
    /// Whether the condition holds for `value` (`None` = missing: never holds).
    pub fn holds(&self, value: Option<FeatureValueRef<'_>>) -> bool {
        let Some(value) = value else {
            return false;
        };
        let ordering = match (&self.value, value) {
            (Literal::Number(y), v) => number_of(v).and_then(|x| x.partial_cmp(y)),
            (Literal::Bool(c), FeatureValueRef::Number(x)) => {
                x.partial_cmp(&f64::from(u8::from(*c)))
            }
            (Literal::Bool(c), v) => bool_of(v).map(|b| b.cmp(c)),
            (Literal::Text(t), FeatureValueRef::Text(s)) if !self.op.is_ordering() => {
                Some(s.cmp(t.as_str()))
            }
            (Literal::Text(_), _) => None,
        };
        ordering.is_some_and(|o| self.op.holds(o))
    }

    fn check(&self) -> Result<(), ConditionError> {
        match &self.value {
            Literal::Number(y) if !y.is_finite() => Err(ConditionError::NotFinite {
                condition: self.to_string(),
            }),
            Literal::Text(_) if self.op.is_ordering() => Err(ConditionError::TextOrdering {
                condition: self.to_string(),
                op: self.op.as_str(),
            }),
            _ => Ok(()),
        }
    }
}

/// Why a condition cannot be evaluated as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// A number literal that is NaN or infinite.
    #[error("{condition}: the number must be finite")]
    NotFinite {
        /// The condition as written.
        condition: String,
    },
    /// A text literal with an ordering operator.
    #[error("{condition}: {op} needs a number or true/false, not a text")]
    TextOrdering {
        /// The condition as written.
        condition: String,
        /// The operator.
        op: &'static str,
    },
}

/// Why stage rules cannot be parsed or used with a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// An unknown stage name or a malformed condition string.
    #[error("{message}")]
    Parse {
        /// The parser's message.
        message: String,
    },
    /// A rule without conditions.
    #[error("{rule}: no condition (it would always hold)")]
    NoCondition {
        /// The rule, as "stage rule N (stage)".
        rule: String,
    },
    /// A condition that cannot be evaluated.
    #[error("{rule}: {source}")]
    Condition {
        /// The rule, as "stage rule N (stage)".
        rule: String,
        /// What is wrong with the condition.
        source: ConditionError,
    },
    /// A condition on a feature the model does not have.
    #[error(
        "{rule}: unknown feature {feature:?} in \"{condition}\" (not a model feature, nor {} / {})",
        ACCOUNT_ENGAGED_CONTACTS,
        ACCOUNT_CONTACTS
    )]
    UnknownFeature {
        /// The rule, as "stage rule N (stage)".
        rule: String,
        /// The unknown feature.
        feature: String,
        /// The condition as written.
        condition: String,
    },
}

fn number_of(v: FeatureValueRef<'_>) -> Option<f64> {
    match v {
        FeatureValueRef::Number(x) => Some(x),
        FeatureValueRef::Bool(b) => Some(f64::from(u8::from(b))),
        FeatureValueRef::Text(s) => s.trim().parse::<f64>().ok(),
    }
}

fn bool_of(v: FeatureValueRef<'_>) -> Option<bool> {
    match v {
        FeatureValueRef::Bool(b) => Some(b),
        FeatureValueRef::Number(_) => None,
        FeatureValueRef::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" => Some(true),
            "no" | "false" | "0" => Some(false),
            _ => None,
        },
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.feature, self.op.as_str())?;
        match &self.value {
            Literal::Number(x) => write!(f, "{x}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Text(t) if t.contains('"') => write!(f, "'{t}'"),
            Literal::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

impl FromStr for Condition {
    type Err = String;

    /// Parses `<feature> <op> <value>`.
    ///
    /// # Errors
    /// `"<input>": <what is wrong>`: missing feature name, unknown operator,
    /// missing or malformed value, text with an ordering operator.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |what: String| format!("{input:?}: {what}");
        let s = input.trim();
        let name_end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(s.len());
        let feature = &s[..name_end];
        if feature.is_empty() {
            return Err(fail("missing feature name".to_string()));
        }
        let rest = s[name_end..].trim_start();
        let op_end = rest
            .find(|c: char| !"<>=!".contains(c))
            .unwrap_or(rest.len());
        let op = match &rest[..op_end] {
            ">=" => Op::Ge,
            ">" => Op::Gt,
            "<=" => Op::Le,
            "<" => Op::Lt,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "" => {
                return Err(fail(format!(
                    "expected an operator (>=, >, <=, <, ==, !=) after {feature:?}"
                )))
            }
            "=" => {
                return Err(fail(
                    "unknown operator \"=\" (did you mean \"==\"?)".to_string(),
                ))
            }
            other => {
                return Err(fail(format!(
                    "unknown operator {other:?} (expected one of >=, >, <=, <, ==, !=)"
                )))
            }
        };
        let raw = rest[op_end..].trim();
        let value = if raw.is_empty() {
            return Err(fail("missing value".to_string()));
        } else if raw == "true" {
            Literal::Bool(true)
        } else if raw == "false" {
            Literal::Bool(false)
        } else if let Some(quote) = raw.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let inner = &raw[1..];
            match inner.strip_suffix(quote) {
                Some(text) if !text.contains(quote) => Literal::Text(text.to_string()),
                _ => return Err(fail("unterminated or malformed quoted text".to_string())),
            }
        } else {
            match raw.parse::<f64>() {
                Ok(x) if x.is_finite() => Literal::Number(x),
                _ => {
                    return Err(fail(format!(
                        "value {raw:?} must be a number, true / false, or a quoted text"
                    )))
                }
            }
        };
        let condition = Condition {
            feature: feature.to_string(),
            op,
            value,
        };
        condition.check().map_err(|_| {
            fail(format!(
                "{} needs a number or true/false, not a text",
                op.as_str()
            ))
        })?;
        Ok(condition)
    }
}

impl TryFrom<String> for Condition {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Condition> for String {
    fn from(c: Condition) -> Self {
        c.to_string()
    }
}

/// A stage and the conditions that place a lead in it (all must hold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRule {
    /// The stage a lead reaches when every condition holds.
    pub stage: Stage,
    /// The conditions, all required (non-empty).
    pub when: Vec<Condition>,
}

impl StageRule {
    /// Parses a rule from a stage name and condition strings (for code and tests).
    ///
    /// # Errors
    /// [`StageError::Parse`]: an unknown stage or a malformed condition.
    pub fn parse(stage: &str, when: &[&str]) -> Result<Self, StageError> {
        let parse_error = |message: String| StageError::Parse { message };
        Ok(StageRule {
            stage: stage.parse().map_err(parse_error)?,
            when: when
                .iter()
                .map(|c| c.parse().map_err(parse_error))
                .collect::<Result<_, StageError>>()?,
        })
    }

    /// Whether every condition holds for the lead.
    pub fn holds<'v>(&self, lookup: &dyn Fn(&str) -> Option<FeatureValueRef<'v>>) -> bool {
        self.when.iter().all(|c| c.holds(lookup(&c.feature)))
    }
}

impl fmt::Display for StageRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} when ", self.stage)?;
        for (i, c) in self.when.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A model's stage rules (see the module docs for the evaluation order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageRules(pub Vec<StageRule>);

impl StageRules {
    /// The rules, as written.
    pub fn rules(&self) -> &[StageRule] {
        &self.0
    }

    /// The rule that places the lead, if any: from `signing` down, the first
    /// that holds (`None`: the lead is in `public_traffic`).
    pub fn matching_rule<'v>(
        &self,
        lookup: &dyn Fn(&str) -> Option<FeatureValueRef<'v>>,
    ) -> Option<&StageRule> {
        Stage::ALL
            .iter()
            .rev()
            .flat_map(|stage| self.0.iter().filter(move |r| r.stage == *stage))
            .find(|rule| rule.holds(lookup))
    }

    /// The lead's stage: the stage of [`StageRules::matching_rule`], else
    /// `public_traffic`. `lookup` gives the lead's value of a feature as
    /// sent (`None` = missing).
    pub fn stage_of<'v>(&self, lookup: &dyn Fn(&str) -> Option<FeatureValueRef<'v>>) -> Stage {
        self.matching_rule(lookup)
            .map_or(Stage::PublicTraffic, |r| r.stage)
    }

    /// Checks the rules against a model's feature names.
    ///
    /// # Errors
    /// A rule without conditions, a feature that is neither a model feature
    /// nor an `account.*` special feature, a non-finite number or a text
    /// with an ordering operator; the [`StageError`] names the rule.
    pub fn validate(&self, feature_names: &[&str]) -> Result<(), StageError> {
        for (i, rule) in self.0.iter().enumerate() {
            let which = format!("stage rule {} ({})", i + 1, rule.stage);
            if rule.when.is_empty() {
                return Err(StageError::NoCondition { rule: which });
            }
            for c in &rule.when {
                c.check().map_err(|source| StageError::Condition {
                    rule: which.clone(),
                    source,
                })?;
                let special =
                    c.feature == ACCOUNT_ENGAGED_CONTACTS || c.feature == ACCOUNT_CONTACTS;
                if !special && !feature_names.contains(&c.feature.as_str()) {
                    return Err(StageError::UnknownFeature {
                        rule: which,
                        feature: c.feature.clone(),
                        condition: c.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn conditions_parse_and_print() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("sessions_30d >= 15", Ok("sessions_30d >= 15")),
            ("  sessions_30d>=15 ", Ok("sessions_30d >= 15")),
            ("report_created == true", Ok("report_created == true")),
            ("x != false", Ok("x != false")),
            ("score < -1.5", Ok("score < -1.5")),
            ("score > 1e3", Ok("score > 1000")),
            (
                "lead_origin == \"Lead Add Form\"",
                Ok("lead_origin == \"Lead Add Form\""),
            ),
            ("lead_origin != 'API'", Ok("lead_origin != \"API\"")),
            ("note == 'say \"hi\"'", Ok("note == 'say \"hi\"'")),
            (
                "account.engaged_contacts >= 3",
                Ok("account.engaged_contacts >= 3"),
            ),
            (
                "sessions_30d >== 3",
                Err("\"sessions_30d >== 3\": unknown operator \">==\""),
            ),
            ("sessions_30d = 3", Err("did you mean \"==\"")),
            ("sessions_30d => 3", Err("unknown operator \"=>\"")),
            (">= 3", Err("missing feature name")),
            ("sessions_30d", Err("expected an operator")),
            ("sessions 30d >= 3", Err("expected an operator")),
            ("sessions_30d >=", Err("missing value")),
            (
                "sessions_30d >= lots",
                Err("must be a number, true / false, or a quoted text"),
            ),
            ("sessions_30d >= NaN", Err("must be a number")),
            (
                "lead_origin >= \"API\"",
                Err(">= needs a number or true/false"),
            ),
            ("lead_origin == \"API", Err("unterminated")),
        ];
        for (input, expected) in cases {
            let parsed = input.parse::<Condition>().map(|c| c.to_string());
            match (expected, &parsed) {
                (Ok(want), Ok(got)) => {
                    assert_eq!(got, want, "{input}");
                    assert_eq!(
                        got.parse::<Condition>().map(|c| c.to_string()).as_ref(),
                        Ok(got)
                    );
                }
                (Err(want), Err(got)) => assert!(got.contains(want), "{input}: {got}"),
                _ => panic!("{input}: expected {expected:?}, got {parsed:?}"),
            }
        }
    }

    #[test]
    fn conditions_compare_values_as_sent() {
        use FeatureValueRef::{Bool, Number, Text};
        let cases: &[(&str, Option<FeatureValueRef<'_>>, bool)] = &[
            ("s >= 15", Some(Number(15.0)), true),
            ("s >= 15", Some(Number(14.9)), false),
            ("s > 15", Some(Number(15.0)), false),
            ("s < 2", Some(Number(1.0)), true),
            ("s <= 2", Some(Number(f64::NAN)), false),
            ("s >= 15", None, false),
            ("s != 3", None, false),
            ("s >= 15", Some(Text("20")), true),
            ("s >= 15", Some(Text("many")), false),
            ("r == true", Some(Bool(true)), true),
            ("r == true", Some(Bool(false)), false),
            ("r != true", Some(Bool(false)), true),
            ("r == true", Some(Text("Yes")), true),
            ("r == true", Some(Text("No")), false),
            ("r == true", Some(Number(1.0)), true),
            ("r >= 1", Some(Bool(true)), true),
            ("r >= 1", Some(Bool(false)), false),
            ("o == \"API\"", Some(Text("API")), true),
            ("o == \"API\"", Some(Text("api")), false),
            ("o != \"API\"", Some(Text("Lead Add Form")), true),
            ("o != \"API\"", Some(Number(1.0)), false),
            ("o == \"API\"", Some(Bool(true)), false),
        ];
        for (input, value, expected) in cases {
            let c: Condition = input.parse().expect("parse");
            assert_eq!(c.holds(*value), *expected, "{input} with {value:?}");
        }
    }

    fn lookup<'a>(
        lead: &'a HashMap<&'a str, FeatureValueRef<'a>>,
    ) -> impl Fn(&str) -> Option<FeatureValueRef<'a>> + 'a {
        move |name| lead.get(name).copied()
    }

    #[test]
    fn order_follows_stages_not_writing() {
        // Written lowest first; the higher stage still wins.
        let rules = StageRules(vec![
            StageRule::parse("landing", &["v >= 1"]).expect("rule"),
            StageRule::parse("activation", &["v >= 5", "r == true"]).expect("rule"),
        ]);
        let lead: HashMap<&str, FeatureValueRef<'_>> = [
            ("v", FeatureValueRef::Number(6.0)),
            ("r", FeatureValueRef::Bool(true)),
        ]
        .into_iter()
        .collect();
        assert_eq!(rules.stage_of(&lookup(&lead)), Stage::Activation);
        let partial: HashMap<&str, FeatureValueRef<'_>> =
            [("v", FeatureValueRef::Number(6.0))].into_iter().collect();
        assert_eq!(rules.stage_of(&lookup(&partial)), Stage::Landing);
        assert_eq!(
            rules
                .matching_rule(&lookup(&partial))
                .map(ToString::to_string),
            Some("landing when v >= 1".to_string())
        );
    }

    #[test]
    fn validation_refuses_unknown_features_and_empty_rules() {
        let rules = StageRules(vec![
            StageRule::parse(
                "signing",
                &["last_activity == \"Had a Phone Conversation\""],
            )
            .expect("rule"),
            StageRule::parse(
                "signing",
                &["last_notable_activity == \"Had a Phone Conversation\""],
            )
            .expect("rule"),
            StageRule::parse(
                "high_value",
                &["total_visits >= 5", "total_time_spent_on_website >= 1000"],
            )
            .expect("rule"),
            StageRule::parse("conversion", &["lead_origin == \"Lead Add Form\""]).expect("rule"),
        ]);
        let names = [
            "lead_origin",
            "total_visits",
            "total_time_spent_on_website",
            "last_activity",
            "last_notable_activity",
        ];
        assert_eq!(rules.validate(&names), Ok(()));
        let err = rules.validate(&names[..4]).expect_err("missing feature");
        assert!(
            err.to_string()
                .contains("unknown feature \"last_notable_activity\""),
            "{err}"
        );
        let account = StageRules(vec![StageRule::parse(
            "high_value",
            &["account.engaged_contacts >= 3"],
        )
        .expect("rule")]);
        assert_eq!(account.validate(&[]), Ok(()));
        let empty = StageRules(vec![StageRule {
            stage: Stage::Landing,
            when: vec![],
        }]);
        assert!(empty.validate(&[]).is_err());
        let text_order = StageRules(vec![StageRule {
            stage: Stage::Landing,
            when: vec![Condition {
                feature: "x".into(),
                op: Op::Ge,
                value: Literal::Text("a".into()),
            }],
        }]);
        assert!(text_order.validate(&["x"]).is_err());
    }

    #[test]
    fn rules_read_from_toml_and_json() {
        #[derive(Deserialize)]
        struct Config {
            stages: StageRules,
        }
        let text = r#"
            [[stages]]
            stage = "activation"
            when = ["report_created == true"]

            [[stages]]
            stage = "conversion"
            when = ['lead_origin == "Lead Add Form"', "total_visits >= 1"]
        "#;
        let config: Config = toml::from_str(text).expect("toml");
        assert_eq!(config.stages.rules().len(), 2);
        assert_eq!(
            config.stages.rules()[1].when[0].value,
            Literal::Text("Lead Add Form".into())
        );
        let json = serde_json::to_string(&config.stages).expect("json");
        assert_eq!(
            json,
            r#"[{"stage":"activation","when":["report_created == true"]},{"stage":"conversion","when":["lead_origin == \"Lead Add Form\"","total_visits >= 1"]}]"#
        );
        let back: StageRules = serde_json::from_str(&json).expect("back");
        assert_eq!(back, config.stages);
        let bad = r#"
            [[stages]]
            stage = "activation"
            when = ["sessions_30d >== 3"]
        "#;
        let err = toml::from_str::<Config>(bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown operator"), "{err}");
        let bad_stage = "[[stages]]\nstage = \"won\"\nwhen = [\"x >= 1\"]\n";
        assert!(toml::from_str::<Config>(bad_stage).is_err());
    }
}
