//! Tests of the scoring math: the worked example, each factor's edges, combining, configuration
//! validation and property tests.

mod combining;
mod config;
mod factors;
mod laws;
mod momentum;
mod properties;
mod scorecards;
mod worked_example;

use super::{CustomerFacts, DealFacts, Factor, FactorReport, ScoreReport, SharedProperties};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Properties from name/value pairs.
fn props(pairs: &[(&str, &str)]) -> SharedProperties {
    SharedProperties::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// An RFC 3339 instant.
fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid RFC 3339")
        .with_timezone(&Utc)
}

/// A decimal from text.
fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("valid decimal")
}

/// The worked example's evaluation time.
fn t0() -> DateTime<Utc> {
    at("2026-11-23T00:00:00Z")
}

/// A deal with properties now and, optionally, at `t - window`.
fn deal(id: &str, now: &[(&str, &str)], then: Option<&[(&str, &str)]>) -> DealFacts {
    DealFacts {
        id: id.to_owned(),
        now: props(now),
        then: then.map(props),
    }
}

/// Facts with only these deals.
fn with_deals(deals: Vec<DealFacts>) -> CustomerFacts {
    CustomerFacts {
        deals,
        ..CustomerFacts::default()
    }
}

/// The report line of `factor`.
fn factor(report: &ScoreReport, factor: Factor) -> &FactorReport {
    report
        .factors
        .iter()
        .find(|f| f.factor == factor)
        .expect("every factor is reported")
}
