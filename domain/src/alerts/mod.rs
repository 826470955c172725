//! Alerts on health: the rules a portal sets, the destinations alerts go to, and each alert's
//! decision and delivery, all event-sourced so a restart, a replay or a second instance
//! decides every alert once.

mod alert;
mod destination;
mod rule_set;
mod rules;
#[cfg(test)]
mod tests;

pub use alert::{
    ALERT_RAISED, ALERT_STREAM, Alert, AlertCommand, AlertError, AlertEvent, DeliveryState, Raised,
    retry_delay,
};
pub use destination::{
    ALERT_DESTINATION_STREAM, Added, AlertDestination, DestinationCommand, DestinationError,
    DestinationEvent, DestinationKind,
};
pub use rule_set::{
    ALERT_RULES_REPLACED, ALERT_RULES_STREAM, AlertRules, AlertRulesCommand, AlertRulesError,
    AlertRulesEvent,
};
pub use rules::{
    AlertRule, BandMove, DEFAULT_COOLDOWN_HOURS, RuleProblem, SubjectScope, Trigger, parse_rules,
};
