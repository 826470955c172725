//! The CRM-object aggregate: one per contact, company or deal, one stream each.
//!
//! Every fact HubSpot reports is recorded (the log is the history scoring reads as of any
//! time); only a sync's snapshots are diffed so that unchanged data records nothing.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::commands::CrmObjectCommand;
use super::error::CrmObjectError;
use super::events::{CrmObjectEvent, ERASED_VALUE};
use super::observe::{self, Seen};
use super::recorded::Recorded;
use super::state::ObjectState;
use crate::ids::{CRM_OBJECT_STREAM, ObjectRef};

/// A contact, company or deal, rebuilt from its stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrmObject {
    state: ObjectState,
    recorded: Recorded,
}

impl CrmObject {
    /// The resolved state.
    pub fn state(&self) -> &ObjectState {
        &self.state
    }

    /// The events `command` records, without applying them.
    pub fn decide(&self, command: CrmObjectCommand) -> Result<Vec<CrmObjectEvent>, CrmObjectError> {
        let object = command.object();
        if let Some(stream) = self.state.object.filter(|stream| *stream != object) {
            return Err(CrmObjectError::WrongObject {
                stream,
                command: object,
            });
        }
        Ok(match command {
            CrmObjectCommand::RecordCreation { occurred_at, .. } => {
                vec![CrmObjectEvent::ObjectCreated {
                    object,
                    occurred_at,
                }]
            }
            CrmObjectCommand::RecordDeletion { occurred_at, .. } => {
                vec![CrmObjectEvent::ObjectDeleted {
                    object,
                    occurred_at,
                }]
            }
            CrmObjectCommand::RecordRestore { occurred_at, .. } => {
                vec![CrmObjectEvent::ObjectRestored {
                    object,
                    occurred_at,
                }]
            }
            CrmObjectCommand::RecordPropertyChange {
                name,
                value,
                occurred_at,
                ..
            } => {
                // After a privacy deletion, late or retried changes must not bring data back.
                let value = if self.state.erased {
                    ERASED_VALUE.to_string()
                } else {
                    value
                };
                let changes = [(name, value)].into();
                vec![CrmObjectEvent::PropertiesChanged {
                    object,
                    changes,
                    occurred_at,
                }]
            }
            CrmObjectCommand::RecordMergeIn {
                merged_ids,
                new_object_id,
                occurred_at,
                ..
            } => {
                vec![CrmObjectEvent::ObjectsMergedIn {
                    object,
                    merged_ids,
                    new_object_id,
                    occurred_at,
                }]
            }
            CrmObjectCommand::RecordMergedInto {
                primary_id,
                occurred_at,
                ..
            } => {
                vec![CrmObjectEvent::MergedInto {
                    object,
                    primary_id,
                    occurred_at,
                }]
            }
            CrmObjectCommand::RecordAssociation {
                other,
                association_type,
                removed,
                occurred_at,
                ..
            } => vec![CrmObjectEvent::AssociationChanged {
                object,
                other,
                association_type,
                removed,
                occurred_at,
                estimated: false,
            }],
            CrmObjectCommand::ErasePersonalData { occurred_at, .. } => {
                vec![CrmObjectEvent::PersonalDataErased {
                    object,
                    occurred_at,
                }]
            }
            CrmObjectCommand::RecordSentiment {
                value,
                note,
                author,
                recorded_at,
                ..
            } => vec![CrmObjectEvent::SentimentRecorded {
                object,
                value,
                // An erased contact's notes stay blank, like its properties.
                note: if self.state.erased {
                    ERASED_VALUE.to_string()
                } else {
                    note
                },
                author,
                occurred_at: recorded_at,
            }],
            CrmObjectCommand::ClearSentiment {
                author,
                recorded_at,
                ..
            } => vec![CrmObjectEvent::SentimentCleared {
                object,
                author,
                occurred_at: recorded_at,
            }],
            CrmObjectCommand::ObserveSnapshot(snapshot) => {
                observe::snapshot(&self.state, &self.recorded, &snapshot)
            }
            CrmObjectCommand::ObserveAssociation {
                other,
                present,
                observed_at,
                stamping,
                ..
            } => {
                let seen = Seen {
                    present,
                    at: observed_at,
                    updated_at: observed_at,
                    stamping,
                };
                observe::association(&self.state, &self.recorded, object, other, seen)
                    .into_iter()
                    .collect()
            }
        })
    }

    /// The stream id of `object`'s aggregate.
    pub fn stream_id(object: &ObjectRef) -> String {
        object.stream_id()
    }
}

impl Aggregate for CrmObject {
    const TYPE: &'static str = CRM_OBJECT_STREAM;
    type Command = CrmObjectCommand;
    type Event = CrmObjectEvent;
    type Error = CrmObjectError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.recorded.apply(&event);
        self.state.apply(&event);
    }
}
