//! Scorecards (SCORING.md, "Scorecards (v2)"): which subjects are scored at all (`population`),
//! which scorecard scores each one (`filter`, first match wins), and the custom factors that
//! read any HubSpot property.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::config::ScoringConfig;
use super::model::Properties;
use super::numbers::{days_between, to_f64, unit_from_f64};
use super::properties::parse_hubspot_date;
use crate::ids::ObjectType;

/// What a scorecard scores.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// Contacts (customers).
    #[default]
    Contact,
    /// Companies (accounts).
    Company,
}

impl Subject {
    /// Both subject types.
    pub const ALL: [Subject; 2] = [Self::Contact, Self::Company];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Company => "company",
        }
    }

    /// The subject of this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The CRM object type subjects of this kind are.
    pub fn object_type(self) -> ObjectType {
        match self {
            Self::Contact => ObjectType::Contact,
            Self::Company => ObjectType::Company,
        }
    }
}

/// A condition's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The exact string.
    Eq,
    /// Not the exact string (a missing value is not equal).
    Neq,
    /// Greater, as decimals.
    Gt,
    /// Greater or equal, as decimals.
    Gte,
    /// Less, as decimals.
    Lt,
    /// Less or equal, as decimals.
    Lte,
    /// One of the strings.
    In,
    /// None of the strings (a missing value is none of them).
    NotIn,
    /// Has a non-empty value.
    Exists,
    /// Has no value.
    NotExists,
}

impl Op {
    /// Every operator with its JSON name.
    pub const ALL: [(Op, &'static str); 10] = [
        (Self::Eq, "eq"),
        (Self::Neq, "neq"),
        (Self::Gt, "gt"),
        (Self::Gte, "gte"),
        (Self::Lt, "lt"),
        (Self::Lte, "lte"),
        (Self::In, "in"),
        (Self::NotIn, "not_in"),
        (Self::Exists, "exists"),
        (Self::NotExists, "not_exists"),
    ];

    /// The operator of this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(op, _)| *op)
    }

    /// What the operator compares with.
    pub fn operand(self) -> Operand {
        match self {
            Self::Eq | Self::Neq => Operand::Text,
            Self::Gt | Self::Gte | Self::Lt | Self::Lte => Operand::Number,
            Self::In | Self::NotIn => Operand::List,
            Self::Exists | Self::NotExists => Operand::None,
        }
    }
}

/// The kind of operand an [`Op`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// `value`, a string.
    Text,
    /// `value`, a decimal.
    Number,
    /// `values`, strings.
    List,
    /// Nothing.
    None,
}

/// One condition on a subject's own properties.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Condition {
    /// The property's internal name.
    pub property: String,
    /// The comparison.
    pub op: Op,
    /// The operand of `eq`, `neq`, `gt`, `gte`, `lt`, `lte`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The operand of `in` and `not_in`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl Condition {
    /// Whether the condition holds for `properties`. A missing (or empty) or unparseable value
    /// fails every condition except `neq`, `not_in` and `not_exists`.
    pub fn holds(&self, properties: &Properties) -> bool {
        let value = properties
            .get(&self.property)
            .map(String::as_str)
            .filter(|v| !v.is_empty());
        let operand = self.value.as_deref().unwrap_or_default();
        let number = |text: &str| text.trim().parse::<Decimal>().ok();
        let compare =
            |holds: fn(std::cmp::Ordering) -> bool| match (value.and_then(number), number(operand))
            {
                (Some(x), Some(y)) => holds(x.cmp(&y)),
                _ => false,
            };
        match self.op {
            Op::Eq => value == Some(operand),
            Op::Neq => value != Some(operand),
            Op::Gt => compare(std::cmp::Ordering::is_gt),
            Op::Gte => compare(std::cmp::Ordering::is_ge),
            Op::Lt => compare(std::cmp::Ordering::is_lt),
            Op::Lte => compare(std::cmp::Ordering::is_le),
            Op::In => value.is_some_and(|v| self.values.iter().any(|w| w == v)),
            Op::NotIn => !value.is_some_and(|v| self.values.iter().any(|w| w == v)),
            Op::Exists => value.is_some(),
            Op::NotExists => value.is_none(),
        }
    }
}

/// True when every condition holds (an empty list always does).
pub fn all_hold(conditions: &[Condition], properties: &Properties) -> bool {
    conditions.iter().all(|c| c.holds(properties))
}

/// Which objects a custom factor reads its property on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Of {
    /// The subject itself.
    #[default]
    Subject,
    /// A customer's companies (contact scorecards).
    Companies,
    /// An account's contacts (company scorecards).
    Contacts,
}

impl Of {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Companies => "companies",
            Self::Contacts => "contacts",
        }
    }
}

/// How values of several objects combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The largest.
    #[default]
    Max,
    /// The smallest.
    Min,
    /// The mean.
    Mean,
}

impl Aggregate {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Max => "max",
            Self::Min => "min",
            Self::Mean => "mean",
        }
    }

    /// Combines values (`None` when there are none).
    pub fn combine(self, values: &[Decimal]) -> Option<Decimal> {
        let first = *values.first()?;
        Some(match self {
            Self::Max => values.iter().copied().fold(first, Decimal::max),
            Self::Min => values.iter().copied().fold(first, Decimal::min),
            Self::Mean => {
                let sum = values
                    .iter()
                    .fold(Decimal::ZERO, |acc, v| acc.saturating_add(*v));
                sum / Decimal::from(values.len())
            }
        })
    }
}

/// A custom factor's transform from a property value to [0, 1].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transform {
    /// clamp((x - min) / (max - min), 0, 1); min > max means lower is better.
    Linear {
        /// The value scoring 0.
        #[serde(with = "rust_decimal::serde::str")]
        min: Decimal,
        /// The value scoring 1.
        #[serde(with = "rust_decimal::serde::str")]
        max: Decimal,
    },
    /// The value for the exact string; absent: N/A.
    Map {
        /// String to value in [0, 1].
        #[serde(with = "super::numbers::exact_decimal_map")]
        values: BTreeMap<String, Decimal>,
    },
    /// 2^(-days since the date / half_life_days).
    Recency {
        /// Days after which the value halves (> 0).
        #[serde(with = "rust_decimal::serde::str")]
        half_life_days: Decimal,
    },
    /// The value of the first step whose upper bound is at least x, else `above`.
    Steps {
        /// `[upper, value]` pairs, uppers strictly increasing.
        #[serde(with = "super::numbers::exact_decimal_pairs")]
        steps: Vec<(Decimal, Decimal)>,
        /// The value above the last upper bound.
        #[serde(with = "rust_decimal::serde::str")]
        above: Decimal,
    },
}

impl Transform {
    /// The value in [0, 1] of one property value at `t`; `None` when it is missing or does
    /// not parse.
    pub fn apply(&self, raw: &str, t: DateTime<Utc>) -> Option<Decimal> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        match self {
            Self::Linear { min, max } => {
                let x: Decimal = raw.parse().ok()?;
                let span = *max - *min;
                let value = x.checked_sub(*min)?.checked_div(span)?;
                Some(value.clamp(Decimal::ZERO, Decimal::ONE))
            }
            Self::Map { values } => values.get(raw).copied(),
            Self::Recency { half_life_days } => {
                let at = parse_hubspot_date(raw)?;
                let days = days_between(at, t).max(0.0);
                Some(unit_from_f64((-days / to_f64(*half_life_days)).exp2()))
            }
            Self::Steps { steps, above } => {
                let x: Decimal = raw.parse().ok()?;
                Some(
                    steps
                        .iter()
                        .find(|(upper, _)| x <= *upper)
                        .map_or(*above, |(_, value)| *value),
                )
            }
        }
    }
}

/// A factor on any HubSpot property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFactor {
    /// `[a-z][a-z0-9_]{0,39}`, its name in `weights` and reports.
    pub key: String,
    /// The HubSpot property's internal name.
    pub property: String,
    /// Which objects the property is read on.
    #[serde(default)]
    pub of: Of,
    /// How several objects' values combine.
    #[serde(default)]
    pub aggregate: Aggregate,
    /// From a value to [0, 1].
    pub transform: Transform,
}

/// One scorecard: a v1 configuration with a name, a subject type, a segment filter and custom
/// factors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scorecard {
    /// Unique, 1-64 characters.
    pub name: String,
    /// What it scores.
    pub subject: Subject,
    /// The conditions a subject's state must meet for this scorecard (empty: every subject).
    pub filter: Vec<Condition>,
    /// Factors on HubSpot properties.
    pub custom_factors: Vec<CustomFactor>,
    /// Weights, bands, coverage and the settings of every built-in factor.
    pub config: ScoringConfig,
}

/// Who is a customer or an account at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Population {
    /// Conditions a contact must meet (besides having an email) to be a customer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact: Vec<Condition>,
    /// Conditions a company must meet to be an account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub company: Vec<Condition>,
}

impl Population {
    /// The conditions for `subject`.
    pub fn of(&self, subject: Subject) -> &[Condition] {
        match subject {
            Subject::Contact => &self.contact,
            Subject::Company => &self.company,
        }
    }

    /// True when nobody is left out.
    pub fn is_everyone(&self) -> bool {
        self.contact.is_empty() && self.company.is_empty()
    }
}

/// The name v1 documents' one scorecard goes by.
pub const DEFAULT_SCORECARD: &str = "default";

/// Which shape a document was written in; `GET` answers in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The v1 document: one contact scorecard named `default`.
    V1,
    /// `{"scorecards": [...]}`.
    Scorecards,
}

/// One configuration version: every scorecard and the population.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoringDocument {
    /// The shape it was written in.
    pub shape: Shape,
    /// In list order: the first whose filter holds scores a subject.
    pub scorecards: Vec<Scorecard>,
    /// Who is a subject at all.
    pub population: Population,
}

impl Default for ScoringDocument {
    fn default() -> Self {
        Self::v1(ScoringConfig::default())
    }
}

impl ScoringDocument {
    /// The document a v1 configuration stands for.
    pub fn v1(config: ScoringConfig) -> Self {
        Self {
            shape: Shape::V1,
            scorecards: vec![Scorecard {
                name: DEFAULT_SCORECARD.to_owned(),
                subject: Subject::Contact,
                filter: Vec::new(),
                custom_factors: Vec::new(),
                config,
            }],
            population: Population::default(),
        }
    }

    /// The v1 configuration of a v1 document.
    pub fn as_v1(&self) -> Option<&ScoringConfig> {
        match (self.shape, self.scorecards.as_slice()) {
            (Shape::V1, [only]) => Some(&only.config),
            _ => None,
        }
    }

    /// True when some scorecard scores `subject`.
    pub fn scores(&self, subject: Subject) -> bool {
        self.scorecards.iter().any(|s| s.subject == subject)
    }

    /// The scorecards of one subject type, in order.
    pub fn scorecards_of(&self, subject: Subject) -> impl Iterator<Item = &Scorecard> + '_ {
        self.scorecards.iter().filter(move |s| s.subject == subject)
    }

    /// The scorecard named `name`.
    pub fn scorecard(&self, name: &str) -> Option<&Scorecard> {
        self.scorecards.iter().find(|s| s.name == name)
    }

    /// True when a subject with these properties belongs to the population.
    pub fn admits(&self, subject: Subject, properties: &Properties) -> bool {
        all_hold(self.population.of(subject), properties)
    }

    /// The scorecard that scores a subject with these properties: the first of its type whose
    /// filter holds (the last one of each type has none, so a scored type always finds one).
    pub fn select(&self, subject: Subject, properties: &Properties) -> Option<&Scorecard> {
        self.scorecards_of(subject)
            .find(|s| all_hold(&s.filter, properties))
    }

    /// The properties of `object_type` the document reads beyond the engine's own list:
    /// those its filters, population and custom factors name.
    pub fn properties_named(&self, object_type: ObjectType) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let subject_of = |subject: Subject| subject.object_type() == object_type;
        for subject in Subject::ALL.into_iter().filter(|s| subject_of(*s)) {
            names.extend(
                self.population
                    .of(subject)
                    .iter()
                    .map(|c| c.property.clone()),
            );
        }
        for scorecard in &self.scorecards {
            if subject_of(scorecard.subject) {
                names.extend(scorecard.filter.iter().map(|c| c.property.clone()));
            }
            for factor in &scorecard.custom_factors {
                let read_on = match factor.of {
                    Of::Subject => scorecard.subject.object_type(),
                    Of::Companies => ObjectType::Company,
                    Of::Contacts => ObjectType::Contact,
                };
                if read_on == object_type {
                    names.insert(factor.property.clone());
                }
            }
        }
        names
    }
}
