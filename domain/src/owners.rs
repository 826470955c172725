//! A portal's owners (the HubSpot users records name in `hubspot_owner_id`), as an aggregate
//! with one stream per portal. Each sync hands it the whole list HubSpot answered; only what
//! differs becomes an event, so the log tells when an owner joined, was renamed or left.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// The `stream_type` of owner-directory streams (`{portal}/owners`).
pub const OWNERS_STREAM: &str = "owners";

/// A HubSpot owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The id records carry in `hubspot_owner_id`.
    pub id: u64,
    /// The user's email, when HubSpot gives one.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// True for a user who left the portal (their records still name them).
    pub archived: bool,
}

impl Owner {
    /// "First Last", or the email, or the id: what a list shows.
    #[must_use]
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|part| !part.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            name
        } else if let Some(email) = &self.email {
            email.clone()
        } else {
            format!("owner {}", self.id)
        }
    }
}

/// What a sync tells the directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum OwnersCommand {
    /// Every owner HubSpot lists now, active and archived.
    SyncOwners {
        /// The owners.
        owners: Vec<Owner>,
        /// When they were read.
        at: DateTime<Utc>,
    },
}

/// What changed in a portal's owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OwnersEvent {
    /// An owner appeared or one of their fields changed (archiving included).
    OwnerChanged {
        /// The owner as HubSpot now lists them.
        owner: Owner,
        /// When the sync saw it.
        at: DateTime<Utc>,
    },
    /// An owner HubSpot no longer lists at all.
    OwnerRemoved {
        /// The owner's id.
        id: u64,
        /// When the sync noticed.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for OwnersEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OwnerChanged { .. } => "OwnerChanged",
            Self::OwnerRemoved { .. } => "OwnerRemoved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// The directory never refuses a sync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the owner directory refused the command")]
pub struct OwnersError;

/// A portal's owners, rebuilt from its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerDirectory {
    owners: BTreeMap<u64, Owner>,
}

impl OwnerDirectory {
    /// An owner by id.
    #[must_use]
    pub fn get(&self, id: u64) -> Option<&Owner> {
        self.owners.get(&id)
    }

    /// Every owner, by id.
    pub fn all(&self) -> impl Iterator<Item = &Owner> {
        self.owners.values()
    }

    /// The events a command records.
    #[must_use]
    pub fn decide(&self, command: OwnersCommand) -> Vec<OwnersEvent> {
        let OwnersCommand::SyncOwners { owners, at } = command;
        let listed: BTreeMap<u64, Owner> = owners.into_iter().map(|o| (o.id, o)).collect();
        let changed = listed
            .values()
            .filter(|owner| self.owners.get(&owner.id) != Some(*owner))
            .map(|owner| OwnersEvent::OwnerChanged {
                owner: owner.clone(),
                at,
            });
        let removed = self
            .owners
            .keys()
            .filter(|id| !listed.contains_key(id))
            .map(|id| OwnersEvent::OwnerRemoved { id: *id, at });
        changed.chain(removed).collect()
    }

    /// Applies one recorded event.
    pub fn apply_event(&mut self, event: OwnersEvent) {
        match event {
            OwnersEvent::OwnerChanged { owner, .. } => {
                self.owners.insert(owner.id, owner);
            }
            OwnersEvent::OwnerRemoved { id, .. } => {
                self.owners.remove(&id);
            }
        }
    }
}

impl Aggregate for OwnerDirectory {
    const TYPE: &'static str = OWNERS_STREAM;
    type Command = OwnersCommand;
    type Event = OwnersEvent;
    type Error = OwnersError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command) {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.apply_event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(id: u64, first: &str, archived: bool) -> Owner {
        Owner {
            id,
            email: Some(format!("{first}@example.test")),
            first_name: Some(first.to_owned()),
            last_name: Some("Doe".to_owned()),
            archived,
        }
    }

    fn sync(directory: &mut OwnerDirectory, owners: Vec<Owner>) -> Vec<OwnersEvent> {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let events = directory.decide(OwnersCommand::SyncOwners { owners, at });
        for event in events.clone() {
            directory.apply_event(event);
        }
        events
    }

    #[test]
    fn only_differences_become_events() {
        let mut directory = OwnerDirectory::default();
        assert_eq!(
            sync(
                &mut directory,
                vec![owner(1, "ana", false), owner(2, "bo", false)]
            )
            .len(),
            2
        );
        assert!(
            sync(
                &mut directory,
                vec![owner(2, "bo", false), owner(1, "ana", false)]
            )
            .is_empty()
        );
        let events = sync(&mut directory, vec![owner(1, "ana", true)]);
        assert_eq!(events.len(), 2, "ana archived, bo removed: {events:?}");
        assert!(directory.get(1).is_some_and(|o| o.archived));
        assert_eq!(directory.get(2), None);
    }

    #[test]
    fn a_display_name_falls_back_to_the_email_then_the_id() {
        let mut o = owner(7, "ana", false);
        assert_eq!(o.display_name(), "ana Doe");
        (o.first_name, o.last_name) = (None, Some(" ".to_owned()));
        assert_eq!(o.display_name(), "ana@example.test");
        o.email = None;
        assert_eq!(o.display_name(), "owner 7");
    }
}
