//! Accounts: the buying company behind a set of leads, and its score.
//!
//! In B2B the buyer is a company, and the strongest late-stage signal is
//! several people of one company engaging at once. This module owns the pure
//! core of account scoring; it takes plain values (no protobuf, no artifact
//! types) so the trainer and the server can both call it:
//!
//! - [`account_key`]: which account a lead belongs to: its `account_id`, or
//!   else the normalised domain of its email ([`email_domain`]). Free-mail,
//!   ISP and disposable domains ([`is_free_or_disposable`]) never form an
//!   account: two strangers at `gmail.com` are not one buyer.
//! - [`LeadLens`]: how a model reads a lead for the roll-up (behavioural
//!   numerics, role, seniority, engagement), shared by trainer and server.
//! - [`roll_up`]: the [`AccountFeatures`] of one account from its leads
//!   ([`LeadView`]): contacts, engaged contacts ([`EngagementRule`]), the lead
//!   probabilities rolled up (max, mean, noisy-OR), sums and maxima of the
//!   behavioural features, distinct roles and seniorities.
//! - [`fallback_probability`]: the documented roll-up the server uses when a
//!   model has no account model (the highest lead probability, see there why).
//! - [`AccountModel`] (fitted by `train::accounts::fit_account_model`): a small L2-penalised logistic
//!   regression over standardised account features, fitted by Newton's method,
//!   with exact per-feature contributions for the reasons.
//!
//! The free-mail list is embedded (no crate fitted: see [`is_free_or_disposable`]).

use serde::{Deserialize, Serialize};

use crate::scoring::features::FeatureKind;
use crate::scoring::math::{log_odds, sigmoid};
use crate::scoring::stages::FeatureValueRef;

// ---------------------------------------------------------------------------
// Account key
// ---------------------------------------------------------------------------

/// Where an account key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The lead's own `account_id` (from the CRM), trimmed, otherwise as given.
    AccountId,
    /// The normalised domain of the lead's email address.
    EmailDomain,
}

/// The account a lead belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountKey {
    /// The key leads are grouped by: an account id, or a domain such as `acme.com`.
    pub key: String,
    /// Whether `key` is an account id or an email domain (shown to the caller,
    /// so a surprising grouping can be traced).
    pub source: KeySource,
}

/// The account of a lead: its `account_id` when given (non-blank), else the
/// normalised domain of `email` ([`email_domain`]) unless that domain is a
/// free-mail, ISP or disposable one ([`is_free_or_disposable`]).
///
/// `None` when the lead has no account: no id, and no email or an invalid one
/// or one at a free-mail domain. Such a lead is scored alone.
///
/// Account ids and domains share one key space on purpose: a CRM that uses
/// the company domain as its account id (`acme.com`) groups with leads that
/// only gave an `@acme.com` address.
pub fn account_key(account_id: Option<&str>, email: Option<&str>) -> Option<AccountKey> {
    if let Some(id) = account_id.map(str::trim).filter(|id| !id.is_empty()) {
        return Some(AccountKey {
            key: id.to_string(),
            source: KeySource::AccountId,
        });
    }
    let domain = email_domain(email?)?;
    if is_free_or_disposable(&domain) {
        return None;
    }
    Some(AccountKey {
        key: domain,
        source: KeySource::EmailDomain,
    })
}

/// The normalised domain of an email address, or `None` if it is not a
/// plausible address.
///
/// Normalisation: surrounding whitespace trimmed, lower-cased (Unicode-aware;
/// internationalised domains stay as lower-cased text, not punycode), the part
/// after the *last* `@`, a trailing root dot dropped, a leading `www.`
/// stripped. Sub-addressing (`user+tag@`) lives in the local part, so it never
/// changes the domain. Sub-domains are kept (`eu.acme.com` ≠ `acme.com`):
/// folding them needs the public-suffix list, and a wrong fold would merge
/// unrelated companies (`a.co.uk`, `b.co.uk`).
///
/// Refused: no `@`, an empty local part, a domain without a dot, empty labels
/// (`a..com`, `.acme.com`), whitespace, control characters or any of
/// `< > ( ) [ ] , ; : " \ @` in the domain (so address literals such as
/// `user@[10.0.0.1]` and display-name forms are refused too); the same
/// characters in an unquoted local part (lists such as `a@x.com;b@x.com`).
pub fn email_domain(email: &str) -> Option<String> {
    let email = email.trim();
    let (local, domain) = email.rsplit_once('@')?;
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\@".contains(c);
    // A quoted local part ("odd@local"@acme.com) may hold anything; an
    // unquoted one with separators is a list or a display-name form.
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    if local.is_empty() || (!quoted && local.chars().any(bad_char)) {
        return None;
    }
    let mut domain = domain.to_lowercase();
    if domain.ends_with('.') {
        domain.pop();
    }
    if let Some(rest) = domain.strip_prefix("www.") {
        domain = rest.to_string();
    }
    if domain.is_empty() || domain.chars().any(bad_char) {
        return None;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return None;
    }
    Some(domain)
}

/// Whether `domain` is a free-mail, ISP or disposable email domain, which
/// never forms an account.
///
/// The domain is normalised like [`email_domain`] (trimmed, lower-cased,
/// leading `www.` dropped) and matched with its parent domains too, so
/// `vip.qq.com` and `x.mailinator.com` count; no list entry is a public
/// suffix, so a parent match never hits a company domain.
///
/// **Where the list comes from.** No crate fitted (checked on crates.io):
/// `mailchecker` (MIT, maintained) lists only *disposable* providers, not
/// free-mail such as gmail.com; `email_provider_validator` downloads its
/// lists at build time (reqwest in build-dependencies), which our offline CI
/// build cannot do. Large aggregated web lists also hold company domains
/// (about.com, discovery.com, …) that would wrongly split real accounts. So the
/// lists below ([`FREE_MAIL_DOMAINS`], [`ISP_MAIL_DOMAINS`],
/// [`DISPOSABLE_DOMAINS`]) are our own compilation from public knowledge of
/// the major consumer mail providers by region, the large ISPs' mailboxes,
/// well-known disposable / relay services and the RFC 2606 example domains;
/// not a copy of any licensed list. Extend them by adding entries in sorted
/// order (a test checks order, case and overlap).
pub fn is_free_or_disposable(domain: &str) -> bool {
    let domain = domain.trim().to_lowercase();
    let domain = domain.trim_end_matches('.');
    let domain = domain.strip_prefix("www.").unwrap_or(domain);
    let mut candidate = domain;
    loop {
        if [FREE_MAIL_DOMAINS, ISP_MAIL_DOMAINS, DISPOSABLE_DOMAINS]
            .iter()
            .any(|list| list.binary_search(&candidate).is_ok())
        {
            return true;
        }
        match candidate.split_once('.') {
            Some((_, parent)) if parent.contains('.') => candidate = parent,
            _ => return false,
        }
    }
}

/// Consumer (free) mailbox providers, sorted. See [`is_free_or_disposable`].
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "126.com",
    "139.com",
    "163.com",
    "189.cn",
    "21cn.com",
    "aim.com",
    "aliyun.com",
    "aol.co.uk",
    "aol.com",
    "aol.de",
    "aol.fr",
    "bk.ru",
    "centrum.cz",
    "citromail.hu",
    "daum.net",
    "email.com",
    "email.cz",
    "fastmail.com",
    "fastmail.fm",
    "foxmail.com",
    "freemail.hu",
    "gmail.com",
    "gmx.at",
    "gmx.ch",
    "gmx.co.uk",
    "gmx.com",
    "gmx.de",
    "gmx.fr",
    "gmx.net",
    "gmx.us",
    "googlemail.com",
    "hanmail.net",
    "hey.com",
    "hotmail.be",
    "hotmail.ca",
    "hotmail.co.jp",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.com.ar",
    "hotmail.com.br",
    "hotmail.de",
    "hotmail.dk",
    "hotmail.es",
    "hotmail.fr",
    "hotmail.gr",
    "hotmail.it",
    "hotmail.nl",
    "hotmail.no",
    "hotmail.se",
    "hushmail.com",
    "icloud.com",
    "inbox.com",
    "inbox.ru",
    "interia.pl",
    "kakao.com",
    "keemail.me",
    "libero.it",
    "list.ru",
    "live.be",
    "live.ca",
    "live.cn",
    "live.co.uk",
    "live.com",
    "live.com.au",
    "live.com.mx",
    "live.de",
    "live.dk",
    "live.fr",
    "live.ie",
    "live.it",
    "live.jp",
    "live.nl",
    "live.no",
    "live.se",
    "lycos.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "mailbox.org",
    "mailfence.com",
    "me.com",
    "msn.com",
    "mynet.com",
    "nate.com",
    "naver.com",
    "o2.pl",
    "onet.pl",
    "op.pl",
    "outlook.be",
    "outlook.com",
    "outlook.com.br",
    "outlook.de",
    "outlook.es",
    "outlook.fr",
    "outlook.it",
    "outlook.jp",
    "pm.me",
    "post.com",
    "posteo.de",
    "proton.me",
    "protonmail.ch",
    "protonmail.com",
    "qq.com",
    "rambler.ru",
    "rediffmail.com",
    "rocketmail.com",
    "runbox.com",
    "seznam.cz",
    "sina.cn",
    "sina.com",
    "sohu.com",
    "tom.com",
    "tuta.io",
    "tutamail.com",
    "tutanota.com",
    "tutanota.de",
    "ukr.net",
    "usa.com",
    "walla.co.il",
    "web.de",
    "wp.pl",
    "ya.ru",
    "yahoo.ca",
    "yahoo.co.id",
    "yahoo.co.in",
    "yahoo.co.jp",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.com.ar",
    "yahoo.com.au",
    "yahoo.com.br",
    "yahoo.com.hk",
    "yahoo.com.mx",
    "yahoo.com.ph",
    "yahoo.com.sg",
    "yahoo.com.tw",
    "yahoo.com.vn",
    "yahoo.de",
    "yahoo.dk",
    "yahoo.es",
    "yahoo.fr",
    "yahoo.gr",
    "yahoo.ie",
    "yahoo.in",
    "yahoo.it",
    "yahoo.no",
    "yahoo.pl",
    "yahoo.se",
    "yandex.by",
    "yandex.com",
    "yandex.com.tr",
    "yandex.kz",
    "yandex.ru",
    "yandex.ua",
    "yeah.net",
    "ymail.com",
    "zoho.com",
    "zohomail.com",
    "zohomail.in",
];

/// Mailboxes that internet service providers give their (home) customers,
/// sorted: a person's address, not a company's. See [`is_free_or_disposable`].
pub const ISP_MAIL_DOMAINS: &[&str] = &[
    "alice.it",
    "arcor.de",
    "att.net",
    "bbox.fr",
    "bellsouth.net",
    "bigpond.com",
    "bigpond.net.au",
    "blueyonder.co.uk",
    "bol.com.br",
    "btinternet.com",
    "centurylink.net",
    "charter.net",
    "comcast.net",
    "cox.net",
    "docomo.ne.jp",
    "earthlink.net",
    "ezweb.ne.jp",
    "free.fr",
    "freenet.de",
    "ig.com.br",
    "juno.com",
    "laposte.net",
    "netzero.net",
    "neuf.fr",
    "ntlworld.com",
    "optonline.net",
    "optusnet.com.au",
    "orange.fr",
    "rogers.com",
    "rr.com",
    "sapo.pt",
    "sbcglobal.net",
    "sfr.fr",
    "shaw.ca",
    "sky.com",
    "softbank.ne.jp",
    "sympatico.ca",
    "t-online.de",
    "talktalk.net",
    "telus.net",
    "terra.com.br",
    "terra.es",
    "tin.it",
    "tiscali.it",
    "uol.com.br",
    "verizon.net",
    "videotron.ca",
    "virgilio.it",
    "virginmedia.com",
    "wanadoo.fr",
    "windstream.net",
];

/// Disposable (throw-away), anonymous-relay and placeholder domains, sorted:
/// they hide the company, if there is one. See [`is_free_or_disposable`].
pub const DISPOSABLE_DOMAINS: &[&str] = &[
    "10minutemail.com",
    "10minutemail.net",
    "20minutemail.com",
    "33mail.com",
    "anonaddy.me",
    "burnermail.io",
    "discard.email",
    "dispostable.com",
    "duck.com",
    "emailondeck.com",
    "example.com",
    "example.net",
    "example.org",
    "fakeinbox.com",
    "getnada.com",
    "grr.la",
    "guerrillamail.biz",
    "guerrillamail.com",
    "guerrillamail.de",
    "guerrillamail.info",
    "guerrillamail.net",
    "guerrillamail.org",
    "guerrillamailblock.com",
    "inboxkitten.com",
    "mailcatch.com",
    "maildrop.cc",
    "mailinator.com",
    "mailinator.net",
    "mailnesia.com",
    "mailpoof.com",
    "mintemail.com",
    "moakt.com",
    "mohmal.com",
    "mytemp.email",
    "nada.email",
    "pokemail.net",
    "privaterelay.appleid.com",
    "sharklasers.com",
    "simplelogin.com",
    "spam4.me",
    "spamgourmet.com",
    "temp-mail.io",
    "temp-mail.org",
    "tempinbox.com",
    "tempmail.com",
    "tempmail.net",
    "tempmailo.com",
    "tempr.email",
    "test.com",
    "throwawaymail.com",
    "tmpmail.org",
    "trashmail.com",
    "trashmail.de",
    "yopmail.com",
    "yopmail.fr",
    "yopmail.net",
];

// ---------------------------------------------------------------------------
// Roll-up
// ---------------------------------------------------------------------------

/// One lead of an account, as the roll-up sees it: built by the caller from
/// the lead model's score and the lead's raw values.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadView {
    /// The lead model's calibrated probability (non-finite counts as 0).
    pub probability: f64,
    /// Whether the lead counts as an engaged contact ([`EngagementRule`]).
    pub engaged: bool,
    /// The behavioural numeric values, in the order the account model was
    /// built with; NaN = missing. Every lead of a call has the same length.
    pub numeric: Vec<f64>,
    /// Role / function, where the data has one (`role_function`).
    pub role: Option<String>,
    /// Seniority band, where the data has one.
    pub seniority: Option<String>,
}

/// How a model reads one lead for the roll-up: which numeric features are
/// behavioural (summed and maximised per account), which categorical
/// features hold the role and the seniority, and who is engaged. Built the
/// same way by the trainer and the server ([`LeadLens::new`]), so both roll
/// up alike.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadLens {
    /// Behavioural numeric features, in [`LeadView::numeric`] order.
    pub numeric: Vec<String>,
    /// The categorical feature holding the role (name starting with `role`).
    pub role: Option<String>,
    /// The categorical feature holding the seniority (name containing `seniority`).
    pub seniority: Option<String>,
    /// Which leads count as engaged.
    pub engagement: EngagementRule,
}

impl LeadLens {
    /// The lens of a model with these features (name and kind, schema order).
    ///
    /// Behavioural features: `account_numeric` (an account model's
    /// [`AccountModel::numeric_features`]) when given, else every numeric
    /// feature. Role: the first categorical feature whose name starts with
    /// `role`; seniority: the first whose name contains `seniority`.
    pub fn new(
        features: &[(&str, FeatureKind)],
        account_numeric: Option<&[String]>,
        engagement: EngagementRule,
    ) -> Self {
        let numeric = match account_numeric {
            Some(names) => names.to_vec(),
            None => features
                .iter()
                .filter(|(_, kind)| *kind == FeatureKind::Numeric)
                .map(|(name, _)| name.to_string())
                .collect(),
        };
        let categorical = |pred: &dyn Fn(&str) -> bool| {
            features
                .iter()
                .find(|(name, kind)| *kind == FeatureKind::Categorical && pred(name))
                .map(|(name, _)| name.to_string())
        };
        Self {
            numeric,
            role: categorical(&|n| n.starts_with("role")),
            seniority: categorical(&|n| n.contains("seniority")),
            engagement,
        }
    }

    /// The [`LeadView`] of a lead with this probability; `value` gives the
    /// lead's value of a feature as sent (`None` = missing). Numbers as they
    /// are, booleans as 1 / 0, texts parsed (NaN when not a number); role and
    /// seniority only from texts.
    pub fn view<'v>(
        &self,
        probability: f64,
        value: &dyn Fn(&str) -> Option<FeatureValueRef<'v>>,
    ) -> LeadView {
        let numeric: Vec<f64> = self
            .numeric
            .iter()
            .map(|name| match value(name) {
                Some(FeatureValueRef::Number(x)) => x,
                Some(FeatureValueRef::Bool(b)) => f64::from(u8::from(b)),
                Some(FeatureValueRef::Text(t)) => t.trim().parse().unwrap_or(f64::NAN),
                None => f64::NAN,
            })
            .collect();
        let text = |name: &Option<String>| {
            name.as_deref().and_then(|n| match value(n) {
                Some(FeatureValueRef::Text(t)) => Some(t.to_string()),
                _ => None,
            })
        };
        LeadView {
            probability,
            engaged: self.engagement.is_engaged(probability, &numeric),
            numeric,
            role: text(&self.role),
            seniority: text(&self.seniority),
        }
    }
}

/// When a lead counts as an *engaged contact* of its account.
///
/// Engaged = the lead's calibrated probability reaches `min_probability`
/// (by default the model's warm band: sales would call it), **or**, with
/// `any_behaviour`, any behavioural numeric value is above 0 (the person did
/// something: a session, a demo action). Stored in the artifact next to the
/// account model, so training and serving count alike.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EngagementRule {
    /// Probability from which a lead is engaged on its score alone.
    pub min_probability: f64,
    /// Whether any positive behavioural value also makes a lead engaged.
    pub any_behaviour: bool,
}

impl EngagementRule {
    /// The default rule: warm band or any behaviour.
    pub fn from_warm_band(warm_min_probability: f64) -> Self {
        Self {
            min_probability: warm_min_probability,
            any_behaviour: true,
        }
    }

    /// Engaged = any behaviour only: a lead with a behavioural value above 0
    /// (for a model trained from events, an event in the last 30 days; see
    /// [`crate::scoring::events::EventDefinition::account_windows`]). Its
    /// `min_probability` is 1, which no served probability reaches (they
    /// are strictly inside (0, 1)).
    pub fn activity_only() -> Self {
        Self {
            min_probability: 1.0,
            any_behaviour: true,
        }
    }

    /// Whether a lead with this probability and these behavioural values
    /// (NaN = missing, never engaging) is engaged.
    pub fn is_engaged(&self, probability: f64, behavioural: &[f64]) -> bool {
        (probability.is_finite() && probability >= self.min_probability)
            || (self.any_behaviour && behavioural.iter().any(|v| *v > 0.0))
    }
}

/// What an account looks like to the account model: its leads rolled up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountFeatures {
    /// Leads of the account.
    pub contacts: usize,
    /// Leads that are engaged ([`EngagementRule`]): the multi-contact signal.
    pub engaged_contacts: usize,
    /// Highest lead probability: the naive roll-up.
    pub max_lead_probability: f64,
    /// `1 − Π(1 − pᵢ)`: the chance any lead converts if leads were independent.
    pub noisy_or: f64,
    /// Mean lead probability.
    pub mean_lead_probability: f64,
    /// Per behavioural feature: the sum over the leads (missing skipped).
    pub sums: Vec<f64>,
    /// Per behavioural feature: the maximum over the leads (0 if all missing).
    pub maxima: Vec<f64>,
    /// Distinct non-blank roles (case-insensitive): a buying committee.
    pub distinct_roles: usize,
    /// Distinct non-blank seniorities (case-insensitive).
    pub distinct_seniorities: usize,
}

/// The highest probability of `probabilities` (non-finite ones skipped, 0 if none).
pub fn max_probability(probabilities: &[f64]) -> f64 {
    probabilities
        .iter()
        .filter(|p| p.is_finite())
        .fold(0.0_f64, |m, p| m.max(p.clamp(0.0, 1.0)))
}

/// Noisy-OR: `1 − Π(1 − pᵢ)`, the chance at least one lead converts if the
/// leads decided independently (non-finite ones skipped, 0 if none). Computed
/// in log space so many small probabilities do not lose precision.
pub fn noisy_or(probabilities: &[f64]) -> f64 {
    let log_none: f64 = probabilities
        .iter()
        .filter(|p| p.is_finite())
        .map(|p| (-p.clamp(0.0, 1.0)).ln_1p())
        .sum();
    -log_none.exp_m1()
}

/// What the server says when it has no account model.
pub const FALLBACK_DESCRIPTION: &str =
    "no account model: the account probability is its highest lead probability (max roll-up)";

/// The account probability without an account model: the highest lead
/// probability.
///
/// Why max and not noisy-OR: leads of one company are not independent (they
/// face one buying decision), so noisy-OR, exact only under independence,
/// piles up lukewarm leads into certainty (ten leads at 0.3 give 0.97). The
/// maximum is a lower bound on "some lead converts" under any dependence, each
/// lead's probability is calibrated, and it never claims more than one lead
/// shows. It under-rates many-contact accounts; that is what the account
/// model learns to correct, and the response says the fallback was used.
pub fn fallback_probability(features: &AccountFeatures) -> f64 {
    features.max_lead_probability
}

/// Rolls the leads of one account up into its [`AccountFeatures`].
///
/// Missing behavioural values (NaN, or a shorter `numeric`) are skipped: a
/// column with no value has sum 0 and maximum 0 (no record of a behaviour
/// counts as none). The width is the longest `numeric` of the leads. An empty
/// slice gives an all-zero account.
pub fn roll_up(leads: &[LeadView]) -> AccountFeatures {
    let width = leads.iter().map(|l| l.numeric.len()).max().unwrap_or(0);
    let mut sums = vec![0.0; width];
    let mut maxima = vec![f64::NEG_INFINITY; width];
    for lead in leads {
        for (j, v) in lead.numeric.iter().enumerate() {
            if v.is_finite() {
                sums[j] += v;
                maxima[j] = maxima[j].max(*v);
            }
        }
    }
    for m in &mut maxima {
        if !m.is_finite() {
            *m = 0.0;
        }
    }
    let probabilities: Vec<f64> = leads
        .iter()
        .map(|l| {
            if l.probability.is_finite() {
                l.probability.clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    let mean = if probabilities.is_empty() {
        0.0
    } else {
        probabilities.iter().sum::<f64>() / probabilities.len() as f64
    };
    AccountFeatures {
        contacts: leads.len(),
        engaged_contacts: leads.iter().filter(|l| l.engaged).count(),
        max_lead_probability: max_probability(&probabilities),
        noisy_or: noisy_or(&probabilities),
        mean_lead_probability: mean,
        sums,
        maxima,
        distinct_roles: distinct(leads.iter().map(|l| l.role.as_deref())),
        distinct_seniorities: distinct(leads.iter().map(|l| l.seniority.as_deref())),
    }
}

/// Indices of the leads that drive an account: by decreasing probability
/// (ties by index), at most `k`.
pub fn top_leads(leads: &[LeadView], k: usize) -> Vec<usize> {
    let key = |i: usize| {
        let p = leads[i].probability;
        if p.is_finite() {
            p
        } else {
            0.0
        }
    };
    let mut order: Vec<usize> = (0..leads.len()).collect();
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    order.truncate(k);
    order
}

fn distinct<'a>(values: impl Iterator<Item = Option<&'a str>>) -> usize {
    let mut seen: Vec<String> = values
        .flatten()
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
        .collect();
    seen.sort();
    seen.dedup();
    seen.len()
}

// ---------------------------------------------------------------------------
// Account model
// ---------------------------------------------------------------------------

/// Probabilities are clipped to `[EPS, 1 − EPS]` before taking log-odds
/// (the account design row and the known-answer test data alike).
pub const EPS: f64 = 1e-6;

/// Names of the fixed account-model columns, before the behavioural ones
/// (`sum_<name>`, then `max_<name>`).
pub const FIXED_COLUMNS: [&str; 7] = [
    "contacts",
    "engaged_contacts",
    "distinct_roles",
    "distinct_seniorities",
    "max_lead_log_odds",
    "noisy_or_log_odds",
    "mean_lead_probability",
];

/// The account-model design row of `features`, unstandardised.
///
/// Layout: [`FIXED_COLUMNS`], then per behavioural feature its sum, then per
/// behavioural feature its maximum, both as signed `ln(1 + |x|)` (behavioural
/// counts are heavy-tailed). `width` is the behavioural width the model was
/// fitted with: extra values are ignored, absent ones count as 0. Lead
/// probabilities enter as log-odds, so weight 1 on `max_lead_log_odds` alone
/// is exactly the naive roll-up.
pub fn design_row(features: &AccountFeatures, width: usize) -> Vec<f64> {
    let log_odds = |p: f64| {
        let p = if p.is_finite() { p } else { 0.0 }.clamp(EPS, 1.0 - EPS);
        log_odds(p)
    };
    let slog = |x: f64| {
        if x.is_finite() {
            x.signum() * x.abs().ln_1p()
        } else {
            0.0
        }
    };
    let mut row = Vec::with_capacity(FIXED_COLUMNS.len() + 2 * width);
    row.push(features.contacts as f64);
    row.push(features.engaged_contacts as f64);
    row.push(features.distinct_roles as f64);
    row.push(features.distinct_seniorities as f64);
    row.push(log_odds(features.max_lead_probability));
    row.push(log_odds(features.noisy_or));
    let mean = features.mean_lead_probability;
    row.push(if mean.is_finite() { mean } else { 0.0 });
    for values in [&features.sums, &features.maxima] {
        for j in 0..width {
            row.push(slog(values.get(j).copied().unwrap_or(0.0)));
        }
    }
    row
}

/// One account-model column's contribution in sales language (see
/// [`AccountModel::reasons`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountReason {
    /// The account-model column, e.g. `engaged_contacts`, `sum_sessions`.
    pub column: String,
    /// A human label.
    pub label: String,
    /// The account's value as shown (a count, a percentage, a number).
    pub value: String,
    /// The rendered reason.
    pub reason: String,
    /// Contribution to the account's log-odds.
    pub contribution: f64,
}

/// A fitted account model: logistic regression over standardised account
/// features ([`design_row`]). Stored in the artifact (serde).
///
/// `log_odds = base_log_odds + Σⱼ weightⱼ · (xⱼ − meanⱼ) / stdⱼ`, so each term
/// is the exact contribution of one account feature relative to the average
/// training account, and they add up with `base_log_odds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountModel {
    /// Column names, [`FIXED_COLUMNS`] then `sum_<name>…`, `max_<name>…`.
    pub columns: Vec<String>,
    /// Behavioural feature names (schema order), the width of [`LeadView::numeric`].
    pub numeric_features: Vec<String>,
    /// Training mean per column.
    pub means: Vec<f64>,
    /// Training standard deviation per column (1 for constant columns).
    pub stds: Vec<f64>,
    /// Weight per standardised column, in log-odds.
    pub weights: Vec<f64>,
    /// Log-odds of the average training account (the intercept on standardised columns).
    pub base_log_odds: f64,
    /// L2 penalty the model was fitted with (provenance).
    pub l2: f64,
}

/// Why a stored [`AccountModel`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountModelError {
    /// A per-column vector of the wrong length.
    #[error(
        "account model: {what} has {len} entries, expected {expected} \
         ({fixed} fixed + 2 × {behavioural} behavioural)"
    )]
    WrongLength {
        /// Which vector (`columns`, `means`, `stds`, `weights`).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The length the columns imply.
        expected: usize,
        /// Number of fixed columns.
        fixed: usize,
        /// Number of behavioural features.
        behavioural: usize,
    },
    /// A non-finite mean, weight or base log-odds.
    #[error("account model: non-finite mean, weight or base log-odds")]
    NotFinite,
    /// A non-finite or non-positive std.
    #[error("account model: every std must be finite and positive")]
    BadStd,
    /// A non-finite or negative L2 penalty.
    #[error("account model: l2 must be finite and non-negative")]
    BadL2,
}

impl AccountModel {
    /// Checks every invariant the scoring path relies on; never panics.
    ///
    /// # Errors
    /// An [`AccountModelError`] naming the first broken invariant.
    pub fn validate(&self) -> Result<(), AccountModelError> {
        let d = FIXED_COLUMNS.len() + 2 * self.numeric_features.len();
        for (what, len) in [
            ("columns", self.columns.len()),
            ("means", self.means.len()),
            ("stds", self.stds.len()),
            ("weights", self.weights.len()),
        ] {
            if len != d {
                return Err(AccountModelError::WrongLength {
                    what,
                    len,
                    expected: d,
                    fixed: FIXED_COLUMNS.len(),
                    behavioural: self.numeric_features.len(),
                });
            }
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !finite(&self.means) || !finite(&self.weights) || !self.base_log_odds.is_finite() {
            return Err(AccountModelError::NotFinite);
        }
        if self.stds.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(AccountModelError::BadStd);
        }
        if !self.l2.is_finite() || self.l2 < 0.0 {
            return Err(AccountModelError::BadL2);
        }
        Ok(())
    }

    /// Log-odds that the account buys.
    pub fn log_odds(&self, features: &AccountFeatures) -> f64 {
        self.base_log_odds + self.terms(features).iter().sum::<f64>()
    }

    /// Probability that the account buys.
    pub fn probability(&self, features: &AccountFeatures) -> f64 {
        sigmoid(self.log_odds(features))
    }

    /// Per column: its name and exact contribution to the log-odds,
    /// `weight · (x − mean) / std`, in column order. With
    /// [`AccountModel::base_log_odds`] they add up to [`AccountModel::log_odds`].
    pub fn contributions(&self, features: &AccountFeatures) -> Vec<(String, f64)> {
        self.columns
            .iter()
            .cloned()
            .zip(self.terms(features))
            .collect()
    }

    /// [`Self::contributions`] in sales language: per account-model column
    /// its label, the account's value as shown, and a rendered reason, e.g.
    /// `engaged_contacts` → "Engaged contacts", "3", "3 engaged contacts".
    pub fn reasons(&self, features: &AccountFeatures) -> Vec<AccountReason> {
        let width = self.numeric_features.len();
        let count = |n: usize| n.to_string();
        let share = |p: f64| format!("{:.0}%", 100.0 * p);
        let number = |x: f64| {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        };
        self.contributions(features)
            .into_iter()
            .enumerate()
            .map(|(j, (column, contribution))| {
                let (label, value, reason) = match j {
                    0 => (
                        "Contacts".to_string(),
                        count(features.contacts),
                        format!("{} contacts from this company", features.contacts),
                    ),
                    1 => (
                        "Engaged contacts".to_string(),
                        count(features.engaged_contacts),
                        format!("{} engaged contacts", features.engaged_contacts),
                    ),
                    2 => (
                        "Distinct roles".to_string(),
                        count(features.distinct_roles),
                        format!("{} different roles involved", features.distinct_roles),
                    ),
                    3 => (
                        "Distinct seniority levels".to_string(),
                        count(features.distinct_seniorities),
                        format!(
                            "{} different seniority levels involved",
                            features.distinct_seniorities
                        ),
                    ),
                    4 => (
                        "Hottest lead".to_string(),
                        share(features.max_lead_probability),
                        format!(
                            "Its hottest lead scores {}",
                            share(features.max_lead_probability)
                        ),
                    ),
                    5 => (
                        "Any lead buys".to_string(),
                        share(features.noisy_or),
                        format!(
                            "{} chance that at least one lead buys (leads taken as independent)",
                            share(features.noisy_or)
                        ),
                    ),
                    6 => (
                        "Average lead".to_string(),
                        share(features.mean_lead_probability),
                        format!(
                            "Its leads score {} on average",
                            share(features.mean_lead_probability)
                        ),
                    ),
                    _ => {
                        let k = j - FIXED_COLUMNS.len();
                        let (total, k) = if k < width {
                            (true, k)
                        } else {
                            (false, k - width)
                        };
                        let name = self.numeric_features.get(k).map_or("?", String::as_str);
                        let values = if total {
                            &features.sums
                        } else {
                            &features.maxima
                        };
                        let x = number(values.get(k).copied().unwrap_or(0.0));
                        if total {
                            (
                                format!("Total {name}"),
                                x.clone(),
                                format!("{x} {name} across its leads"),
                            )
                        } else {
                            (
                                format!("Most {name} by one lead"),
                                x.clone(),
                                format!("{x} {name} at most by one lead"),
                            )
                        }
                    }
                };
                AccountReason {
                    column,
                    label,
                    value,
                    reason,
                    contribution,
                }
            })
            .collect()
    }

    fn terms(&self, features: &AccountFeatures) -> Vec<f64> {
        let row = design_row(features, self.numeric_features.len());
        row.iter()
            .zip(&self.means)
            .zip(&self.stds)
            .zip(&self.weights)
            .map(|(((x, m), s), w)| w * (x - m) / s)
            .collect()
    }
}
