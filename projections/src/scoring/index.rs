//! The in-memory scoring index: every CRM object's events, per portal, kept in step with the
//! log. Scoring needs the state of many objects at arbitrary times (as-of scores, history,
//! momentum's "then", the portal median), which is a filtered fold of each object's events;
//! the current state is kept folded so scoring "now" costs no fold at all.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use healthscore_domain::crm_object::{CrmObjectEvent, ObjectState};
use healthscore_domain::ids::{ObjectRef, ObjectType, PortalId};
use healthscore_domain::scoring::{Properties, SharedProperties};

use super::values::CurrentValues;

/// A state's property values as scoring reads them.
fn properties(state: &ObjectState) -> Properties {
    state
        .properties
        .iter()
        .map(|(name, stamped)| (name.clone(), stamped.value.clone()))
        .collect()
}

/// One object's history.
#[derive(Debug, Default, Clone)]
pub struct ObjectHistory {
    events: Vec<CrmObjectEvent>,
    current: ObjectState,
    latest_occurred_at: i64,
    /// The current properties as scoring reads them, built on first use after each fact and
    /// shared by every customer the object belongs to.
    current_properties: OnceLock<SharedProperties>,
}

impl ObjectHistory {
    /// Folds in the next event of the stream.
    pub fn push(&mut self, event: CrmObjectEvent) {
        if matches!(event, CrmObjectEvent::PersonalDataErased { .. }) {
            // The log was redacted in place; the copies held here go the same way.
            self.events.iter_mut().for_each(CrmObjectEvent::redact);
        }
        self.latest_occurred_at = self.latest_occurred_at.max(event.occurred_at());
        self.current.apply(&event);
        self.events.push(event);
        self.current_properties = OnceLock::new();
    }

    /// The properties as of `t` (epoch ms); at or after the latest fact, the shared current map.
    pub fn properties_at(&self, t: i64) -> SharedProperties {
        self.properties_of(&self.state_at(t))
    }

    /// The properties of a state [`ObjectHistory::state_at`] returned: the shared current map
    /// when it is the current state, a new one for a past state.
    pub fn properties_of(&self, state: &ObjectState) -> SharedProperties {
        if std::ptr::eq(state, &self.current) {
            return Arc::clone(
                self.current_properties
                    .get_or_init(|| Arc::new(properties(&self.current))),
            );
        }
        Arc::new(properties(state))
    }

    /// The state as of `t` (epoch ms): the facts with `occurred_at <= t`, in log order.
    pub fn state_at(&self, t: i64) -> Cow<'_, ObjectState> {
        if t >= self.latest_occurred_at {
            return Cow::Borrowed(&self.current);
        }
        let mut state = ObjectState::default();
        for event in self.events.iter().filter(|e| e.occurred_at() <= t) {
            state.apply(event);
        }
        Cow::Owned(state)
    }

    /// The current state (every fact recorded).
    pub fn current(&self) -> &ObjectState {
        &self.current
    }

    /// The stamps of every recorded fact, in log order.
    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        self.events.iter().map(CrmObjectEvent::occurred_at)
    }

    /// Stamps of the facts that count as activity (creation, property change, association
    /// change, restore; not the engine's own written-back properties).
    pub fn activity(&self) -> impl Iterator<Item = i64> + '_ {
        self.events
            .iter()
            .filter(|event| event.is_activity())
            .map(CrmObjectEvent::occurred_at)
    }
}

/// One portal's objects.
#[derive(Debug, Default)]
pub struct PortalObjects {
    objects: HashMap<(ObjectType, u64), ObjectHistory>,
    /// The latest `occurred_at` of any fact: from there on every state is the current one.
    pub(super) latest_occurred_at: i64,
    /// R(t) for any `t >= latest_occurred_at`, once computed (a portal-wide pass).
    pub(super) current_median: std::sync::OnceLock<Option<rust_decimal::Decimal>>,
    /// R(t) of past times asked for (histories), until the next fact.
    pub(super) past_medians: std::sync::Mutex<HashMap<i64, Option<rust_decimal::Decimal>>>,
    /// V(c) of the current customers, kept up to date for the current median.
    pub(super) current_values: std::sync::Mutex<CurrentValues>,
    /// R(t) of subjects under a population (accounts, narrowed customers) at past times, per
    /// subject type, conditions and time, until the next fact.
    pub(super) subject_medians: std::sync::Mutex<HashMap<MedianKey, Option<rust_decimal::Decimal>>>,
    /// V of the current subjects under a population, per subject type and conditions, kept up
    /// to date for their current medians.
    pub(super) subject_values: std::sync::Mutex<HashMap<ValuesKey, CurrentValues>>,
}

/// Which subjects a [`CurrentValues`] of `subject_values` holds.
pub(super) type ValuesKey = (
    healthscore_domain::scoring::Subject,
    Vec<healthscore_domain::scoring::Condition>,
);

/// What a subject median depends on besides the facts.
pub(super) type MedianKey = (
    healthscore_domain::scoring::Subject,
    Vec<healthscore_domain::scoring::Condition>,
    i64,
);

impl Clone for PortalObjects {
    /// A copy of the facts; the caches start empty.
    fn clone(&self) -> Self {
        Self {
            objects: self.objects.clone(),
            latest_occurred_at: self.latest_occurred_at,
            ..Self::default()
        }
    }
}

impl PortalObjects {
    /// The history of one object, if any fact about it was recorded.
    pub fn get(&self, object_type: ObjectType, id: u64) -> Option<&ObjectHistory> {
        self.objects.get(&(object_type, id))
    }

    /// Every contact id.
    pub fn contact_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.ids_of(ObjectType::Contact)
    }

    /// Every id of one object type.
    pub fn ids_of(&self, object_type: ObjectType) -> impl Iterator<Item = u64> + '_ {
        self.objects
            .keys()
            .filter(move |(t, _)| *t == object_type)
            .map(|(_, id)| *id)
    }

    /// Counts of objects per type (contacts, companies, deals).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |kind| self.objects.keys().filter(|(t, _)| *t == kind).count();
        (
            count(ObjectType::Contact),
            count(ObjectType::Company),
            count(ObjectType::Deal),
        )
    }
}

/// Every portal's objects, up to a log position.
#[derive(Debug, Default, Clone)]
pub struct ScoringIndex {
    portals: HashMap<PortalId, PortalObjects>,
    position: i64,
}

impl ScoringIndex {
    /// Applies CRM-object events (in position order); returns the objects they touched.
    pub fn apply(&mut self, events: Vec<(i64, CrmObjectEvent)>) -> Vec<ObjectRef> {
        let mut touched = Vec::with_capacity(events.len());
        for (position, event) in events {
            self.position = self.position.max(position);
            let object = event.object();
            let portal = self.portals.entry(object.portal).or_default();
            portal.latest_occurred_at = portal.latest_occurred_at.max(event.occurred_at());
            portal.current_median = std::sync::OnceLock::new();
            portal
                .past_medians
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
            portal
                .subject_medians
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
            portal
                .current_values
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .touch((object.object_type, object.id));
            for values in portal
                .subject_values
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values_mut()
            {
                values.touch((object.object_type, object.id));
            }
            portal
                .objects
                .entry((object.object_type, object.id))
                .or_default()
                .push(event);
            touched.push(object);
        }
        touched
    }

    /// The last log position applied.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Marks every position up to `position` as applied (the events between were of other
    /// stream types).
    pub fn advance_to(&mut self, position: i64) {
        self.position = self.position.max(position);
    }

    /// One portal's objects (empty when nothing was recorded for it).
    pub fn portal(&self, portal: PortalId) -> Option<&PortalObjects> {
        self.portals.get(&portal)
    }

    /// Every portal with recorded objects.
    pub fn portals(&self) -> impl Iterator<Item = PortalId> + '_ {
        self.portals.keys().copied()
    }
}
