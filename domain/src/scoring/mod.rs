//! The health-score math of SCORING.md: pure functions from a customer's resolved facts at a time
//! `t` and a [`ScoringConfig`] to a [`ScoreReport`].
//!
//! Nothing here reads a clock or does I/O: the data layer resolves the event log into
//! [`CustomerFacts`] at `t` (and deal properties at `t - deal_momentum.window_days`), computes the
//! portal median with [`portal_median`] over every customer's [`deal_value_total`], and calls
//! [`score_customer`]. Factor values are computed to well below 1e-9 (exponentials in `f64`,
//! everything else in [`Decimal`](rust_decimal::Decimal)); weights, contributions and scores are
//! decimals.

mod combine;
mod config;
mod document_json;
mod factors;
mod model;
mod momentum;
mod numbers;
mod parse;
mod parse_v2;
mod properties;
mod report;
mod scorecards;

pub use combine::{Combined, band_for, combine};
pub use config::{
    ActivityFrequencyConfig, BandsConfig, CsmSentimentConfig, DealMomentumConfig,
    EngagementRecencyConfig, LifecycleStageConfig, ScoringConfig, SentimentValues, Weights,
};
pub use factors::{deal_value_total, portal_median};
pub use model::{
    Band, CustomerFacts, DealFacts, Factor, FactorStatus, Link, Properties, ScoreStatus,
    SharedProperties,
};
pub(crate) use numbers::exact_decimal_map;
pub use numbers::{float_json, serialize_float, serialize_opt_float};
pub use parse::{ConfigDocument, FieldError};
pub use properties::{DealStatus, deal_amount, deal_probability, deal_status, parse_hubspot_date};
pub use report::{
    FactorReport, ScoreReport, SubjectFacts, score_customer, score_customer_without_detail,
    score_subject,
};
pub use scorecards::{
    Aggregate, Condition, CustomFactor, DEFAULT_SCORECARD, Of, Op, Operand, Population, Scorecard,
    ScoringDocument, Shape, Subject, Transform, all_hold,
};

#[cfg(test)]
mod tests;
