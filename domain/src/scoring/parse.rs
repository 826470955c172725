//! `ScoringConfig::from_json`: reads a configuration document and applies every validation rule
//! of the specification, collecting all field errors rather than stopping at the first.

use super::config::{ScoringConfig, Weights};
use super::model::Factor;
use super::numbers::{decimal_from_number, parse_exact_decimal};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub(super) const TOP_KEYS: [&str; 7] = [
    "weights",
    "bands",
    "min_coverage",
    "engagement_recency",
    "deal_momentum",
    "lifecycle_stage",
    "activity_frequency",
];

/// One rejected field: a dotted path (`weights.deal_momentum`, `bands.at_risk_min`,
/// `lifecycle_stage.values.lead`, `weights` for the sum, `$` for the document itself) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the offending field.
    pub field: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A configuration document as sent: its JSON, and the text of each number in it exactly as
/// written. A JSON number in a `Value` is an `f64`, so `100.0000000000000000000000000001` would
/// read as 100 and three 27-decimal weights adding up to exactly 100 as 100.000000000000008;
/// validation reads the written text instead.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigDocument {
    pub(super) value: Value,
    /// Dotted path of each number (`weights.deal_value`, as [`FieldError`]s name fields) to
    /// its text.
    pub(super) numbers: BTreeMap<String, String>,
}

impl ConfigDocument {
    /// Parses a document from its JSON text, keeping every number's text.
    ///
    /// # Errors
    ///
    /// The JSON error when `bytes` is not one JSON value.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let value = serde_json::from_slice(bytes)?;
        let raw: &serde_json::value::RawValue = serde_json::from_slice(bytes)?;
        let mut numbers = BTreeMap::new();
        collect_numbers(raw, "", &mut numbers)?;
        Ok(Self { value, numbers })
    }

    /// A document built in code (its numbers are what the `Value` holds).
    pub fn from_value(value: Value) -> Self {
        Self {
            value,
            numbers: BTreeMap::new(),
        }
    }

    /// The document's JSON.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// Records the text of every number under `raw` by its path: dotted for object members,
/// `[i]` for array elements (`scorecards[0].weights.deal_value`).
fn collect_numbers(
    raw: &serde_json::value::RawValue,
    path: &str,
    numbers: &mut BTreeMap<String, String>,
) -> Result<(), serde_json::Error> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            let members: BTreeMap<String, &serde_json::value::RawValue> =
                serde_json::from_str(text)?;
            for (key, member) in members {
                let path = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                collect_numbers(member, &path, numbers)?;
            }
        }
        Some(b'[') => {
            let elements: Vec<&serde_json::value::RawValue> = serde_json::from_str(text)?;
            for (i, element) in elements.into_iter().enumerate() {
                collect_numbers(element, &format!("{path}[{i}]"), numbers)?;
            }
        }
        Some(b'-' | b'0'..=b'9') => {
            numbers.insert(path.to_owned(), text.to_owned());
        }
        _ => {}
    }
    Ok(())
}

/// The exact sum of `values` as decimal text (`100`, `99.999999999999999999999999999`), or
/// `None` when it is too large to take. Decimal addition would round a sum that needs more
/// digits than a decimal holds, and call three 27-decimal values that add up to just under 100
/// exactly 100: the sum is taken in integers of 10^-28 instead.
pub(super) fn exact_sum(values: impl Iterator<Item = Decimal>) -> Option<String> {
    const SCALE: u32 = 28;
    let mut total: i128 = 0;
    for value in values {
        let units = value
            .mantissa()
            .checked_mul(10_i128.checked_pow(SCALE - value.scale())?)?;
        total = total.checked_add(units)?;
    }
    let unit = 10_i128.pow(SCALE);
    let sign = if total < 0 { "-" } else { "" };
    let (whole, fraction) = ((total / unit).abs(), (total % unit).abs());
    if fraction == 0 {
        return Some(format!("{sign}{whole}"));
    }
    let digits = format!("{fraction:028}");
    Some(format!("{sign}{whole}.{}", digits.trim_end_matches('0')))
}

/// Collects errors while reading one document.
#[derive(Default)]
pub(super) struct Reader<'a> {
    pub(super) errors: Vec<FieldError>,
    /// The written text of the document's numbers, by path (empty: read them from the `Value`).
    pub(super) numbers: Option<&'a BTreeMap<String, String>>,
    /// Prepended to every field path: `scorecards[1].` while reading a scorecard.
    pub(super) prefix: String,
}

impl Reader<'_> {
    pub(super) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        // An empty field names what the prefix names (`scorecards[0]`, not `scorecards[0].`).
        let field = if field.is_empty() {
            self.prefix.trim_end_matches('.').to_owned()
        } else {
            format!("{}{field}", self.prefix)
        };
        self.errors.push(FieldError::new(field, message));
    }

    /// A JSON number as the exact decimal written; `None` (with an error) for anything else.
    pub(super) fn number(&mut self, field: &str, value: &Value) -> Option<Decimal> {
        let Value::Number(number) = value else {
            self.error(field, "must be a number");
            return None;
        };
        let path = format!("{}{field}", self.prefix);
        let written = self.numbers.and_then(|numbers| numbers.get(&path));
        let parsed = match written {
            Some(text) => parse_exact_decimal(text),
            None => decimal_from_number(number),
        };
        if parsed.is_none() {
            self.error(
                field,
                "is out of the supported decimal range or has more than 28 decimal places",
            );
        }
        parsed
    }

    /// An object at `field`; `None` (with an error) for anything else.
    pub(super) fn object<'a>(
        &mut self,
        field: &str,
        value: &'a Value,
    ) -> Option<&'a Map<String, Value>> {
        let object = value.as_object();
        if object.is_none() {
            self.error(field, "must be an object");
        }
        object
    }

    /// An optional section with a fixed set of keys; reports unknown keys.
    pub(super) fn section<'a>(
        &mut self,
        root: &'a Map<String, Value>,
        name: &str,
        keys: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let section = self.object(name, root.get(name)?)?;
        for key in section.keys().filter(|k| !keys.contains(&k.as_str())) {
            self.error(format!("{name}.{key}"), "unknown key");
        }
        Some(section)
    }

    /// Reads `section.key` into `target` when present; returns whether `target` holds a value
    /// that was read or defaulted (false when the field was present but unreadable).
    pub(super) fn field(
        &mut self,
        section: &Map<String, Value>,
        path: &str,
        target: &mut Decimal,
    ) -> bool {
        let key = path.rsplit('.').next().unwrap_or(path);
        match section.get(key) {
            None => true,
            Some(value) => self.number(path, value).map(|v| *target = v).is_some(),
        }
    }

    /// A positive number at `path`, when present.
    pub(super) fn positive(
        &mut self,
        section: Option<&Map<String, Value>>,
        path: &str,
        target: &mut Decimal,
    ) {
        if let Some(section) = section
            && self.field(section, path, target)
            && *target <= Decimal::ZERO
        {
            self.error(path, "must be greater than 0");
        }
    }

    /// The `weights` object. `factor_of` names the factor a key weighs (an error message for
    /// a key it cannot weigh): v1 documents know the five, scorecards more.
    pub(super) fn weights(
        &mut self,
        value: &Value,
        factor_of: &dyn Fn(&str) -> Result<WeightKey, &'static str>,
    ) -> (Weights, BTreeMap<String, Decimal>) {
        let mut weights = Weights::ZERO;
        let mut custom = BTreeMap::new();
        let Some(object) = self.object("weights", value) else {
            return (weights, custom);
        };
        let mut all_read = true;
        for (name, value) in object {
            let field = format!("weights.{name}");
            let key = match factor_of(name) {
                Ok(key) => key,
                Err(message) => {
                    self.error(field, message);
                    continue;
                }
            };
            let slot = match key {
                WeightKey::BuiltIn(factor) => weights.get_mut(factor),
                WeightKey::Custom => custom.entry(name.clone()).or_default(),
            };
            match self.number(&field, value) {
                Some(weight) if weight < Decimal::ZERO => {
                    self.error(field, "must be >= 0");
                    *slot = weight;
                }
                Some(weight) => *slot = weight,
                None => all_read = false,
            }
        }
        // The sum means something only when every weight could be read.
        if all_read {
            let built_in = Factor::BUILT_IN.into_iter().map(|f| weights.get(f));
            let sum = exact_sum(built_in.chain(custom.values().copied()));
            if sum.as_deref() != Some("100") {
                let got = sum.unwrap_or_else(|| "an out-of-range total".to_owned());
                self.error("weights", format!("must add up to exactly 100, got {got}"));
            }
        }
        (weights, custom)
    }

    pub(super) fn lifecycle_values(&mut self, value: &Value) -> Option<BTreeMap<String, Decimal>> {
        let object = self.object("lifecycle_stage.values", value)?;
        let mut values = BTreeMap::new();
        for (stage, value) in object {
            let field = format!("lifecycle_stage.values.{stage}");
            if let Some(v) = self.number(&field, value) {
                if !(Decimal::ZERO..=Decimal::ONE).contains(&v) {
                    self.error(field, "must be between 0 and 1");
                }
                values.insert(stage.clone(), v);
            }
        }
        Some(values)
    }
}

/// What a key of `weights` weighs.
pub(super) enum WeightKey {
    /// A built-in factor.
    BuiltIn(Factor),
    /// A custom factor of the scorecard (the key is its name).
    Custom,
}

/// A v1 document's weight keys: the five factors.
fn v1_factor(name: &str) -> Result<WeightKey, &'static str> {
    Factor::from_name(name)
        .map(WeightKey::BuiltIn)
        .ok_or("unknown factor")
}

impl ScoringConfig {
    /// Reads a configuration document (the JSON shape of `GET /scoring/config`). `weights` is
    /// required; every other section, and every key inside one, is optional and defaults. Returns
    /// every [`FieldError`] found: unknown keys or factors, non-numbers, negative weights, a
    /// weight sum other than exactly 100, bands outside `0 < at_risk_min < healthy_min <= 100`,
    /// `min_coverage` outside (0, 1], non-positive half-life, half-saturation or windows, and
    /// lifecycle values outside [0, 1].
    pub fn from_json(value: &Value) -> Result<ScoringConfig, Vec<FieldError>> {
        Self::read(value, None)
    }

    /// [`ScoringConfig::from_json`] on a document as sent, its numbers read exactly as written.
    pub fn from_document(document: &ConfigDocument) -> Result<ScoringConfig, Vec<FieldError>> {
        Self::read(&document.value, Some(&document.numbers))
    }

    fn read(
        value: &Value,
        numbers: Option<&BTreeMap<String, String>>,
    ) -> Result<ScoringConfig, Vec<FieldError>> {
        let Some(root) = value.as_object() else {
            return Err(vec![FieldError::new("$", "must be a JSON object")]);
        };
        let mut r = Reader {
            errors: Vec::new(),
            numbers,
            prefix: String::new(),
        };
        for key in root.keys().filter(|k| !TOP_KEYS.contains(&k.as_str())) {
            r.error(key.as_str(), "unknown key");
        }
        let config = r.config(root, &v1_factor);
        if r.errors.is_empty() {
            Ok(config)
        } else {
            Err(r.errors)
        }
    }
}

impl Reader<'_> {
    /// Every v1 section of `root` (a v1 document or a scorecard); unknown keys are the
    /// caller's to report.
    pub(super) fn config(
        &mut self,
        root: &Map<String, Value>,
        factor_of: &dyn Fn(&str) -> Result<WeightKey, &'static str>,
    ) -> ScoringConfig {
        let r = self;
        let mut config = ScoringConfig::default();
        match root.get("weights") {
            Some(value) => (config.weights, config.custom_weights) = r.weights(value, factor_of),
            None => r.error("weights", "is required"),
        }

        if let Some(bands) = r.section(root, "bands", &["healthy_min", "at_risk_min"]) {
            let b = &mut config.bands;
            let healthy_read = r.field(bands, "bands.healthy_min", &mut b.healthy_min);
            let at_risk_read = r.field(bands, "bands.at_risk_min", &mut b.at_risk_min);
            if healthy_read && b.healthy_min > Decimal::ONE_HUNDRED {
                r.error("bands.healthy_min", "must be at most 100");
            }
            if at_risk_read && b.at_risk_min <= Decimal::ZERO {
                r.error("bands.at_risk_min", "must be greater than 0");
            }
            if healthy_read && at_risk_read && b.at_risk_min >= b.healthy_min {
                let message = format!("must be less than bands.healthy_min ({})", b.healthy_min);
                r.error("bands.at_risk_min", message);
            }
        }

        if let Some(value) = root.get("min_coverage")
            && let Some(v) = r.number("min_coverage", value)
        {
            if v <= Decimal::ZERO || v > Decimal::ONE {
                r.error("min_coverage", "must be greater than 0 and at most 1");
            }
            config.min_coverage = v;
        }

        let recency = r.section(root, "engagement_recency", &["half_life_days"]);
        let half_life = &mut config.engagement_recency.half_life_days;
        r.positive(recency, "engagement_recency.half_life_days", half_life);

        let momentum = r.section(root, "deal_momentum", &["window_days", "won_lookback_days"]);
        let m = &mut config.deal_momentum;
        r.positive(momentum, "deal_momentum.window_days", &mut m.window_days);
        r.positive(
            momentum,
            "deal_momentum.won_lookback_days",
            &mut m.won_lookback_days,
        );

        let lifecycle = r.section(root, "lifecycle_stage", &["values"]);
        if let Some(values) = lifecycle.and_then(|s| s.get("values"))
            && let Some(values) = r.lifecycle_values(values)
        {
            config.lifecycle_stage.values = values;
        }

        let activity = r.section(
            root,
            "activity_frequency",
            &["window_days", "half_saturation"],
        );
        let a = &mut config.activity_frequency;
        r.positive(
            activity,
            "activity_frequency.window_days",
            &mut a.window_days,
        );
        r.positive(
            activity,
            "activity_frequency.half_saturation",
            &mut a.half_saturation,
        );
        config
    }
}
