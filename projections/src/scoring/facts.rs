//! From the index to [`CustomerFacts`]: who is a customer at `t`, which companies and deals
//! are theirs, and the portal median `R(t)` of deal values (SCORING.md, "Entities").

use rayon::prelude::*;
use std::collections::BTreeSet;

/// Past medians kept per portal (a year of daily history points fits).
const MAX_PAST_MEDIANS: usize = 4_096;

use chrono::{DateTime, Utc};
use healthscore_domain::crm_object::{Association, ObjectState};
use healthscore_domain::ids::ObjectType;
use healthscore_domain::scoring::{
    CustomerFacts, DealFacts, Link, Population, ScoringConfig, Subject, SubjectFacts, all_hold,
    deal_value_total, portal_median,
};
use healthscore_domain::sentiment::SentimentValue;
use rust_decimal::Decimal;

use super::index::PortalObjects;
use super::values::CurrentValues;

/// A population with only `subject`'s conditions.
fn only(subject: Subject, conditions: &[healthscore_domain::scoring::Condition]) -> Population {
    let mut population = Population::default();
    match subject {
        Subject::Contact => population.contact = conditions.to_vec(),
        Subject::Company => population.company = conditions.to_vec(),
    }
    population
}

/// True when the object existed and was live at `t`.
fn live(state: &ObjectState) -> bool {
    state.object.is_some() && state.exists() && state.merged_into.is_none()
}

impl PortalObjects {
    /// True when the object is live now (known, not deleted, not merged away).
    pub fn is_live(&self, object_type: ObjectType, id: u64) -> bool {
        self.get(object_type, id)
            .is_some_and(|history| live(history.current()))
    }

    /// True when contact `id` is a customer at `t`: live, with a non-empty email.
    pub fn is_customer_at(&self, id: u64, t: i64) -> bool {
        self.get(ObjectType::Contact, id).is_some_and(|history| {
            let state = history.state_at(t);
            live(&state) && !state.property("email").trim().is_empty()
        })
    }

    /// True when contact `id` was a customer at any time (a state only changes at a fact).
    pub fn was_ever_customer(&self, id: u64) -> bool {
        self.get(ObjectType::Contact, id)
            .is_some_and(|history| history.times().any(|t| self.is_customer_at(id, t)))
    }

    /// The customers at `t`, by id.
    pub fn customers_at(&self, t: i64) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .contact_ids()
            .collect::<Vec<_>>()
            .into_par_iter()
            .filter(|id| self.is_customer_at(*id, t))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// C(c) and D(c) at `t`: live associated companies, and live deals associated directly or
    /// through those companies, without duplicates.
    fn companies_and_deals_at(&self, contact: &ObjectState, t: i64) -> (Vec<u64>, BTreeSet<u64>) {
        let live_at = |kind, id| self.get(kind, id).is_some_and(|h| live(&h.state_at(t)));
        let mut companies = Vec::new();
        let mut deals = BTreeSet::new();
        for other in contact.associated() {
            match other.object_type {
                ObjectType::Company if live_at(ObjectType::Company, other.id) => {
                    companies.push(other.id)
                }
                ObjectType::Deal if live_at(ObjectType::Deal, other.id) => {
                    deals.insert(other.id);
                }
                _ => {}
            }
        }
        for company in &companies {
            if let Some(history) = self.get(ObjectType::Company, *company) {
                let deal_ids = history
                    .state_at(t)
                    .associated()
                    .filter(|o| o.object_type == ObjectType::Deal)
                    .map(|o| o.id)
                    .collect::<Vec<_>>();
                deals.extend(
                    deal_ids
                        .into_iter()
                        .filter(|id| live_at(ObjectType::Deal, *id)),
                );
            }
        }
        (companies, deals)
    }

    /// Everything scoring needs about customer `id` at `at`, or None when not a customer then.
    pub fn facts_at(
        &self,
        id: u64,
        at: DateTime<Utc>,
        config: &ScoringConfig,
    ) -> Option<CustomerFacts> {
        self.gather(id, at, config, false)
    }

    /// [`PortalObjects::facts_at`] with the links a report explains (rescoring, which keeps no
    /// detail, skips them).
    pub fn explained_facts_at(
        &self,
        id: u64,
        at: DateTime<Utc>,
        config: &ScoringConfig,
    ) -> Option<CustomerFacts> {
        self.gather(id, at, config, true)
    }

    fn gather(
        &self,
        id: u64,
        at: DateTime<Utc>,
        config: &ScoringConfig,
        with_links: bool,
    ) -> Option<CustomerFacts> {
        let t = at.timestamp_millis();
        if !self.is_customer_at(id, t) {
            return None;
        }
        let contact_history = self.get(ObjectType::Contact, id)?;
        let contact = contact_history.state_at(t);
        let (company_ids, deal_ids) = self.companies_and_deals_at(&contact, t);
        let companies = company_ids
            .iter()
            .filter_map(|c| self.get(ObjectType::Company, *c))
            .map(|h| h.properties_at(t))
            .collect();
        let then = config.deal_momentum_then(at).timestamp_millis();
        let deals: Vec<DealFacts> = deal_ids
            .iter()
            .filter_map(|d| Some((*d, self.get(ObjectType::Deal, *d)?)))
            .map(|(deal_id, history)| {
                let then_state = history.state_at(then);
                DealFacts {
                    id: deal_id.to_string(),
                    now: history.properties_at(t),
                    then: live(&then_state).then(|| history.properties_of(&then_state)),
                }
            })
            .collect();
        let mut activity: Vec<(String, i64)> = contact_history
            .activity()
            .map(|at| (format!("contact/{id}"), at))
            .collect();
        for deal_id in &deal_ids {
            if let Some(history) = self.get(ObjectType::Deal, *deal_id) {
                activity.extend(history.activity().map(|at| (format!("deal/{deal_id}"), at)));
            }
        }
        let links = if with_links {
            self.links_at(&contact, &company_ids, &deal_ids, t)
        } else {
            Vec::new()
        };
        Some(CustomerFacts {
            contact: contact_history.properties_at(t),
            companies,
            deals,
            activity,
            links,
        })
    }

    /// How the contact reaches each of its companies and deals at `t`: directly, or a deal
    /// through a company (direct links listed first win), with since when and whether that
    /// time is a sync's estimate.
    fn links_at(
        &self,
        contact: &ObjectState,
        companies: &[u64],
        deals: &BTreeSet<u64>,
        t: i64,
    ) -> Vec<Link> {
        let link = |association: &Association, via: Option<u64>| Link {
            object_type: association.other.object_type,
            id: association.other.id.to_string(),
            via_company: via.map(|id| id.to_string()),
            since: DateTime::from_timestamp_millis(association.present.occurred_at)
                .unwrap_or_default(),
            since_estimated: association.estimated,
        };
        let wanted = |association: &Association| {
            association.present.value
                && match association.other.object_type {
                    ObjectType::Company => companies.contains(&association.other.id),
                    ObjectType::Deal => deals.contains(&association.other.id),
                    ObjectType::Contact => false,
                }
        };
        let mut links: Vec<Link> = contact
            .associations
            .values()
            .filter(|a| wanted(a))
            .map(|a| link(a, None))
            .collect();
        for company in companies {
            let Some(history) = self.get(ObjectType::Company, *company) else {
                continue;
            };
            let state = history.state_at(t);
            for association in state.associations.values().filter(|a| wanted(a)) {
                let id = association.other.id.to_string();
                if association.other.object_type == ObjectType::Deal
                    && !links
                        .iter()
                        .any(|l| l.object_type == ObjectType::Deal && l.id == id)
                {
                    links.push(link(association, Some(*company)));
                }
            }
        }
        links
    }

    /// V(c) at `t` for customer `id` (0 when not a customer): only the deals are folded.
    pub fn deal_value_at(&self, id: u64, t: i64) -> Decimal {
        let Some(contact) = self.get(ObjectType::Contact, id) else {
            return Decimal::ZERO;
        };
        let (_, deal_ids) = self.companies_and_deals_at(&contact.state_at(t), t);
        let deals: Vec<DealFacts> = deal_ids
            .iter()
            .filter_map(|d| self.get(ObjectType::Deal, *d))
            .map(|history| DealFacts {
                id: String::new(),
                now: history.properties_at(t),
                then: None,
            })
            .collect();
        deal_value_total(&deals)
    }

    /// R(t): the median of V(x) > 0 over every customer of the portal at `at`. After the latest
    /// fact it comes from the customers' cached current values (see `values`), once per fact;
    /// for a past time it is a portal-wide pass, cached per time until the next fact.
    pub fn median_at(&self, at: DateTime<Utc>) -> Option<Decimal> {
        let t = at.timestamp_millis();
        if t >= self.latest_occurred_at {
            return *self.current_median.get_or_init(|| {
                self.current_values
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .median(self)
            });
        }
        let cached = self
            .past_medians
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&t)
            .copied();
        if let Some(median) = cached {
            return median;
        }
        let median = self.compute_median_at(at);
        let mut past = self
            .past_medians
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if past.len() >= MAX_PAST_MEDIANS {
            past.clear();
        }
        past.insert(t, median);
        median
    }

    /// R(t) by a portal-wide pass (what the cached current median must always equal).
    pub fn compute_median_at(&self, at: DateTime<Utc>) -> Option<Decimal> {
        let t = at.timestamp_millis();
        let values: Vec<Decimal> = self
            .customers_at(t)
            .into_par_iter()
            .map(|id| self.deal_value_at(id, t))
            .collect();
        portal_median(values)
    }
}

/// Accounts and v2 subjects: who is one at `t` under a population, an account's contacts and
/// deals, and the sentiment recorded on a subject's stream.
impl PortalObjects {
    /// True when `id` is a subject of type `subject` at `t` within `population`: a customer
    /// (live contact with an email) or an account (live company) whose properties meet the
    /// population's conditions.
    pub fn is_subject_at(
        &self,
        subject: Subject,
        id: u64,
        t: i64,
        population: &Population,
    ) -> bool {
        let conditions = population.of(subject);
        match subject {
            Subject::Contact if conditions.is_empty() => self.is_customer_at(id, t),
            Subject::Contact => {
                self.is_customer_at(id, t)
                    && self
                        .get(ObjectType::Contact, id)
                        .is_some_and(|h| all_hold(conditions, &h.properties_at(t)))
            }
            Subject::Company => self.get(ObjectType::Company, id).is_some_and(|history| {
                let state = history.state_at(t);
                live(&state) && all_hold(conditions, &history.properties_of(&state))
            }),
        }
    }

    /// True when `id` was a subject at any time (a state only changes at a fact).
    pub fn was_ever_subject(&self, subject: Subject, id: u64, population: &Population) -> bool {
        self.get(subject.object_type(), id).is_some_and(|history| {
            history
                .times()
                .any(|t| self.is_subject_at(subject, id, t, population))
        })
    }

    /// The subjects of a type at `t`, by id.
    pub fn subjects_at(&self, subject: Subject, t: i64, population: &Population) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .ids_of(subject.object_type())
            .collect::<Vec<_>>()
            .into_par_iter()
            .filter(|id| self.is_subject_at(subject, *id, t, population))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// P(s) and D(s) at `t`: the live contacts of account `state`, and the live deals of the
    /// account and of those contacts, without duplicates.
    fn contacts_and_deals_at(&self, state: &ObjectState, t: i64) -> (Vec<u64>, BTreeSet<u64>) {
        let live_at = |kind, id| self.get(kind, id).is_some_and(|h| live(&h.state_at(t)));
        let mut contacts = Vec::new();
        let mut deals = BTreeSet::new();
        for other in state.associated() {
            match other.object_type {
                ObjectType::Contact if live_at(ObjectType::Contact, other.id) => {
                    contacts.push(other.id);
                }
                ObjectType::Deal if live_at(ObjectType::Deal, other.id) => {
                    deals.insert(other.id);
                }
                _ => {}
            }
        }
        for contact in &contacts {
            if let Some(history) = self.get(ObjectType::Contact, *contact) {
                let deal_ids: Vec<u64> = history
                    .state_at(t)
                    .associated()
                    .filter(|o| o.object_type == ObjectType::Deal)
                    .map(|o| o.id)
                    .collect();
                deals.extend(
                    deal_ids
                        .into_iter()
                        .filter(|id| live_at(ObjectType::Deal, *id)),
                );
            }
        }
        (contacts, deals)
    }

    /// The contacts of account `id` at `t` (P(s)).
    pub fn account_contacts_at(&self, id: u64, t: i64) -> Vec<u64> {
        self.get(ObjectType::Company, id)
            .map(|history| self.contacts_and_deals_at(&history.state_at(t), t).0)
            .unwrap_or_default()
    }

    /// The deals of D(s) as scoring reads them.
    fn deal_facts(&self, deal_ids: &BTreeSet<u64>, t: i64, then: i64) -> Vec<DealFacts> {
        deal_ids
            .iter()
            .filter_map(|d| Some((*d, self.get(ObjectType::Deal, *d)?)))
            .map(|(deal_id, history)| {
                let then_state = history.state_at(then);
                DealFacts {
                    id: deal_id.to_string(),
                    now: history.properties_at(t),
                    then: live(&then_state).then(|| history.properties_of(&then_state)),
                }
            })
            .collect()
    }

    /// Everything scoring needs about account `id` at `at` (its own properties as `contact`,
    /// P(s)'s as `companies`: see `SubjectFacts`), or None when it is not a live company then.
    /// Member scores are the caller's: they need the contact scorecards.
    pub fn account_facts_at(
        &self,
        id: u64,
        at: DateTime<Utc>,
        config: &ScoringConfig,
        with_links: bool,
    ) -> Option<SubjectFacts> {
        let t = at.timestamp_millis();
        let history = self.get(ObjectType::Company, id)?;
        let state = history.state_at(t);
        if !live(&state) {
            return None;
        }
        let (contact_ids, deal_ids) = self.contacts_and_deals_at(&state, t);
        let contacts: Vec<_> = contact_ids
            .iter()
            .filter_map(|c| self.get(ObjectType::Contact, *c))
            .map(|h| h.properties_at(t))
            .collect();
        let then = config.deal_momentum_then(at).timestamp_millis();
        let deals = self.deal_facts(&deal_ids, t, then);
        let mut activity: Vec<(String, i64)> = history
            .activity()
            .map(|at| (format!("company/{id}"), at))
            .collect();
        for (kind, ids) in [
            (ObjectType::Contact, contact_ids.to_vec()),
            (ObjectType::Deal, deal_ids.iter().copied().collect()),
        ] {
            for other in ids {
                if let Some(h) = self.get(kind, other) {
                    let key = format!("{}/{other}", kind.as_str());
                    activity.extend(h.activity().map(|at| (key.clone(), at)));
                }
            }
        }
        let links = if with_links {
            self.account_links(&state, &contact_ids, &deal_ids)
        } else {
            Vec::new()
        };
        Some(SubjectFacts {
            facts: CustomerFacts {
                contact: history.properties_of(&state),
                companies: contacts,
                deals,
                activity,
                links,
            },
            sentiment: sentiment_of(&state),
            member_scores: Vec::new(),
        })
    }

    /// How an account reaches its contacts and deals (a deal through a contact names none:
    /// `via_company` is for customers).
    fn account_links(
        &self,
        state: &ObjectState,
        contacts: &[u64],
        deals: &BTreeSet<u64>,
    ) -> Vec<Link> {
        state
            .associations
            .values()
            .filter(|a| a.present.value)
            .filter(|a| match a.other.object_type {
                ObjectType::Contact => contacts.contains(&a.other.id),
                ObjectType::Deal => deals.contains(&a.other.id),
                ObjectType::Company => false,
            })
            .map(|a| Link {
                object_type: a.other.object_type,
                id: a.other.id.to_string(),
                via_company: None,
                since: DateTime::from_timestamp_millis(a.present.occurred_at).unwrap_or_default(),
                since_estimated: a.estimated,
            })
            .collect()
    }

    /// A customer's v2 facts at `at`: its v1 facts and its sentiment.
    pub fn customer_subject_facts_at(
        &self,
        id: u64,
        at: DateTime<Utc>,
        config: &ScoringConfig,
        with_links: bool,
    ) -> Option<SubjectFacts> {
        let facts = self.gather(id, at, config, with_links)?;
        let state = self
            .get(ObjectType::Contact, id)?
            .state_at(at.timestamp_millis());
        Some(SubjectFacts {
            facts,
            sentiment: sentiment_of(&state),
            member_scores: Vec::new(),
        })
    }

    /// V(s) at `t` for account `id` (0 when not a live company).
    pub fn account_deal_value_at(&self, id: u64, t: i64) -> Decimal {
        let Some(history) = self.get(ObjectType::Company, id) else {
            return Decimal::ZERO;
        };
        let (_, deal_ids) = self.contacts_and_deals_at(&history.state_at(t), t);
        deal_value_total(&self.deal_facts(&deal_ids, t, t))
    }

    /// R(t) of a subject type under `population`: the median of V > 0 over its subjects. The
    /// customers' median without a population is the cached v1 one; after the latest fact the
    /// others come from their cached current values too (see `values`).
    pub fn subject_median_at(
        &self,
        subject: Subject,
        at: DateTime<Utc>,
        population: &Population,
    ) -> Option<Decimal> {
        let conditions = population.of(subject);
        if subject == Subject::Contact && conditions.is_empty() {
            return self.median_at(at);
        }
        let t = at.timestamp_millis();
        if t >= self.latest_occurred_at {
            let mut values = self
                .subject_values
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            return values
                .entry((subject, conditions.to_vec()))
                .or_insert_with(|| CurrentValues::of(subject, only(subject, conditions)))
                .median(self);
        }
        let key = (subject, conditions.to_vec(), t);
        let cached = self
            .subject_medians
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .copied();
        if let Some(median) = cached {
            return median;
        }
        let median = self.compute_subject_median_at(subject, t, population);
        let mut medians = self
            .subject_medians
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if medians.len() >= MAX_PAST_MEDIANS {
            medians.clear();
        }
        medians.insert(key, median);
        median
    }

    /// R(t) of a subject type by a pass over every subject of the portal.
    pub(super) fn compute_subject_median_at(
        &self,
        subject: Subject,
        t: i64,
        population: &Population,
    ) -> Option<Decimal> {
        let values: Vec<Decimal> = self
            .subjects_at(subject, t, population)
            .into_par_iter()
            .map(|id| match subject {
                Subject::Contact => self.deal_value_at(id, t),
                Subject::Company => self.account_deal_value_at(id, t),
            })
            .collect();
        portal_median(values)
    }
}

/// The sentiment of a state: the latest recorded, unless cleared since.
fn sentiment_of(state: &ObjectState) -> Option<(SentimentValue, DateTime<Utc>)> {
    let stamped = state.sentiment.as_ref()?;
    let value = stamped.value?;
    Some((value, DateTime::from_timestamp_millis(stamped.occurred_at)?))
}
