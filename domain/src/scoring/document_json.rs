//! A configuration document as `GET /scoring/config` answers it: the shape it was written in,
//! every default filled in, numbers as JSON numbers.

use serde_json::{Map, Value, json};

use super::numbers::decimal_to_json;
use super::scorecards::{CustomFactor, Scorecard, ScoringDocument, Shape, Transform};

impl ScoringDocument {
    /// The document as the API writes it.
    pub fn to_json(&self) -> Value {
        if let (Shape::V1, Some(config)) = (self.shape, self.as_v1()) {
            return serde_json::to_value(config).unwrap_or(Value::Null);
        }
        let mut document = Map::new();
        let scorecards: Vec<Value> = self.scorecards.iter().map(scorecard_json).collect();
        document.insert("scorecards".into(), Value::Array(scorecards));
        if !self.population.is_everyone() {
            document.insert(
                "population".into(),
                serde_json::to_value(&self.population).unwrap_or(Value::Null),
            );
        }
        Value::Object(document)
    }
}

fn scorecard_json(scorecard: &Scorecard) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), json!(scorecard.name));
    object.insert("subject".into(), json!(scorecard.subject));
    if !scorecard.filter.is_empty() {
        object.insert("filter".into(), json!(scorecard.filter));
    }
    if !scorecard.custom_factors.is_empty() {
        let factors: Vec<Value> = scorecard
            .custom_factors
            .iter()
            .map(custom_factor_json)
            .collect();
        object.insert("custom_factors".into(), Value::Array(factors));
    }
    if let Ok(Value::Object(mut config)) = serde_json::to_value(&scorecard.config) {
        if let Some(Value::Object(weights)) = config.get_mut("weights") {
            for (key, weight) in &scorecard.config.custom_weights {
                weights.insert(key.clone(), decimal_to_json(*weight));
            }
        }
        object.extend(config);
    }
    object.insert(
        "csm_sentiment".into(),
        serde_json::to_value(scorecard.config.csm_sentiment).unwrap_or(Value::Null),
    );
    Value::Object(object)
}

fn custom_factor_json(factor: &CustomFactor) -> Value {
    let transform = match &factor.transform {
        Transform::Linear { min, max } => {
            json!({"type": "linear", "min": decimal_to_json(*min), "max": decimal_to_json(*max)})
        }
        Transform::Map { values } => {
            let values: Map<String, Value> = values
                .iter()
                .map(|(k, v)| (k.clone(), decimal_to_json(*v)))
                .collect();
            json!({"type": "map", "values": values})
        }
        Transform::Recency { half_life_days } => {
            json!({"type": "recency", "half_life_days": decimal_to_json(*half_life_days)})
        }
        Transform::Steps { steps, above } => {
            let steps: Vec<Value> = steps
                .iter()
                .map(|(upper, value)| json!([decimal_to_json(*upper), decimal_to_json(*value)]))
                .collect();
            json!({"type": "steps", "steps": steps, "above": decimal_to_json(*above)})
        }
    };
    json!({
        "key": factor.key,
        "property": factor.property,
        "of": factor.of.as_str(),
        "aggregate": factor.aggregate.as_str(),
        "transform": transform,
    })
}
