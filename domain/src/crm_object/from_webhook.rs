//! Turning a verified HubSpot webhook event into the commands of the objects it concerns.

use super::commands::CrmObjectCommand;
use crate::hubspot::{Change, WebhookEvent};
use crate::ids::{ObjectRef, PortalId};

/// The commands one webhook event becomes: usually one, several for merges and associations
/// (every object involved records its side), none for unhandled types.
pub fn commands_for(event: &WebhookEvent) -> Vec<CrmObjectCommand> {
    let portal = PortalId(event.portal_id);
    let occurred_at = event.occurred_at_ms;
    let target = event
        .object
        .map(|t| ObjectRef::new(portal, t.object_type, t.object_id));
    match (&event.change, target) {
        (Change::Created, Some(object)) => vec![CrmObjectCommand::RecordCreation {
            object,
            occurred_at,
        }],
        (Change::Deleted, Some(object)) => vec![CrmObjectCommand::RecordDeletion {
            object,
            occurred_at,
        }],
        (Change::Restored, Some(object)) => vec![CrmObjectCommand::RecordRestore {
            object,
            occurred_at,
        }],
        (Change::PrivacyDeleted, Some(object)) => {
            vec![CrmObjectCommand::ErasePersonalData {
                object,
                occurred_at,
            }]
        }
        (Change::PropertyChanged { name, value }, Some(object)) => {
            vec![CrmObjectCommand::RecordPropertyChange {
                object,
                name: name.clone(),
                value: value.clone(),
                occurred_at,
            }]
        }
        (
            Change::Merged {
                primary_object_id,
                merged_object_ids,
                new_object_id,
            },
            Some(target),
        ) => {
            let primary = ObjectRef::new(portal, target.object_type, *primary_object_id);
            let merged = merged_object_ids.iter().filter(|id| **id != primary.id);
            let mut commands = vec![CrmObjectCommand::RecordMergeIn {
                object: primary,
                merged_ids: merged.clone().copied().collect(),
                new_object_id: *new_object_id,
                occurred_at,
            }];
            commands.extend(merged.map(|id| CrmObjectCommand::RecordMergedInto {
                object: ObjectRef::new(portal, target.object_type, *id),
                primary_id: primary.id,
                occurred_at,
            }));
            commands
        }
        (
            Change::AssociationChanged {
                association_type,
                from_object_id,
                to_object_id,
                removed,
                from_type,
                to_type,
                ..
            },
            target,
        ) => {
            let from_type = from_type.or(target.map(|t| t.object_type));
            let (Some(from_type), Some(to_type)) = (from_type, *to_type) else {
                return Vec::new();
            };
            let from = ObjectRef::new(portal, from_type, *from_object_id);
            let to = ObjectRef::new(portal, to_type, *to_object_id);
            let side = |object: ObjectRef, other: ObjectRef| CrmObjectCommand::RecordAssociation {
                object,
                other,
                association_type: association_type.clone(),
                removed: *removed,
                occurred_at,
            };
            vec![side(from, to), side(to, from)]
        }
        _ => Vec::new(),
    }
}
