//! Beginning, paging and finishing a sync run.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use healthscore_domain::crm_object::Stamping;
use healthscore_domain::hubspot::properties;
use healthscore_domain::ids::ObjectRef;
use healthscore_domain::ids::PortalId;
use healthscore_domain::sync_run::{
    HistoryScope, ResumePoint, SyncMode, SyncRunCommand, SyncStatus,
};
use healthscore_projections::sync_lease;

use super::cursor::Cursor;
use super::runs::new_run_id;
use super::snapshot::{
    Observing, associated, associated_kinds, ended_by_deletion, message, object_ref, other_ends,
    snapshot,
};
use super::{LEASE_TTL, SyncError, Syncer};
use crate::hubspot::{CrmRecord, Listing, SEARCH_PAGE_SIZE};
use healthscore_domain::ids::ObjectType;

/// Object types in the order a run pages them (companies first, so the contacts and deals that
/// follow link to known companies).
const ORDER: [ObjectType; 3] = [ObjectType::Company, ObjectType::Contact, ObjectType::Deal];

/// Marks the syncer busy while any clone of a [`StartedRun`] is alive.
#[derive(Debug)]
struct ActiveRun(Syncer);

impl Drop for ActiveRun {
    fn drop(&mut self) {
        *self
            .0
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// A run that holds its portal's lease and is ready to page.
#[derive(Debug, Clone)]
pub struct StartedRun {
    syncer: Syncer,
    _active: std::sync::Arc<ActiveRun>,
    /// The portal synced.
    pub portal: PortalId,
    /// The run's id.
    pub run_id: String,
    /// Full or incremental.
    pub mode: SyncMode,
    /// True when this continues an interrupted or failed run.
    pub resumed: bool,
    /// The properties it reads per type: the engine's own and those the configuration names.
    fields: std::sync::Arc<Fields>,
    /// `createdAt` of the objects this run recorded or looked up (`None`: not recorded yet),
    /// for stamping associations at the later of their ends' creation.
    created: std::sync::Arc<tokio::sync::Mutex<HashMap<ObjectRef, Option<i64>>>>,
}

/// One fetched page: records, their snapshots' authoritative association kinds, the next cursor.
struct Page {
    records: Vec<CrmRecord>,
    authoritative: Vec<ObjectType>,
    /// Record each association on the other end too (search pages see one side only).
    mirror_associations: bool,
    next: Option<Cursor>,
}

fn ms(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Syncer {
    /// Finds the portal, takes its lease and starts a run of `mode`, or resumes the portal's
    /// newest run when it is unfinished and of the same mode. An incremental sync with no
    /// completed run to start from becomes a full one. With `only` set, refuses a token of
    /// another portal.
    pub async fn begin(
        &self,
        mode: SyncMode,
        only: Option<PortalId>,
    ) -> Result<StartedRun, SyncError> {
        // A start waits for one in progress, so it is refused with that run's id, not
        // before the id exists.
        let _starting = self.starting.lock().await;
        {
            let mut active = self
                .active
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(run_id) = active.as_ref() {
                return Err(SyncError::Busy {
                    run_id: run_id.clone(),
                });
            }
            *active = Some(String::new());
        }
        let guard = std::sync::Arc::new(ActiveRun(self.clone()));
        let portal = PortalId(self.client.account_portal_id().await?);
        if let Some(asked) = only.filter(|asked| *asked != portal) {
            return Err(SyncError::OtherPortal {
                token_portal: portal,
                asked,
            });
        }
        let watermark = self.runs.watermark(portal).await?;
        let mode = match (mode, watermark) {
            (SyncMode::Incremental, None) => {
                tracing::info!(%portal, "no completed sync yet; running a full sync instead");
                SyncMode::Full
            }
            (mode, _) => mode,
        };
        let latest = self.runs.latest(portal).await?;
        let abandoned = latest.clone().filter(|(_, run)| {
            run.view()
                .is_some_and(|v| v.status == SyncStatus::Running && v.mode != mode)
        });
        let unfinished = latest.filter(|(_, run)| {
            run.view()
                .is_some_and(|v| v.status != SyncStatus::Completed && v.mode == mode)
        });
        let run_id = unfinished
            .as_ref()
            .map_or_else(new_run_id, |(id, _)| id.clone());
        if let Err(lease) =
            sync_lease::acquire(&self.db, portal, &self.holder, &run_id, ms(LEASE_TTL)).await?
        {
            return Err(SyncError::Busy {
                run_id: lease.run_id,
            });
        }
        let now = Utc::now();
        if let Some((abandoned_id, _)) = abandoned {
            // We hold the lease: a run of the other mode left running was interrupted.
            let reason = format!("interrupted; superseded by a {mode:?} run");
            let fail = SyncRunCommand::FailSync { reason, at: now };
            self.runs.execute(portal, &abandoned_id, fail).await?;
        }
        let resumed = unfinished.is_some();
        let extra = match &unfinished {
            Some((_, run)) => run
                .view()
                .map(|v| v.extra_properties.clone())
                .unwrap_or_default(),
            None => self.configured_properties(portal).await?,
        };
        if let Some((_, run)) = &unfinished {
            if run.status() == Some(SyncStatus::Running) {
                // We hold the lease, so whoever was running it is gone.
                let reason = "interrupted: its process stopped".to_string();
                let fail = SyncRunCommand::FailSync { reason, at: now };
                self.runs.execute(portal, &run_id, fail).await?;
            }
            let resume = SyncRunCommand::ResumeSync { at: now };
            self.runs.execute(portal, &run_id, resume).await?;
            tracing::info!(%portal, run_id, ?mode, "resuming sync run");
        } else {
            let since_ms = match mode {
                SyncMode::Incremental => watermark.map(|w| w - ms(self.overlap)),
                SyncMode::Full | SyncMode::History => None,
            };
            let history = self.history_scope(mode, watermark);
            let start = SyncRunCommand::StartSync {
                mode,
                started_at: now,
                since_ms,
                history,
            };
            self.runs.execute(portal, &run_id, start).await?;
            tracing::info!(%portal, run_id, ?mode, since_ms, ?history, "sync run started");
            let full_types = match mode {
                SyncMode::Incremental => self.types_with_new_properties(portal, &extra).await?,
                SyncMode::Full | SyncMode::History => Vec::new(),
            };
            if !extra.is_empty() || !full_types.is_empty() {
                if !full_types.is_empty() {
                    tracing::info!(%portal, run_id, ?full_types, "the configuration names properties new to the sync: listing those types whole");
                }
                let plan = SyncRunCommand::PlanProperties {
                    properties: extra.clone(),
                    full_types,
                    at: now,
                };
                self.runs.execute(portal, &run_id, plan).await?;
            }
        }
        self.progress.begin(&run_id);
        *self
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(run_id.clone());
        Ok(StartedRun {
            syncer: self.clone(),
            _active: guard,
            portal,
            run_id,
            mode,
            resumed,
            fields: std::sync::Arc::new(Fields::with(extra)),
            created: std::sync::Arc::default(),
        })
    }

    /// The properties the portal's scoring configuration names beyond the engine's own.
    async fn configured_properties(
        &self,
        portal: PortalId,
    ) -> Result<BTreeMap<ObjectType, Vec<String>>, SyncError> {
        let configs = self.configs.load(portal).await.map_err(|e| {
            SyncError::Stalled(format!("cannot read the scoring configuration: {e}"))
        })?;
        let document = configs.current();
        Ok(ORDER
            .into_iter()
            .filter_map(|kind| {
                let names: Vec<String> = document
                    .properties_named(kind)
                    .into_iter()
                    .filter(|name| !properties::kept(kind).contains(&name.as_str()))
                    .collect();
                (!names.is_empty()).then_some((kind, names))
            })
            .collect())
    }

    /// The types for which `extra` names a property the last completed run did not read.
    async fn types_with_new_properties(
        &self,
        portal: PortalId,
        extra: &BTreeMap<ObjectType, Vec<String>>,
    ) -> Result<Vec<ObjectType>, SyncError> {
        let read_before = self
            .runs
            .last_completed(portal)
            .await?
            .map(|view| view.extra_properties)
            .unwrap_or_default();
        Ok(ORDER
            .into_iter()
            .filter(|kind| {
                let before = read_before.get(kind);
                extra
                    .get(kind)
                    .into_iter()
                    .flatten()
                    .any(|name| !before.is_some_and(|names| names.contains(name)))
            })
            .collect())
    }

    /// Which records a new run of `mode` reads with their history: all of them on a portal's
    /// first sync and in a history run; on later full syncs, those modified since the last
    /// run began (less the overlap); none in incremental runs.
    fn history_scope(&self, mode: SyncMode, watermark: Option<i64>) -> HistoryScope {
        match (mode, watermark) {
            (SyncMode::Incremental, _) => HistoryScope::None,
            (SyncMode::Full, _) if !self.with_history => HistoryScope::None,
            (SyncMode::History, _) | (SyncMode::Full, None) => HistoryScope::All,
            (SyncMode::Full, Some(watermark)) => HistoryScope::ModifiedSince {
                since_ms: watermark - ms(self.overlap),
            },
        }
    }
}

impl StartedRun {
    /// Pages every object type to the end and completes the run; on an error the run is
    /// recorded as failed (resumable) and the lease given up.
    pub async fn run(&self) -> Result<(), SyncError> {
        let outcome = self.page_everything().await;
        let syncer = &self.syncer;
        syncer.progress.end();
        if let Err(error) = &outcome {
            tracing::warn!(portal = %self.portal, run_id = self.run_id, %error, "sync run failed");
            let fail = SyncRunCommand::FailSync {
                reason: error.to_string(),
                at: Utc::now(),
            };
            if let Err(record) = syncer.runs.execute(self.portal, &self.run_id, fail).await {
                tracing::error!(%record, "cannot record the sync failure");
            }
        }
        sync_lease::release(&syncer.db, self.portal, &syncer.holder).await?;
        outcome
    }

    /// Records the portal's owners. A failure (a token without the owners scope, say) is
    /// logged and costs the run nothing: records keep naming their owners by id.
    async fn sync_owners(&self) {
        let owners = match self.syncer.client.owners().await {
            Ok(owners) => owners,
            Err(error) => {
                tracing::warn!(portal = %self.portal, %error, "cannot read owners; records keep owner ids only");
                return;
            }
        };
        if let Err(error) = self.syncer.owners.record(self.portal, owners).await {
            tracing::warn!(portal = %self.portal, error, "cannot record owners");
        }
    }

    /// Records the portal's property definitions (full and history runs). Like owners, a
    /// failure (a token without the schema scopes) is logged and costs the run nothing.
    async fn discover_properties(&self) {
        let syncer = &self.syncer;
        if let Err(error) = syncer
            .properties
            .discover(&syncer.client, self.portal, "sync")
            .await
        {
            tracing::warn!(portal = %self.portal, %error, "cannot discover properties");
        }
    }

    async fn page_everything(&self) -> Result<(), SyncError> {
        self.sync_owners().await;
        if self.mode != SyncMode::Incremental {
            self.discover_properties().await;
        }
        let syncer = &self.syncer;
        let run = syncer.runs.load(self.portal, &self.run_id).await?;
        let view = run
            .view()
            .cloned()
            .ok_or_else(|| SyncError::Stalled("the run was never started".into()))?;
        if self.mode != SyncMode::Incremental {
            self.estimate().await;
        }
        let plan = Plan::of(&view);
        // Every type's live records first, then the archived ones: by then both ends of any
        // association a deleted record had are known, so it can be stamped.
        for archived in [false, true] {
            let run = syncer.runs.load(self.portal, &self.run_id).await?;
            for kind in ORDER {
                let cursor = match run.resume_point(kind) {
                    ResumePoint::Done => continue,
                    ResumePoint::After(text) => Cursor::parse(&text).ok_or_else(|| {
                        SyncError::Stalled(format!(
                            "unreadable cursor {text:?} for {}",
                            kind.plural()
                        ))
                    })?,
                    ResumePoint::Beginning => match view.since_ms {
                        Some(since) if !view.full_types.contains(&kind) => {
                            Cursor::Search { since, after: 0 }
                        }
                        _ => Cursor::Live(None),
                    },
                };
                if matches!(cursor, Cursor::Archived(_)) != archived {
                    continue;
                }
                self.page_from(kind, cursor, plan, archived).await?;
            }
        }
        let complete = SyncRunCommand::CompleteSync {
            at: Utc::now(),
            watermark_ms: view.started_at.timestamp_millis(),
        };
        syncer
            .runs
            .execute(self.portal, &self.run_id, complete)
            .await?;
        tracing::info!(portal = %self.portal, run_id = self.run_id, "sync run completed");
        Ok(())
    }

    /// Pages `kind` from `cursor` until it is done or, for the live phase, until its archived
    /// listing is next. The next page is fetched while this one is recorded: the rate limit,
    /// not the database, sets the pace. A crash loses only the unrecorded prefetch.
    async fn page_from(
        &self,
        kind: ObjectType,
        cursor: Cursor,
        plan: Plan,
        archived: bool,
    ) -> Result<(), SyncError> {
        let mut page = self.fetch_counted(kind, &cursor, plan).await?;
        loop {
            let next = page
                .0
                .next
                .clone()
                .filter(|next| archived || !matches!(next, Cursor::Archived(_)));
            let prefetch = async {
                match &next {
                    Some(cursor) => Some(self.fetch_counted(kind, cursor, plan).await),
                    None => None,
                }
            };
            let (recorded, prefetched) =
                tokio::join!(self.record(kind, &page.0, page.1, plan), prefetch);
            recorded?;
            match prefetched {
                Some(fetched) => page = fetched?,
                None => return Ok(()),
            }
        }
    }

    /// Fetches one page; also returns the HubSpot requests it took (retries included). Only one
    /// fetch is in flight at a time, so the client's counter delta is this fetch's.
    async fn fetch_counted(
        &self,
        kind: ObjectType,
        cursor: &Cursor,
        plan: Plan,
    ) -> Result<(Page, u64), SyncError> {
        let before = self.syncer.client.stats().requests;
        let page = self.fetch(kind, cursor, plan).await?;
        Ok((page, self.syncer.client.stats().requests - before))
    }

    /// Records one fetched page and checkpoints its cursor.
    async fn record(
        &self,
        kind: ObjectType,
        page: &Page,
        requests: u64,
        plan: Plan,
    ) -> Result<(), SyncError> {
        let syncer = &self.syncer;
        let mut created = self.created.lock().await;
        if matches!(plan.stamping, Stamping::FromCreation { .. }) {
            self.look_up_creations(page, &mut created).await?;
        }
        let names = self.fields.names(kind);
        let observing = Observing {
            properties: &names,
            authoritative: &page.authoritative,
            stamping: plan.stamping,
            created: &created,
        };
        let mut messages: Vec<_> = page
            .records
            .iter()
            .filter_map(|record| snapshot(self.portal, kind, record, &observing))
            .map(|s| message(s, &self.run_id))
            .collect();
        let objects = messages.len() as u64;
        if page.mirror_associations {
            // Every start before any end: a deleted record's associations begin, then end.
            let (portal, run_id) = (self.portal, self.run_id.as_str());
            let starts = page
                .records
                .iter()
                .flat_map(|r| other_ends(portal, kind, r, run_id, &observing));
            let ends = page
                .records
                .iter()
                .flat_map(|r| ended_by_deletion(portal, kind, r, run_id, &observing));
            messages.extend(starts.chain(ends).collect::<Vec<_>>());
        }
        for record in &page.records {
            if let Some(object) = object_ref(self.portal, kind, record) {
                created.insert(object, Some(record.created_at.timestamp_millis()));
            }
        }
        drop(created);
        let recorded = syncer.recorder.record(messages).await?;
        let record_page = SyncRunCommand::RecordPage {
            object_type: kind,
            cursor_after: page.next.as_ref().map(Cursor::to_string),
            objects,
            events_recorded: recorded.events as u64,
            requests,
            at: Utc::now(),
        };
        syncer
            .runs
            .execute(self.portal, &self.run_id, record_page)
            .await?;
        syncer.progress.page(objects, recorded.events as u64);
        let renewed = sync_lease::acquire(
            &syncer.db,
            self.portal,
            &syncer.holder,
            &self.run_id,
            ms(LEASE_TTL),
        )
        .await?;
        if let Err(lease) = renewed {
            return Err(SyncError::Busy {
                run_id: lease.run_id,
            });
        }
        Ok(())
    }

    /// `createdAt` of the page's other ends not yet known to this run, from the log.
    async fn look_up_creations(
        &self,
        page: &Page,
        created: &mut HashMap<ObjectRef, Option<i64>>,
    ) -> Result<(), SyncError> {
        let unknown: Vec<ObjectRef> = page
            .records
            .iter()
            .flat_map(|record| associated(self.portal, record))
            .filter(|other| !created.contains_key(other))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in unknown.chunks(500) {
            let streams: Vec<String> = chunk.iter().map(ObjectRef::stream_id).collect();
            let found = self
                .syncer
                .recorder
                .store()
                .creation_times(&streams)
                .await?;
            for (object, stream) in chunk.iter().zip(&streams) {
                created.insert(*object, found.get(stream).copied());
            }
        }
        Ok(())
    }

    async fn fetch(
        &self,
        kind: ObjectType,
        cursor: &Cursor,
        plan: Plan,
    ) -> Result<Page, SyncError> {
        let client = &self.syncer.client;
        let names = self.fields.names(kind);
        let props = names.as_slice();
        let all_history = self.fields.with_history(kind);
        let history: &[&str] = match plan.history {
            HistoryScope::All => &all_history,
            HistoryScope::None | HistoryScope::ModifiedSince { .. } => &[],
        };
        match cursor {
            Cursor::Live(after) => {
                let others = associated_kinds(kind);
                let listing = Listing {
                    after: after.as_deref(),
                    properties: props,
                    history,
                    associations: &others,
                    archived: false,
                };
                let mut page = client.list_objects(kind, &listing).await?;
                if let HistoryScope::ModifiedSince { since_ms } = plan.history {
                    self.read_history_of_modified(kind, &mut page.results, since_ms)
                        .await?;
                }
                Ok(Page {
                    records: page.results,
                    authoritative: others,
                    mirror_associations: plan.mirror_listings(),
                    next: Some(match page.next_after {
                        Some(next) => Cursor::Live(Some(next)),
                        None => Cursor::Archived(None),
                    }),
                })
            }
            Cursor::Archived(after) => {
                // A history import also learns the deleted records' associations, so their
                // past (before the deletion) counts as it did in HubSpot.
                let others = match plan.history {
                    HistoryScope::All => associated_kinds(kind),
                    HistoryScope::None | HistoryScope::ModifiedSince { .. } => Vec::new(),
                };
                let listing = Listing {
                    after: after.as_deref(),
                    properties: props,
                    history,
                    associations: &others,
                    archived: true,
                };
                let page = client.list_objects(kind, &listing).await?;
                // Recorded through `other_ends` (both sides, then their end at the deletion),
                // never as complete sets: a deleted record's associations ended with it.
                Ok(Page {
                    records: page.results,
                    authoritative: Vec::new(),
                    mirror_associations: plan.mirror_listings(),
                    next: page.next_after.map(|next| Cursor::Archived(Some(next))),
                })
            }
            Cursor::Search { since, after } => self.search(kind, *since, *after).await,
        }
    }

    /// Replaces the records modified at or after `since_ms` by reads with their history.
    async fn read_history_of_modified(
        &self,
        kind: ObjectType,
        records: &mut [CrmRecord],
        since_ms: i64,
    ) -> Result<(), SyncError> {
        let modified: Vec<String> = records
            .iter()
            .filter(|r| r.updated_at.timestamp_millis() >= since_ms)
            .map(|r| r.id.clone())
            .collect();
        if modified.is_empty() {
            return Ok(());
        }
        let read = self
            .syncer
            .client
            .read_with_history(
                kind,
                &modified,
                &self.fields.names(kind),
                &self.fields.with_history(kind),
            )
            .await?;
        let mut by_id: HashMap<String, CrmRecord> =
            read.into_iter().map(|r| (r.id.clone(), r)).collect();
        for record in records.iter_mut() {
            if let Some(read) = by_id.remove(&record.id) {
                // The listing's associations stay: the read asked for none.
                record.history = read.history;
            }
        }
        Ok(())
    }

    /// One page of the modified-since search, with the associations search leaves out.
    async fn search(&self, kind: ObjectType, since: i64, after: u32) -> Result<Page, SyncError> {
        let client = &self.syncer.client;
        let page = client
            .search_modified_since(kind, since, after, &self.fields.names(kind))
            .await?;
        let mut records = page.results.clone();
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let others = associated_kinds(kind);
        for other in &others {
            let mut linked = client.associations_of(kind, *other, &ids).await?;
            for record in &mut records {
                let ids = linked.remove(&record.id).unwrap_or_default();
                record.associations.insert(*other, ids);
            }
        }
        let next = if page.next_after.is_none() {
            Cursor::Archived(None)
        } else if page.must_restart() {
            // Past the 10,000-result cap: a new window from the last modified time seen.
            let last = records
                .iter()
                .map(|r| modified_ms(kind, r))
                .max()
                .unwrap_or(since);
            if last <= since {
                return Err(SyncError::Stalled(format!(
                    "more than {} {} share one modified time",
                    crate::hubspot::SEARCH_RESULT_CAP,
                    kind.plural()
                )));
            }
            Cursor::Search {
                since: last,
                after: 0,
            }
        } else {
            Cursor::Search {
                since,
                after: page.next_after.unwrap_or(after + SEARCH_PAGE_SIZE),
            }
        };
        Ok(Page {
            records,
            authoritative: others,
            mirror_associations: true,
            next: Some(next),
        })
    }

    /// Counts the portal's objects (one search request per type) for the ETA; best effort.
    async fn estimate(&self) {
        let client = &self.syncer.client;
        let mut total = 0;
        for kind in ORDER {
            match client.search_modified_since(kind, 0, 0, &[]).await {
                Ok(page) => total += page.total,
                Err(error) => {
                    tracing::debug!(%error, "cannot count objects; no ETA");
                    return;
                }
            }
        }
        self.syncer.progress.expect(total);
    }
}

/// A record's modified time, epoch ms: its modified-date property, else `updatedAt`.
fn modified_ms(kind: ObjectType, record: &CrmRecord) -> i64 {
    record
        .properties
        .get(kind.modified_property())
        .and_then(|text| {
            text.parse::<i64>().ok().or_else(|| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.timestamp_millis())
            })
        })
        .unwrap_or_else(|| record.updated_at.timestamp_millis())
}

/// The properties a run reads per type: the engine's own, then those the configuration names.
#[derive(Debug, Default)]
struct Fields {
    extra: BTreeMap<ObjectType, Vec<String>>,
}

impl Fields {
    fn with(extra: BTreeMap<ObjectType, Vec<String>>) -> Self {
        Self { extra }
    }

    fn names(&self, kind: ObjectType) -> Vec<&str> {
        let own = properties::kept(kind).iter().copied();
        let extra = self.extra.get(&kind).into_iter().flatten();
        own.chain(extra.map(String::as_str)).collect()
    }

    /// Every name but the modified date, whose history is merely every save.
    fn with_history(&self, kind: ObjectType) -> Vec<&str> {
        let mut names = self.names(kind);
        names.retain(|name| *name != kind.modified_property());
        names
    }
}

/// What a run reads and how it stamps, fixed when it starts.
#[derive(Debug, Clone, Copy)]
struct Plan {
    history: HistoryScope,
    stamping: Stamping,
}

impl Plan {
    fn of(view: &healthscore_domain::sync_run::SyncRunView) -> Self {
        let stamping = match view.mode {
            SyncMode::Incremental => Stamping::Observed,
            SyncMode::Full => Stamping::FromCreation { restamp: false },
            SyncMode::History => Stamping::FromCreation { restamp: true },
        };
        Self {
            history: view.history,
            stamping,
        }
    }

    /// A listing records each association on the other end too when it stamps from creation:
    /// the earlier-listed end skipped it while this end was unknown.
    fn mirror_listings(self) -> bool {
        matches!(self.stamping, Stamping::FromCreation { .. })
    }
}
