//! The scoring service: an in-memory [`ScoringIndex`] kept in step with the log, and the
//! portal-wide computations built on it (every customer's score, the median, the summary).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use healthscore_domain::ids::{ObjectRef, ObjectType, PortalId};
use healthscore_domain::scoring::{ScoreReport, ScoringConfig, score_customer};
use rust_decimal::Decimal;

use super::index::{PortalObjects, ScoringIndex};
use crate::error::StoreError;
use crate::store::EventStore;

/// Events read per catch-up query.
const CATCH_UP_BATCH: i64 = 20_000;

/// One customer's score at a time.
#[derive(Debug, Clone)]
pub struct CustomerScore {
    /// The contact id.
    pub id: u64,
    /// The report.
    pub report: ScoreReport,
}

/// Scores computed from the log.
#[derive(Debug, Clone)]
pub struct ScoringService {
    store: EventStore,
    index: Arc<RwLock<ScoringIndex>>,
    /// Objects touched since the last [`ScoringService::take_touched`]: whoever catches up
    /// (a request or the refresher), the refresher still learns what changed.
    touched: Arc<Mutex<BTreeSet<ObjectRef>>>,
    /// One catch-up at a time: concurrent callers wait for it instead of reading the same
    /// events again.
    catching_up: Arc<tokio::sync::Mutex<()>>,
}

impl ScoringService {
    /// A service over `store`; call [`ScoringService::catch_up`] before reading.
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            index: Arc::default(),
            touched: Arc::default(),
            catching_up: Arc::default(),
        }
    }

    /// Applies every event appended before the call; the objects they touch are kept for
    /// [`ScoringService::take_touched`].
    ///
    /// Cheap when there is nothing to do: it reads the head and compares. Callers that arrive
    /// while another catch-up runs wait for it and are done if it reached their head; only
    /// one of them reads further (so requests under a webhook flood do not take turns chasing
    /// a head that keeps moving).
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let target = self.store.head().await?;
        if self.read(ScoringIndex::position) >= target {
            return Ok(());
        }
        let _single_flight = self.catching_up.lock().await;
        if self.read(ScoringIndex::position) >= target {
            return Ok(());
        }
        // Every position up to the head is committed (commit order is position order), so the
        // index may skip to it after reading only the CRM-object events below it.
        let head = self.store.head().await?;
        loop {
            let from = self.read(ScoringIndex::position);
            if from >= head {
                return Ok(());
            }
            let events = self
                .store
                .read_crm_between(from, head, CATCH_UP_BATCH)
                .await?;
            let reached = match events.last() {
                Some((last, _)) if events.len() as i64 == CATCH_UP_BATCH => *last,
                _ => head,
            };
            let mut index = self
                .index
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let touched = index.apply(events);
            index.advance_to(reached);
            // Recorded before the new position is visible: a refresher that sees the position
            // (and returns from its own catch-up without waiting) also sees what it touched.
            self.touched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(touched);
            drop(index);
        }
    }

    /// The objects touched by events applied since the previous call.
    pub fn take_touched(&self) -> BTreeSet<ObjectRef> {
        std::mem::take(
            &mut *self
                .touched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Runs `f` on the index under a read lock.
    pub fn read<T>(&self, f: impl FnOnce(&ScoringIndex) -> T) -> T {
        f(&self
            .index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Runs `f` on one portal's objects (an empty portal when none were recorded).
    pub fn with_portal<T>(&self, portal: PortalId, f: impl FnOnce(&PortalObjects) -> T) -> T {
        self.read(|index| match index.portal(portal) {
            Some(objects) => f(objects),
            None => f(&PortalObjects::default()),
        })
    }

    /// Customer `id`'s score at `at`, or None when the contact is not a customer then.
    pub fn score(
        &self,
        portal: PortalId,
        id: u64,
        at: DateTime<Utc>,
        config: &ScoringConfig,
    ) -> Option<ScoreReport> {
        self.with_portal(portal, |objects| {
            let facts = objects.explained_facts_at(id, at, config)?;
            let median = objects.median_at(at);
            Some(score_customer(&facts, config, at, median))
        })
    }

    /// Every customer's score at `at` (the median computed once).
    pub fn score_all(
        &self,
        portal: PortalId,
        at: DateTime<Utc>,
        config: &ScoringConfig,
    ) -> Vec<CustomerScore> {
        self.with_portal(portal, |objects| score_all_in(objects, at, config))
    }

    /// The customers (contact ids) an object's change can affect: the contact itself, a
    /// company's contacts, a deal's contacts and its companies' contacts.
    pub fn affected_customers(&self, object: ObjectRef) -> Vec<u64> {
        self.with_portal(object.portal, |objects| {
            let Some(history) = objects.get(object.object_type, object.id) else {
                return Vec::new();
            };
            let state = history.current();
            match object.object_type {
                ObjectType::Contact => vec![object.id],
                ObjectType::Company => contacts_of(state),
                ObjectType::Deal => {
                    let mut ids = contacts_of(state);
                    for company in state
                        .associated()
                        .filter(|o| o.object_type == ObjectType::Company)
                    {
                        if let Some(company) = objects.get(ObjectType::Company, company.id) {
                            ids.extend(contacts_of(company.current()));
                        }
                    }
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                }
            }
        })
    }
}

impl ScoringService {
    /// Every subject of a type at `at` under `document` (reports without detail).
    pub fn score_all_subjects(
        &self,
        portal: PortalId,
        subject: healthscore_domain::scoring::Subject,
        at: DateTime<Utc>,
        document: &healthscore_domain::scoring::ScoringDocument,
    ) -> Vec<super::subjects::SubjectScore> {
        self.with_portal(portal, |objects| {
            super::subjects::Scorer::new(objects, document, at).score_all(subject, false)
        })
    }

    /// The accounts (company ids) an object's change can affect: the company itself, a
    /// contact's companies (its score is their customer_health), a deal's companies and its
    /// contacts' companies.
    pub fn affected_accounts(&self, object: ObjectRef) -> Vec<u64> {
        self.with_portal(object.portal, |objects| {
            let Some(history) = objects.get(object.object_type, object.id) else {
                return Vec::new();
            };
            let state = history.current();
            let mut ids = companies_of(state);
            match object.object_type {
                ObjectType::Company => ids.push(object.id),
                ObjectType::Contact => {}
                ObjectType::Deal => {
                    for contact in contacts_of(state) {
                        if let Some(contact) = objects.get(ObjectType::Contact, contact) {
                            ids.extend(companies_of(contact.current()));
                        }
                    }
                }
            }
            ids.sort_unstable();
            ids.dedup();
            ids
        })
    }
}

fn companies_of(state: &healthscore_domain::crm_object::ObjectState) -> Vec<u64> {
    state
        .associated()
        .filter(|o| o.object_type == ObjectType::Company)
        .map(|o| o.id)
        .collect()
}

fn contacts_of(state: &healthscore_domain::crm_object::ObjectState) -> Vec<u64> {
    state
        .associated()
        .filter(|o| o.object_type == ObjectType::Contact)
        .map(|o| o.id)
        .collect()
}

/// Every customer's score at `at` in one portal.
pub fn score_all_in(
    objects: &PortalObjects,
    at: DateTime<Utc>,
    config: &ScoringConfig,
) -> Vec<CustomerScore> {
    let median: Option<Decimal> = objects.median_at(at);
    objects
        .customers_at(at.timestamp_millis())
        .into_iter()
        .filter_map(|id| {
            let facts = objects.explained_facts_at(id, at, config)?;
            Some(CustomerScore {
                id,
                report: score_customer(&facts, config, at, median),
            })
        })
        .collect()
}
