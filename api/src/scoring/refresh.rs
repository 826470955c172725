//! Keeping `customer_scores` and `company_scores` current: the customers and accounts an event
//! touches (through their companies, contacts and deals too) are rescored as soon as it is in
//! the log; every subject is rescored when a configuration changes and on a timer, because
//! recency decays with time alone.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use healthscore_domain::ids::PortalId;
use healthscore_domain::scoring::{Properties, ScoreReport, ScoreStatus, ScoringDocument, Subject};
use healthscore_projections::read_models::queries::display_name;
use healthscore_projections::scoring::index::ScoringIndex;
use healthscore_projections::scoring::materialized::{self, ScoreRow};
use healthscore_projections::scoring::service::ScoringService;
use healthscore_projections::scoring::subjects::Scorer;
use healthscore_projections::{Db, EventStore};
use rayon::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tokio::sync::{Notify, watch};

use super::bands::BandChanges;
use super::configs::Configs;

/// How often a follower looks at the log when no wake-up arrives (other instances' appends).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest time from one incremental pass's start to the next one's.
const MIN_PASS_INTERVAL: Duration = Duration::from_millis(200);
/// Customers scored, then written, at a time: small enough that writing one chunk overlaps
/// scoring the next, large enough that each write is one efficient transaction.
const RESCORE_CHUNK: usize = 10_000;
/// The first chunk's size: its scoring is the one wait nothing overlaps.
const FIRST_CHUNK: usize = 2_000;
/// Customers scored under one hold of the index's read lock (about a millisecond of work).
const LOCKED_SLICE: usize = 512;

/// The refresh loop's dependencies.
pub struct Refresher {
    /// The database (materialized scores).
    pub db: Db,
    /// The log.
    pub store: EventStore,
    /// The scoring index.
    pub scoring: ScoringService,
    /// Configurations.
    pub configs: Arc<Configs>,
    /// Signalled by `PUT /scoring/config`.
    pub config_changed: Arc<Notify>,
    /// `HEALTHSCORE_RESCORE_INTERVAL`.
    pub interval: Duration,
    /// Told the log position each successful refresh covered.
    pub scored_through: Arc<watch::Sender<i64>>,
    /// Each portal's deal-value median R per subject type when last scored: every subject's
    /// `deal_value` depends on it, so a pass that moves it rescores all of that type.
    pub medians: Arc<std::sync::Mutex<Medians>>,
}

/// R per portal and subject type, as last scored.
pub type Medians = HashMap<(PortalId, Subject), Option<Decimal>>;

/// A materialized row for one report.
fn row_for(
    subject: Subject,
    id: u64,
    properties: &Properties,
    report: &ScoreReport,
    version: u32,
    now: i64,
) -> ScoreRow {
    let handle = match subject {
        Subject::Contact => "email",
        Subject::Company => "domain",
    };
    let email = properties.get(handle).cloned().unwrap_or_default();
    let name = display_name(subject.object_type(), properties).unwrap_or_else(|| email.clone());
    ScoreRow {
        subject_id: id,
        email,
        name,
        status: report.status.as_str().to_string(),
        score_tenths: report
            .score
            .and_then(|s| (s * Decimal::TEN).round().to_i64()),
        band: report.band.map(|band| band.as_str().to_owned()),
        coverage: report.coverage.to_string(),
        config_version: version,
        scored_at: now,
        weakest_factor: weakest_factor(report).map(str::to_owned),
        last_activity: None,
        owner_id: None,
        scorecard: report.scorecard.clone().unwrap_or_default(),
    }
}

/// The applicable factor that costs the most points: weight times what its value lacks of 1.
fn weakest_factor(report: &ScoreReport) -> Option<&str> {
    report
        .factors
        .iter()
        .filter_map(|f| Some((f.key.as_str(), f.weight * (Decimal::ONE - f.value?))))
        .filter(|(_, lost)| *lost > Decimal::ZERO)
        .max_by(|a, b| a.1.cmp(&b.1))
        .map(|(factor, _)| factor)
}

impl Refresher {
    /// Runs until `shutdown` flips.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut appended = self.store.subscribe();
        let mut bands = BandChanges::new(self.store.clone());
        let mut full = true;
        let mut next_full = tokio::time::Instant::now() + self.interval;
        loop {
            let passed = tokio::time::Instant::now();
            match self.refresh(full, &mut bands).await {
                Ok(()) => full = false,
                // The touched set was consumed: rescore everyone next time so nothing is missed.
                Err(error) => {
                    tracing::error!(%error, "score refresh failed; retrying with a full rescore");
                    full = true;
                }
            }
            tokio::select! {
                // Under a steady flow of appends, passes are at least MIN_PASS_INTERVAL apart:
                // each one then rescores more customers in fewer writer transactions, and
                // leaves the writer and the cores to webhooks and reads in between.
                _ = async {
                    let _ = appended.changed().await;
                    tokio::time::sleep_until(passed + MIN_PASS_INTERVAL).await;
                } => {}
                () = self.config_changed.notified() => full = true,
                () = tokio::time::sleep_until(next_full) => {
                    full = true;
                    next_full = tokio::time::Instant::now() + self.interval;
                }
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Rescores the touched customers and accounts (or all) of every affected portal.
    pub async fn refresh(&self, full: bool, bands: &mut BandChanges) -> anyhow::Result<()> {
        self.scoring.catch_up().await?;
        // Read before taking the touched set: whatever was applied up to here is rescored now.
        let through = self.scoring.read(ScoringIndex::position);
        let touched = self.scoring.take_touched();
        let mut per_portal: HashMap<PortalId, [BTreeSet<u64>; 2]> = HashMap::new();
        for object in &touched {
            let affected = per_portal.entry(object.portal).or_default();
            affected[0].extend(self.scoring.affected_customers(*object));
            affected[1].extend(self.scoring.affected_accounts(*object));
        }
        let portals: Vec<PortalId> = if full {
            self.scoring.read(|index| index.portals().collect())
        } else {
            per_portal.keys().copied().collect()
        };
        for portal in portals {
            let configs = self
                .configs
                .load(portal)
                .await
                .map_err(anyhow::Error::msg)?;
            let (version, document) = (
                configs.current_version(),
                Arc::new(configs.current().clone()),
            );
            let affected = per_portal.remove(&portal).unwrap_or_default();
            // The customers' scores this pass computed, which the accounts' customer_health
            // reads instead of scoring them again.
            let mut members = Arc::new(HashMap::new());
            for (subject, touched) in Subject::ALL.into_iter().zip(affected) {
                if !document.scores(subject) {
                    continue;
                }
                let median = self.scoring.with_portal(portal, |objects| {
                    objects.subject_median_at(subject, Utc::now(), &document.population)
                });
                let median_moved = {
                    let mut medians = self
                        .medians
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    medians.insert((portal, subject), median) != Some(median)
                };
                let ids: Vec<u64> = if full || median_moved {
                    self.scoring.with_portal(portal, |objects| {
                        objects.ids_of(subject.object_type()).collect()
                    })
                } else {
                    touched.into_iter().collect()
                };
                if ids.is_empty() {
                    continue;
                }
                let scored = self
                    .rescore_portal(
                        portal,
                        subject,
                        ids,
                        (Arc::clone(&document), version),
                        Arc::clone(&members),
                        bands,
                    )
                    .await?;
                if subject == Subject::Contact {
                    members = Arc::new(scored);
                }
            }
        }
        self.scored_through.send_replace(through);
        Ok(())
    }

    /// Rescores `ids` of `portal` and records the outcome, a chunk at a time: while one
    /// chunk's band changes and rows are written, the next chunk is scored on the other cores.
    /// Returns each rescored customer's score when it is a scored one (None otherwise).
    async fn rescore_portal(
        &self,
        portal: PortalId,
        subject: Subject,
        mut ids: Vec<u64>,
        (document, version): (Arc<ScoringDocument>, u32),
        members: Arc<MemberScores>,
        bands: &mut BandChanges,
    ) -> anyhow::Result<MemberScores> {
        ids.sort_unstable();
        let now = Utc::now();
        let count = ids.len();
        let started = std::time::Instant::now();
        // A small first chunk: nothing overlaps its scoring, so it should not take long.
        let (first, rest) = ids.split_at(FIRST_CHUNK.min(count));
        let mut chunks = std::iter::once(first)
            .chain(rest.chunks(RESCORE_CHUNK))
            .filter(|chunk| !chunk.is_empty())
            .map(<[u64]>::to_vec);
        let score = |chunk: Vec<u64>| {
            let (scoring, document) = (self.scoring.clone(), Arc::clone(&document));
            let members = Arc::clone(&members);
            tokio::task::spawn_blocking(move || {
                let scope = Scope {
                    portal,
                    subject,
                    document: &document,
                    version,
                    now,
                };
                score_chunk(&scoring, &scope, &chunk, &members)
            })
        };
        let mut scored = MemberScores::new();
        let mut next = chunks.next().map(score);
        let (mut scoring_waited, mut band_events, mut stored) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        while let Some(scoring) = next.take() {
            let waited = std::time::Instant::now();
            let (rows, gone, chunk_scores) = scoring.await?;
            scored.extend(chunk_scores);
            scoring_waited += waited.elapsed();
            next = chunks.next().map(score);
            let banding = std::time::Instant::now();
            bands.record(portal, subject, &rows, &gone, version).await?;
            band_events += banding.elapsed();
            let storing = std::time::Instant::now();
            materialized::store(&self.db, portal, subject, &rows, &gone).await?;
            stored += storing.elapsed();
        }
        tracing::debug!(
            %portal, subject = subject.as_str(), count,
            total_ms = started.elapsed().as_millis(),
            waited_for_scoring_ms = scoring_waited.as_millis(),
            band_events_ms = band_events.as_millis(),
            store_ms = stored.as_millis(),
            "scores refreshed"
        );
        Ok(scored)
    }
}

/// Customers' scores by contact id: `Some` for a scored customer, `None` for any other contact.
type MemberScores = HashMap<u64, Option<Decimal>>;

/// [`MemberScores`] as a chunk produces them.
type MemberScoresList = Vec<(u64, Option<Decimal>)>;

/// What one rescoring pass of a portal's subjects shares.
struct Scope<'a> {
    portal: PortalId,
    subject: Subject,
    document: &'a ScoringDocument,
    version: u32,
    now: chrono::DateTime<Utc>,
}

/// New rows for the subjects among `ids` at `now`, the ids that are not subjects, and (for
/// customers) their scores. An account's customers are read from `members` when this pass
/// scored them, else scored here.
fn score_chunk(
    scoring: &ScoringService,
    scope: &Scope<'_>,
    ids: &[u64],
    members: &MemberScores,
) -> (Vec<ScoreRow>, Vec<u64>, MemberScoresList) {
    let (subject, now) = (scope.subject, scope.now);
    let now_ms = now.timestamp_millis();
    let mut rows = Vec::with_capacity(ids.len());
    let mut gone = Vec::new();
    let mut scores = Vec::new();
    // The index's read lock is taken per slice, not for the whole chunk: a catch-up waiting
    // for the write lock (and every request queued behind it) waits one slice at most.
    for slice in ids.chunks(LOCKED_SLICE) {
        let scored: Vec<Result<(ScoreRow, Option<Decimal>), u64>> =
            scoring.with_portal(scope.portal, |objects| {
                // The medians are cached per fact: a scorer per slice costs nothing more.
                let scorer = Scorer::new(objects, scope.document, now);
                scorer.warm(subject);
                let customer_score = |contact: u64| match members.get(&contact) {
                    Some(score) => *score,
                    None => scorer.customer_score(contact),
                };
                // Subjects score independently: spread them over every core.
                slice
                    .par_iter()
                    .map(
                        |&id| match scorer.score(subject, id, false, &customer_score) {
                            Some(report) => {
                                let properties = objects
                                    .get(subject.object_type(), id)
                                    .map(|h| h.properties_at(now_ms))
                                    .unwrap_or_default();
                                // What customer_health reads of it (Scorer::customer_score).
                                let member = (report.status == ScoreStatus::Scored)
                                    .then_some(report.score)
                                    .flatten();
                                let row = row_for(
                                    subject,
                                    id,
                                    &properties,
                                    &report,
                                    scope.version,
                                    now_ms,
                                );
                                Ok((row, member))
                            }
                            None => Err(id),
                        },
                    )
                    .collect()
            });
        for outcome in scored {
            match outcome {
                Ok((row, member)) => {
                    if subject == Subject::Contact {
                        scores.push((row.subject_id, member));
                    }
                    rows.push(row);
                }
                Err(id) => {
                    if subject == Subject::Contact {
                        scores.push((id, None));
                    }
                    gone.push(id);
                }
            }
        }
    }
    (rows, gone, scores)
}
