//! `score_dropped` rules: every `drop_check_interval`, each subject's current score is compared
//! with its score `days` ago (both computed from the log), and a drop of at least `points`
//! decides an alert. Its stream id names the UTC day it was found on
//! (`{portal}/alert/{rule}/{subject}/{id}/d{YYYYMMDD}`), so a rule alerts about a subject at
//! most once a day however many instances look, and its cooldown is read from the log like a
//! band change's.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use healthscore_domain::alerts::{
    ALERT_RULES_STREAM, ALERT_STREAM, AlertRule, AlertRulesEvent, Trigger,
};
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::{Band, Subject};
use healthscore_projections::scoring::materialized;
use rust_decimal::Decimal;

use super::payload::Change;
use super::worker::{Alerter, portal_of};
use super::{AlertsError, alert_id, store_error};

/// Every portal's rules in force now, from the last version of each rules stream.
async fn rules_now(
    alerter: &Alerter,
) -> Result<HashMap<PortalId, Arc<Vec<AlertRule>>>, AlertsError> {
    let mut now = HashMap::new();
    for recorded in alerter
        .state()
        .store
        .read_type(ALERT_RULES_STREAM)
        .await
        .map_err(store_error)?
    {
        let Some(portal) = portal_of(&recorded.event.stream_id) else {
            continue;
        };
        let AlertRulesEvent::AlertRulesReplaced { rules, .. } =
            serde_json::from_str(&recorded.event.payload).map_err(store_error)?;
        now.insert(portal, Arc::new(rules));
    }
    Ok(now)
}

fn band(name: Option<&str>) -> Option<Band> {
    match name? {
        "healthy" => Some(Band::Healthy),
        "at_risk" => Some(Band::AtRisk),
        "critical" => Some(Band::Critical),
        _ => None,
    }
}

/// Looks for score drops under every portal's `score_dropped` rules and decides their alerts.
pub async fn check(alerter: &mut Alerter, now: DateTime<Utc>) -> Result<(), AlertsError> {
    for (portal, rules) in rules_now(alerter).await? {
        let drops: Vec<&AlertRule> = rules
            .iter()
            .filter(|r| r.on == Trigger::ScoreDropped)
            .collect();
        if drops.is_empty() {
            continue;
        }
        let state = alerter.state().clone();
        let configs = state
            .configs
            .load(portal)
            .await
            .map_err(|e| store_error(e.to_string()))?;
        let (version, document) = (configs.current_version(), configs.current().clone());
        state.scoring.catch_up().await.map_err(store_error)?;
        for subject in Subject::ALL {
            let watching: Vec<&AlertRule> = drops
                .iter()
                .copied()
                .filter(|r| r.subject.covers(subject))
                .collect();
            if watching.is_empty() || !document.scores(subject) {
                continue;
            }
            let rows = materialized::all(state.store.db(), portal, subject)
                .await
                .map_err(store_error)?;
            let windows: BTreeSet<u32> = watching.iter().filter_map(|r| r.days).collect();
            for days in windows {
                let then_at = now - chrono::Duration::days(i64::from(days));
                // A portal-wide pass: off the async workers.
                let (scoring, past) = (state.scoring.clone(), document.clone());
                let then: HashMap<u64, (Option<Decimal>, Option<Band>)> =
                    tokio::task::spawn_blocking(move || {
                        scoring
                            .score_all_subjects(portal, subject, then_at, &past)
                            .into_iter()
                            .map(|s| (s.id, (s.report.score, s.report.band)))
                            .collect()
                    })
                    .await
                    .map_err(store_error)?;
                for rule in watching.iter().filter(|r| r.days == Some(days)) {
                    let points =
                        Decimal::try_from(rule.points.unwrap_or(100.0)).unwrap_or(Decimal::MAX);
                    for row in &rows {
                        let Some(score) = row.score_tenths.map(|t| Decimal::new(t, 1)) else {
                            continue;
                        };
                        let Some(&(Some(before), before_band)) = then.get(&row.subject_id) else {
                            continue;
                        };
                        if before - score < points
                            || !rule.watches(subject, Some(&row.scorecard), row.owner_id.as_deref())
                        {
                            continue;
                        }
                        let stream = format!(
                            "{portal}/{ALERT_STREAM}/{}/{}/{}/d{}",
                            rule.id,
                            subject.as_str(),
                            row.subject_id,
                            now.format("%Y%m%d")
                        );
                        let change = Change {
                            alert_id: alert_id(&stream),
                            portal,
                            subject,
                            subject_id: row.subject_id,
                            trigger: Trigger::ScoreDropped,
                            from: (before_band, Some(before)),
                            to: (band(row.band.as_deref()), Some(score)),
                            from_at: Some(then_at),
                            config_version: version,
                            changed_at: now,
                        };
                        alerter.raise(rule, &stream, change).await?;
                    }
                }
            }
        }
    }
    Ok(())
}
