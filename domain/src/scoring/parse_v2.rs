//! `ScoringDocument::from_document`: a v1 document, or `{"scorecards": [...], "population":
//! {...}}` with every rule of SCORING.md's "Scorecards (v2)", every field error collected.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::config::ScoringConfig;
use super::model::Factor;
use super::parse::{ConfigDocument, FieldError, Reader, TOP_KEYS, WeightKey};
use super::scorecards::{
    Aggregate, Condition, CustomFactor, Of, Op, Operand, Population, Scorecard, ScoringDocument,
    Shape, Subject, Transform,
};
use crate::ids::ObjectType;
use crate::sentiment::SentimentValue;

const DOCUMENT_KEYS: [&str; 2] = ["scorecards", "population"];
const SCORECARD_KEYS: [&str; 5] = [
    "name",
    "subject",
    "filter",
    "custom_factors",
    "csm_sentiment",
];
const MAX_NAME_CHARS: usize = 64;
const MAX_KEY_CHARS: usize = 40;

impl ScoringDocument {
    /// Reads either shape of configuration document (see the module docs).
    ///
    /// # Errors
    ///
    /// Every [`FieldError`] found, fields named by path (`scorecards[1].weights.product_usage`).
    pub fn from_document(document: &ConfigDocument) -> Result<ScoringDocument, Vec<FieldError>> {
        let is_v2 = document
            .value
            .as_object()
            .is_some_and(|root| root.contains_key("scorecards"));
        if !is_v2 {
            return ScoringConfig::from_document(document).map(ScoringDocument::v1);
        }
        let mut r = Reader {
            errors: Vec::new(),
            numbers: Some(&document.numbers),
            prefix: String::new(),
        };
        let parsed = r.document(document.value.as_object().unwrap_or(&Map::new()));
        if r.errors.is_empty() {
            Ok(parsed)
        } else {
            Err(r.errors)
        }
    }

    /// The fields naming a property that `exists` says the portal lacks (once discovery has
    /// run): each condition's and custom factor's `property`.
    pub fn unknown_properties(&self, exists: &dyn Fn(ObjectType, &str) -> bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut check = |object_type: ObjectType, property: &str, field: String| {
            if !exists(object_type, property) {
                let message = format!(
                    "the portal has no {} property {property:?}",
                    object_type.as_str()
                );
                errors.push(FieldError::new(field, message));
            }
        };
        for subject in Subject::ALL {
            for (i, c) in self.population.of(subject).iter().enumerate() {
                let field = format!("population.{}[{i}].property", subject.as_str());
                check(subject.object_type(), &c.property, field);
            }
        }
        let prefix = |i: usize| match self.shape {
            Shape::V1 => String::new(),
            Shape::Scorecards => format!("scorecards[{i}]."),
        };
        for (i, scorecard) in self.scorecards.iter().enumerate() {
            for (j, c) in scorecard.filter.iter().enumerate() {
                let field = format!("{}filter[{j}].property", prefix(i));
                check(scorecard.subject.object_type(), &c.property, field);
            }
            for (j, f) in scorecard.custom_factors.iter().enumerate() {
                let on = match f.of {
                    Of::Subject => scorecard.subject.object_type(),
                    Of::Companies => ObjectType::Company,
                    Of::Contacts => ObjectType::Contact,
                };
                check(
                    on,
                    &f.property,
                    format!("{}custom_factors[{j}].property", prefix(i)),
                );
            }
        }
        errors
    }
}

/// `[a-z][a-z0-9_]{0,39}`.
fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && key.len() <= MAX_KEY_CHARS
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Reader<'_> {
    /// Runs `read` with `segment` appended to the field prefix.
    fn within<T>(&mut self, segment: &str, read: impl FnOnce(&mut Self) -> T) -> T {
        let saved = self.prefix.clone();
        self.prefix.push_str(segment);
        let out = read(self);
        self.prefix = saved;
        out
    }

    /// A string at `field`; `None` (with an error) for anything else.
    fn text(&mut self, field: &str, value: &Value) -> Option<String> {
        match value {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.error(field, "must be a string");
                None
            }
        }
    }

    /// A required string member, not blank.
    fn required_text(&mut self, object: &Map<String, Value>, key: &str) -> Option<String> {
        let Some(value) = object.get(key) else {
            self.error(key, "is required");
            return None;
        };
        let text = self.text(key, value)?;
        if text.trim().is_empty() {
            self.error(key, "must not be empty");
            return None;
        }
        Some(text)
    }

    /// Reports the keys of `object` not in `known`.
    fn unknown_keys(&mut self, object: &Map<String, Value>, known: &[&str]) {
        for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
            self.error(key.as_str(), "unknown key");
        }
    }

    /// An array at `field`; `None` (with an error) for anything else.
    fn array<'v>(&mut self, field: &str, value: &'v Value) -> Option<&'v Vec<Value>> {
        let array = value.as_array();
        if array.is_none() {
            self.error(field, "must be an array");
        }
        array
    }

    fn document(&mut self, root: &Map<String, Value>) -> ScoringDocument {
        self.unknown_keys(root, &DOCUMENT_KEYS);
        let mut scorecards = Vec::new();
        if let Some(list) = root
            .get("scorecards")
            .and_then(|v| self.array("scorecards", v))
        {
            if list.is_empty() {
                self.error("scorecards", "must hold at least one scorecard");
            }
            for (i, value) in list.iter().enumerate() {
                let read = self.within(&format!("scorecards[{i}]."), |r| r.scorecard(value));
                if let Some(scorecard) = read {
                    scorecards.push((i, scorecard));
                }
            }
        }
        let population = match root.get("population") {
            Some(value) => self.within("population", |r| r.population(value)),
            None => Population::default(),
        };
        self.across_scorecards(&scorecards);
        ScoringDocument {
            shape: Shape::Scorecards,
            scorecards: scorecards.into_iter().map(|(_, s)| s).collect(),
            population,
        }
    }

    /// The rules between scorecards: unique names, an unfiltered last one per subject type,
    /// and customer_health only beside a contact scorecard.
    fn across_scorecards(&mut self, scorecards: &[(usize, Scorecard)]) {
        let mut names = BTreeSet::new();
        for (i, scorecard) in scorecards {
            if !names.insert(scorecard.name.as_str()) {
                self.error(
                    format!("scorecards[{i}].name"),
                    "is used by an earlier scorecard",
                );
            }
        }
        for subject in Subject::ALL {
            let last = scorecards.iter().rev().find(|(_, s)| s.subject == subject);
            if let Some((i, scorecard)) = last
                && !scorecard.filter.is_empty()
            {
                let message = format!(
                    "the last {} scorecard must have no filter: it scores every {} the others leave",
                    subject.as_str(),
                    subject.as_str()
                );
                self.error(format!("scorecards[{i}].filter"), message);
            }
        }
        let has_contacts = scorecards
            .iter()
            .any(|(_, s)| s.subject == Subject::Contact);
        for (i, scorecard) in scorecards {
            if !has_contacts && scorecard.config.weights.customer_health > Decimal::ZERO {
                self.error(
                    format!("scorecards[{i}].weights.customer_health"),
                    "needs a contact scorecard to score the account's customers",
                );
            }
        }
    }

    fn scorecard(&mut self, value: &Value) -> Option<Scorecard> {
        let Some(object) = value.as_object() else {
            self.error("", "must be an object");
            return None;
        };
        let known: Vec<&str> = TOP_KEYS.iter().chain(&SCORECARD_KEYS).copied().collect();
        self.unknown_keys(object, &known);
        let name = self.required_text(object, "name").unwrap_or_default();
        if name.chars().count() > MAX_NAME_CHARS {
            self.error(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        }
        let subject = match object.get("subject") {
            None => Subject::Contact,
            Some(value) => match value.as_str().and_then(Subject::from_name) {
                Some(subject) => subject,
                None => {
                    self.error("subject", "must be \"contact\" or \"company\"");
                    Subject::Contact
                }
            },
        };
        let filter = match object.get("filter") {
            Some(value) => self.within("filter", |r| r.conditions(value)),
            None => Vec::new(),
        };
        let custom_factors = match object.get("custom_factors") {
            Some(value) => self.within("custom_factors", |r| r.custom_factors(value, subject)),
            None => Vec::new(),
        };
        // Keys as written, so that one invalid custom factor does not also make its weight an
        // unknown factor.
        let custom_keys: BTreeSet<&str> = object
            .get("custom_factors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("key")?.as_str())
            .collect();
        let factor_of = |name: &str| -> Result<WeightKey, &'static str> {
            match Factor::from_any_name(name) {
                Some(Factor::CustomerHealth) if subject == Subject::Contact => {
                    Err("only company scorecards weigh customer_health")
                }
                Some(factor) => Ok(WeightKey::BuiltIn(factor)),
                None if custom_keys.contains(name) => Ok(WeightKey::Custom),
                None => Err("unknown factor (not built in, not a custom factor's key)"),
            }
        };
        let mut config = self.config(object, &factor_of);
        if let Some(section) = self.section(object, "csm_sentiment", &["values", "expires_days"]) {
            let settings = &mut config.csm_sentiment;
            self.positive(
                Some(section),
                "csm_sentiment.expires_days",
                &mut settings.expires_days,
            );
            if let Some(values) = section.get("values") {
                self.sentiment_values(values, &mut settings.values);
            }
        }
        Some(Scorecard {
            name,
            subject,
            filter,
            custom_factors,
            config,
        })
    }

    fn sentiment_values(&mut self, value: &Value, values: &mut super::config::SentimentValues) {
        let Some(object) = self.object("csm_sentiment.values", value) else {
            return;
        };
        for (name, value) in object {
            let field = format!("csm_sentiment.values.{name}");
            let Some(sentiment) = SentimentValue::from_name(name) else {
                self.error(field, "unknown sentiment (green, yellow or red)");
                continue;
            };
            if let Some(v) = self.unit(&field, value) {
                *values.of_mut(sentiment) = v;
            }
        }
    }

    /// A number in [0, 1].
    fn unit(&mut self, field: &str, value: &Value) -> Option<Decimal> {
        let v = self.number(field, value)?;
        if !(Decimal::ZERO..=Decimal::ONE).contains(&v) {
            self.error(field, "must be between 0 and 1");
            return None;
        }
        Some(v)
    }

    fn population(&mut self, value: &Value) -> Population {
        let mut population = Population::default();
        let Some(object) = value.as_object() else {
            self.error("", "must be an object");
            return population;
        };
        self.within(".", |r| r.unknown_keys(object, &["contact", "company"]));
        if let Some(value) = object.get("contact") {
            population.contact = self.within(".contact", |r| r.conditions(value));
        }
        if let Some(value) = object.get("company") {
            population.company = self.within(".company", |r| r.conditions(value));
        }
        population
    }

    /// A list of conditions; the prefix names the list itself (`scorecards[0].filter`).
    fn conditions(&mut self, value: &Value) -> Vec<Condition> {
        let Some(list) = self.array("", value) else {
            return Vec::new();
        };
        list.iter()
            .enumerate()
            .filter_map(|(i, value)| self.within(&format!("[{i}]."), |r| r.condition(value)))
            .collect()
    }

    fn condition(&mut self, value: &Value) -> Option<Condition> {
        let Some(object) = value.as_object() else {
            self.error("", "must be an object");
            return None;
        };
        self.unknown_keys(object, &["property", "op", "value", "values"]);
        let property = self.required_text(object, "property");
        let op = match object.get("op") {
            None => {
                self.error("op", "is required");
                None
            }
            Some(value) => {
                let op = value.as_str().and_then(Op::from_name);
                if op.is_none() {
                    let names: Vec<&str> = Op::ALL.iter().map(|(_, n)| *n).collect();
                    self.error("op", format!("must be one of {}", names.join(", ")));
                }
                op
            }
        };
        let op = op?;
        let (mut single, mut list) = (None, Vec::new());
        let operand = op.operand();
        match (operand, object.get("value")) {
            (Operand::Text | Operand::Number, None) => {
                self.error("value", "is required by this op")
            }
            (Operand::Text | Operand::Number, Some(value)) => {
                single = match value {
                    Value::String(text) => Some(text.clone()),
                    // A number is compared by the text it was written as.
                    Value::Number(number) => Some(number.to_string()),
                    _ => {
                        self.error("value", "must be a string or a number");
                        None
                    }
                };
                if operand == Operand::Number
                    && let Some(text) = &single
                    && text.trim().parse::<Decimal>().is_err()
                {
                    self.error("value", "must be a decimal number for this op");
                }
            }
            (_, Some(_)) => self.error("value", "is not taken by this op"),
            (_, None) => {}
        }
        match (operand, object.get("values")) {
            (Operand::List, None) => self.error("values", "is required by this op"),
            (Operand::List, Some(value)) => match value.as_array() {
                Some(items) if !items.is_empty() => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(text) = self.text(&format!("values[{i}]"), item) {
                            list.push(text);
                        }
                    }
                }
                _ => self.error("values", "must be a non-empty array of strings"),
            },
            (_, Some(_)) => self.error("values", "is not taken by this op"),
            (_, None) => {}
        }
        Some(Condition {
            property: property?,
            op,
            value: single,
            values: list,
        })
    }

    fn custom_factors(&mut self, value: &Value, subject: Subject) -> Vec<CustomFactor> {
        let Some(list) = self.array("", value) else {
            return Vec::new();
        };
        let mut keys = BTreeSet::new();
        let mut factors = Vec::new();
        for (i, value) in list.iter().enumerate() {
            let factor = self.within(&format!("[{i}]."), |r| r.custom_factor(value, subject));
            if let Some(factor) = factor {
                if !keys.insert(factor.key.clone()) {
                    self.error(format!("[{i}].key"), "is used by an earlier custom factor");
                }
                factors.push(factor);
            }
        }
        factors
    }

    fn custom_factor(&mut self, value: &Value, subject: Subject) -> Option<CustomFactor> {
        let Some(object) = value.as_object() else {
            self.error("", "must be an object");
            return None;
        };
        self.unknown_keys(object, &["key", "property", "of", "aggregate", "transform"]);
        let key = self.required_text(object, "key");
        if let Some(key) = &key {
            if !valid_key(key) {
                self.error("key", "must match [a-z][a-z0-9_]{0,39}");
            } else if Factor::from_any_name(key).is_some() {
                self.error("key", "is the name of a built-in factor");
            }
        }
        let property = self.required_text(object, "property");
        let of = match object.get("of").map(|v| v.as_str()) {
            None => Of::Subject,
            Some(Some("subject")) => Of::Subject,
            Some(Some("companies")) if subject == Subject::Contact => Of::Companies,
            Some(Some("contacts")) if subject == Subject::Company => Of::Contacts,
            Some(_) => {
                let allowed = match subject {
                    Subject::Contact => "\"subject\" or \"companies\"",
                    Subject::Company => "\"subject\" or \"contacts\"",
                };
                self.error(
                    "of",
                    format!("must be {allowed} in a {} scorecard", subject.as_str()),
                );
                Of::Subject
            }
        };
        let aggregate = match object.get("aggregate").map(|v| v.as_str()) {
            None | Some(Some("max")) => Aggregate::Max,
            Some(Some("min")) => Aggregate::Min,
            Some(Some("mean")) => Aggregate::Mean,
            Some(_) => {
                self.error("aggregate", "must be \"max\", \"min\" or \"mean\"");
                Aggregate::Max
            }
        };
        let transform = match object.get("transform") {
            None => {
                self.error("transform", "is required");
                None
            }
            Some(value) => self.within("transform.", |r| r.transform(value)),
        };
        Some(CustomFactor {
            key: key?,
            property: property?,
            of,
            aggregate,
            transform: transform?,
        })
    }

    fn transform(&mut self, value: &Value) -> Option<Transform> {
        let Some(object) = value.as_object() else {
            self.error("", "must be an object");
            return None;
        };
        let kind = object.get("type").and_then(Value::as_str);
        let required = |r: &mut Self, key: &str| -> Option<Decimal> {
            match object.get(key) {
                Some(value) => r.number(key, value),
                None => {
                    r.error(key, "is required");
                    None
                }
            }
        };
        match kind {
            Some("linear") => {
                self.unknown_keys(object, &["type", "min", "max"]);
                let (min, max) = (required(self, "min"), required(self, "max"));
                let (min, max) = (min?, max?);
                if min == max {
                    self.error("max", "must differ from min");
                    return None;
                }
                Some(Transform::Linear { min, max })
            }
            Some("map") => {
                self.unknown_keys(object, &["type", "values"]);
                let Some(values) = object.get("values") else {
                    self.error("values", "is required");
                    return None;
                };
                let object = self.object("values", values)?;
                let mut map = BTreeMap::new();
                for (text, value) in object {
                    if let Some(v) = self.unit(&format!("values.{text}"), value) {
                        map.insert(text.clone(), v);
                    }
                }
                Some(Transform::Map { values: map })
            }
            Some("recency") => {
                self.unknown_keys(object, &["type", "half_life_days"]);
                let half_life_days = required(self, "half_life_days")?;
                if half_life_days <= Decimal::ZERO {
                    self.error("half_life_days", "must be greater than 0");
                    return None;
                }
                Some(Transform::Recency { half_life_days })
            }
            Some("steps") => {
                self.unknown_keys(object, &["type", "steps", "above"]);
                let above = match object.get("above") {
                    Some(value) => self.unit("above", value),
                    None => {
                        self.error("above", "is required");
                        None
                    }
                };
                let steps = self.steps(object.get("steps"));
                Some(Transform::Steps {
                    steps: steps?,
                    above: above?,
                })
            }
            _ => {
                self.error(
                    "type",
                    "must be \"linear\", \"map\", \"recency\" or \"steps\"",
                );
                None
            }
        }
    }

    fn steps(&mut self, value: Option<&Value>) -> Option<Vec<(Decimal, Decimal)>> {
        let Some(value) = value else {
            self.error("steps", "is required");
            return None;
        };
        let list = match value.as_array() {
            Some(list) if !list.is_empty() => list,
            _ => {
                self.error("steps", "must be a non-empty array of [upper, value] pairs");
                return None;
            }
        };
        let mut steps: Vec<(Decimal, Decimal)> = Vec::new();
        let mut all_read = true;
        for (i, pair) in list.iter().enumerate() {
            let field = format!("steps[{i}]");
            match pair.as_array().map(Vec::as_slice) {
                Some([upper, value]) => {
                    let upper = self.number(&format!("{field}[0]"), upper);
                    let value = self.unit(&format!("{field}[1]"), value);
                    match (upper, value) {
                        (Some(upper), Some(value)) => {
                            if let Some((previous, _)) = steps.last()
                                && upper <= *previous
                            {
                                self.error(
                                    format!("{field}[0]"),
                                    "uppers must be strictly increasing",
                                );
                            }
                            steps.push((upper, value));
                        }
                        _ => all_read = false,
                    }
                }
                _ => {
                    self.error(field, "must be an [upper, value] pair");
                    all_read = false;
                }
            }
        }
        all_read.then_some(steps)
    }
}
