//! Recording `CustomerBandChanged` and `AccountBandChanged`: each subject's band lives in a
//! health aggregate (one `customer_health` stream per customer, one `account_health` stream per
//! account); a refresh records a change only where the aggregate agrees the band moved. The last band seen is kept in memory so unchanged customers cost nothing, and
//! so are the aggregates this process wrote last, so a rescore does not read their streams back;
//! when another instance appended in between, the append conflicts and the streams are reread
//! under the append lock, which no other append can pass until this one commits.

use std::collections::HashMap;

use chrono::Utc;
use cqrs_es::{Aggregate, DomainEvent};
use healthscore_domain::customer_health::{
    ACCOUNT_HEALTH_STREAM, CUSTOMER_HEALTH_STREAM, CustomerHealth, CustomerHealthCommand,
};
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::{Band, Subject};
use healthscore_projections::scoring::materialized::{self, ScoreRow};
use healthscore_projections::{AppendBatch, AppendLock, EventStore, NewEvent, StoreError};
use rust_decimal::Decimal;

/// The last band recorded per subject, and how to record the next.
pub struct BandChanges {
    store: EventStore,
    last: HashMap<(PortalId, Subject), HashMap<u64, Option<String>>>,
    /// Health aggregates (state, last sequence) as this process last wrote them.
    known: HashMap<(PortalId, Subject), Aggregates>,
}

/// Aggregates by customer id: the state and the stream's last sequence.
type Aggregates = HashMap<u64, (CustomerHealth, i64)>;

fn parse_band(name: Option<&str>) -> Option<Band> {
    match name {
        Some("healthy") => Some(Band::Healthy),
        Some("at_risk") => Some(Band::AtRisk),
        Some("critical") => Some(Band::Critical),
        _ => None,
    }
}

fn stream_type(subject: Subject) -> &'static str {
    match subject {
        Subject::Contact => CUSTOMER_HEALTH_STREAM,
        Subject::Company => ACCOUNT_HEALTH_STREAM,
    }
}

fn stream_id(portal: PortalId, subject: Subject, id: u64) -> String {
    format!("{portal}/{}/{id}", stream_type(subject))
}

impl BandChanges {
    /// Starts empty; each portal's last bands are read from the materialized scores on first use.
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            last: HashMap::new(),
            known: HashMap::new(),
        }
    }

    /// Records the band changes among `rows` (new scores of `subject`s) for `portal`.
    pub async fn record(
        &mut self,
        portal: PortalId,
        subject: Subject,
        rows: &[ScoreRow],
        gone: &[u64],
        version: u32,
    ) -> anyhow::Result<()> {
        let key = (portal, subject);
        if !self.last.contains_key(&key) {
            let stored = materialized::all(self.store.db(), portal, subject).await?;
            self.last.insert(
                key,
                stored.into_iter().map(|r| (r.subject_id, r.band)).collect(),
            );
        }
        let last = self.last.entry(key).or_default();
        let moved: Vec<&ScoreRow> = rows
            .iter()
            .filter(|r| last.get(&r.subject_id) != Some(&r.band))
            .collect();
        if !moved.is_empty() {
            let known = self.known.entry(key).or_default();
            let optimistic = append_changes(&self.store, key, &moved, version, known, None).await;
            match optimistic {
                Err(error) if error.is_retryable() => {
                    // Another instance wrote some of these streams: read them all again, under
                    // the append lock so that nothing can be appended before this batch is.
                    tracing::debug!(%error, "band streams changed elsewhere; deciding again under the append lock");
                    for row in &moved {
                        known.remove(&row.subject_id);
                    }
                    let lock = self.store.lock_appends().await?;
                    append_changes(&self.store, key, &moved, version, known, Some(lock)).await?;
                }
                other => other?,
            }
        }
        for row in rows {
            last.insert(row.subject_id, row.band.clone());
        }
        for id in gone {
            last.remove(id);
        }
        Ok(())
    }
}

/// Appends what the moved customers' aggregates decide, in one batch; aggregates not in `known`
/// are read from the log first, and `known` holds every moved one's new state after the append.
async fn append_changes(
    store: &EventStore,
    (portal, subject): (PortalId, Subject),
    moved: &[&ScoreRow],
    version: u32,
    known: &mut Aggregates,
    lock: Option<AppendLock<'_>>,
) -> Result<(), StoreError> {
    let unknown: Vec<String> = moved
        .iter()
        .filter(|r| !known.contains_key(&r.subject_id))
        .map(|r| stream_id(portal, subject, r.subject_id))
        .collect();
    let mut aggregates: HashMap<u64, (CustomerHealth, i64)> = HashMap::new();
    for chunk in unknown.chunks(500) {
        for recorded in store.read_streams(chunk).await? {
            let id = subject_of(&recorded.event.stream_id);
            let entry = aggregates.entry(id).or_default();
            entry
                .0
                .apply(serde_json::from_str(&recorded.event.payload)?);
            entry.1 = recorded.event.sequence;
        }
    }
    let now = Utc::now();
    let mut batch = AppendBatch::default();
    for row in moved {
        let id = row.subject_id;
        let stream = stream_id(portal, subject, id);
        let (aggregate, sequence) = aggregates
            .entry(id)
            .or_insert_with(|| known.get(&id).cloned().unwrap_or_default());
        let (band, score) = (
            parse_band(row.band.as_deref()),
            row.score_tenths.map(|t| Decimal::new(t, 1)),
        );
        let command = match subject {
            Subject::Contact => CustomerHealthCommand::RecordScore {
                band,
                score,
                config_version: version,
                scored_at: now,
            },
            Subject::Company => CustomerHealthCommand::RecordAccountScore {
                band,
                score,
                config_version: version,
                scored_at: now,
            },
        };
        let events = match aggregate.decide(command) {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, subject = row.subject_id, "band change refused");
                continue;
            }
        };
        for event in events {
            aggregate.apply(event.clone());
            *sequence += 1;
            batch.events.push(NewEvent {
                stream_id: stream.clone(),
                stream_type: stream_type(subject).to_string(),
                sequence: *sequence,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload: serde_json::to_string(&event)?,
                metadata: r#"{"source":"scoring"}"#.to_string(),
                occurred_at: now.timestamp_millis(),
            });
        }
    }
    match lock {
        Some(lock) => lock.commit(&batch).await?.durable().await?,
        None => store.append(&batch).await?,
    };
    known.extend(aggregates);
    Ok(())
}

/// The subject id at the end of a health stream id.
fn subject_of(stream_id: &str) -> u64 {
    stream_id
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_default()
}
