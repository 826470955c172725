//! Alert rules: what a band change or a score drop must be to alert, for which subjects, and
//! where the alert goes. A portal's rules are replaced as a whole (`PUT /alerts/rules`); each
//! rule keeps its `id` across versions, so its cooldown carries over.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::scoring::{Band, Subject};

/// Rules a portal may have.
pub const MAX_RULES: usize = 100;
/// The cooldown when a rule names none: one alert per subject and rule a day.
pub const DEFAULT_COOLDOWN_HOURS: u32 = 24;
/// The longest cooldown (30 days).
pub const MAX_COOLDOWN_HOURS: u32 = 720;
/// The longest window a score drop is measured over.
pub const MAX_DROP_DAYS: u32 = 365;

/// What makes a rule fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The band got worse: healthy to at_risk or critical, at_risk to critical.
    BandWorsened,
    /// The band changed either way.
    BandChanged,
    /// The score fell by at least `points` within `days`.
    ScoreDropped,
}

impl Trigger {
    /// The alert's `type` in payloads: `health.band_worsened`...
    pub fn alert_type(self) -> &'static str {
        match self {
            Self::BandWorsened => "health.band_worsened",
            Self::BandChanged => "health.band_changed",
            Self::ScoreDropped => "health.score_dropped",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "band_worsened" => Some(Self::BandWorsened),
            "band_changed" => Some(Self::BandChanged),
            "score_dropped" => Some(Self::ScoreDropped),
            _ => None,
        }
    }
}

/// Which subjects a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectScope {
    /// Customers (contacts) only.
    Contact,
    /// Accounts (companies) only.
    Company,
    /// Both.
    Any,
}

impl SubjectScope {
    /// Whether the rule watches `subject`.
    pub fn covers(self, subject: Subject) -> bool {
        matches!(
            (self, subject),
            (Self::Any, _) | (Self::Contact, Subject::Contact) | (Self::Company, Subject::Company)
        )
    }
}

/// One rule, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRule {
    /// Stable across versions (given, or derived from the rule's content).
    #[schema(example = "r4f1c2a9b")]
    pub id: String,
    /// What fires it.
    pub on: Trigger,
    /// Which subjects it watches.
    pub subject: SubjectScope,
    /// The destination id alerts go to.
    #[schema(example = "dst_8c1d2e3f4a5b6c7d")]
    pub destination: String,
    /// After an alert, the same rule stays quiet about the same subject this long.
    #[schema(example = 24)]
    pub cooldown_hours: u32,
    /// `score_dropped` only: the drop that fires it, in points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 15)]
    pub points: Option<f64>,
    /// `score_dropped` only: the window the drop is measured over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 7)]
    pub days: Option<u32>,
    /// Only subjects scored by this scorecard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<String>,
    /// Only subjects with this HubSpot owner id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A band change as the health log records it, for rules to judge.
#[derive(Debug, Clone, PartialEq)]
pub struct BandMove<'a> {
    /// Customer or account.
    pub subject: Subject,
    /// The band before (`None`: first band, or insufficient data).
    pub old: Option<Band>,
    /// The band now (`None`: insufficient data).
    pub new: Option<Band>,
    /// The scorecard that scored it, when known.
    pub scorecard: Option<&'a str>,
    /// Its HubSpot owner id, when it has one.
    pub owner: Option<&'a str>,
}

fn rank(band: Band) -> u8 {
    match band {
        Band::Healthy => 2,
        Band::AtRisk => 1,
        Band::Critical => 0,
    }
}

impl AlertRule {
    /// Whether this band change fires the rule (before its cooldown). A first band and a move
    /// into or out of insufficient data are not changes a CSM acts on: neither fires.
    pub fn fires_on(&self, change: &BandMove<'_>) -> bool {
        let (Some(old), Some(new)) = (change.old, change.new) else {
            return false;
        };
        let moved = match self.on {
            Trigger::BandWorsened => rank(new) < rank(old),
            Trigger::BandChanged => new != old,
            Trigger::ScoreDropped => false,
        };
        moved && self.watches(change.subject, change.scorecard, change.owner)
    }

    /// Whether the rule watches this subject (its scope, scorecard and owner filters).
    pub fn watches(&self, subject: Subject, scorecard: Option<&str>, owner: Option<&str>) -> bool {
        self.subject.covers(subject)
            && self
                .scorecard
                .as_deref()
                .is_none_or(|wanted| scorecard == Some(wanted))
            && self
                .owner
                .as_deref()
                .is_none_or(|wanted| owner == Some(wanted))
    }

    /// The cooldown in milliseconds.
    pub fn cooldown_ms(&self) -> i64 {
        i64::from(self.cooldown_hours) * 3_600_000
    }
}

/// One problem with a rules document: the field (`rules[2].cooldown_hours`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// A dotted path into the body.
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

const FIELDS: [&str; 9] = [
    "id",
    "on",
    "subject",
    "destination",
    "cooldown_hours",
    "points",
    "days",
    "scorecard",
    "owner",
];

/// Reads `{"rules": [...]}`, naming every problem. Destinations are checked by the caller.
pub fn parse_rules(document: &Value) -> Result<Vec<AlertRule>, Vec<RuleProblem>> {
    let mut problems = Vec::new();
    let mut problem = |field: String, message: &str| {
        problems.push(RuleProblem {
            field,
            message: message.to_owned(),
        });
    };
    let Some(top) = document.as_object() else {
        problem(String::new(), "expected an object {\"rules\": [...]}");
        return Err(problems);
    };
    for key in top.keys().filter(|k| k.as_str() != "rules") {
        problem(key.clone(), "unknown field: expected rules");
    }
    let Some(list) = top.get("rules").and_then(Value::as_array) else {
        problem("rules".into(), "required: an array of rules");
        return Err(problems);
    };
    if list.len() > MAX_RULES {
        problem("rules".into(), "at most 100 rules");
    }
    let mut rules = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = |field: &str| format!("rules[{i}].{field}");
        let Some(fields) = item.as_object() else {
            problem(format!("rules[{i}]"), "expected an object");
            continue;
        };
        if let Some(rule) = parse_rule(fields, &at, &mut problem) {
            rules.push(rule);
        }
    }
    let mut seen = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        if !seen.insert(rule.id.clone()) {
            problem(
                format!("rules[{i}].id"),
                "another rule has this id (or is the same rule)",
            );
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

fn parse_rule(
    fields: &Map<String, Value>,
    at: &dyn Fn(&str) -> String,
    problem: &mut dyn FnMut(String, &str),
) -> Option<AlertRule> {
    for key in fields.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        problem(
            at(key),
            "unknown field: expected id, on, subject, destination, cooldown_hours, points, days, scorecard, owner",
        );
    }
    let on = fields
        .get("on")
        .and_then(Value::as_str)
        .and_then(Trigger::from_name);
    if on.is_none() {
        problem(
            at("on"),
            "required: band_worsened, band_changed or score_dropped",
        );
    }
    let subject = match fields.get("subject") {
        None | Some(Value::Null) => Some(SubjectScope::Any),
        Some(Value::String(s)) if s == "contact" => Some(SubjectScope::Contact),
        Some(Value::String(s)) if s == "company" => Some(SubjectScope::Company),
        Some(Value::String(s)) if s == "any" => Some(SubjectScope::Any),
        Some(_) => {
            problem(at("subject"), "expected contact, company or any");
            None
        }
    };
    let destination = match fields.get("destination").and_then(Value::as_str) {
        Some(d) if !d.trim().is_empty() => Some(d.to_owned()),
        _ => {
            problem(at("destination"), "required: a destination id");
            None
        }
    };
    let cooldown_hours = match fields.get("cooldown_hours") {
        None | Some(Value::Null) => Some(DEFAULT_COOLDOWN_HOURS),
        Some(v) => match v.as_u64().and_then(|h| u32::try_from(h).ok()) {
            Some(h) if h <= MAX_COOLDOWN_HOURS => Some(h),
            _ => {
                problem(at("cooldown_hours"), "expected whole hours from 0 to 720");
                None
            }
        },
    };
    let dropped = on == Some(Trigger::ScoreDropped);
    let points = match (fields.get("points"), dropped) {
        (None | Some(Value::Null), false) => None,
        (Some(_), false) => {
            problem(at("points"), "only score_dropped rules take points");
            None
        }
        (v, true) => match v.and_then(Value::as_f64) {
            Some(p) if p > 0.0 && p <= 100.0 => Some(p),
            _ => {
                problem(
                    at("points"),
                    "required for score_dropped: more than 0, at most 100",
                );
                None
            }
        },
    };
    let days = match (fields.get("days"), dropped) {
        (None | Some(Value::Null), false) => None,
        (Some(_), false) => {
            problem(at("days"), "only score_dropped rules take days");
            None
        }
        (v, true) => match v
            .and_then(Value::as_u64)
            .and_then(|d| u32::try_from(d).ok())
        {
            Some(d) if (1..=MAX_DROP_DAYS).contains(&d) => Some(d),
            _ => {
                problem(
                    at("days"),
                    "required for score_dropped: whole days from 1 to 365",
                );
                None
            }
        },
    };
    let mut text = |name: &str| match fields.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 200 => Some(Some(s.clone())),
        Some(_) => {
            problem(at(name), "expected a non-empty string (at most 200 bytes)");
            None
        }
    };
    let scorecard = text("scorecard");
    let owner = text("owner");
    let id = match fields.get("id") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if valid_id(s) => Some(Some(s.clone())),
        Some(_) => {
            problem(at("id"), "expected 1 to 64 letters, digits, '-' or '_'");
            None
        }
    };
    let mut rule = AlertRule {
        id: String::new(),
        on: on?,
        subject: subject?,
        destination: destination?,
        cooldown_hours: cooldown_hours?,
        points: if dropped { Some(points?) } else { None },
        days: if dropped { Some(days?) } else { None },
        scorecard: scorecard?,
        owner: owner?,
    };
    rule.id = id?.unwrap_or_else(|| content_id(&rule));
    Some(rule)
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A rule's id when it names none: a digest of what it says, so the same rule written again
/// keeps its id (and its cooldown).
fn content_id(rule: &AlertRule) -> String {
    let text = serde_json::to_string(rule).unwrap_or_default();
    format!("r{}", hex::encode(&Sha256::digest(text.as_bytes())[..4]))
}
