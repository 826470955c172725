//! From a subscription type and its fields to an [`ObjectTarget`] and a [`Change`].

use super::fields::Fields;
use super::{Change, DeliveryError, ObjectTarget, ObjectType};

/// The handled event kinds, by subscription-type suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Creation,
    Deletion,
    PropertyChange,
    Merge,
    Restore,
    AssociationChange,
    PrivacyDeletion,
}

/// The object type and action of a handled subscription type, or `None` for anything else.
///
/// `object.*` events name their type in `objectTypeId`; generic association events may
/// only carry `fromObjectTypeId`, which is used then.
pub(super) fn classify(
    subscription_type: &str,
    fields: &Fields<'_>,
) -> Option<(ObjectType, Action)> {
    let (prefix, suffix) = subscription_type.split_once('.')?;
    let object_type = if prefix == "object" {
        let type_id = fields.str("objectTypeId").ok().flatten();
        let type_id = type_id.or_else(|| fields.str("fromObjectTypeId").ok().flatten())?;
        ObjectType::from_type_id(type_id)?
    } else {
        ObjectType::from_prefix(prefix)?
    };
    let action = match suffix {
        "creation" => Action::Creation,
        "deletion" => Action::Deletion,
        "propertyChange" => Action::PropertyChange,
        "merge" => Action::Merge,
        "restore" => Action::Restore,
        "associationChange" => Action::AssociationChange,
        "privacyDeletion" if object_type == ObjectType::Contact => Action::PrivacyDeletion,
        _ => return None,
    };
    Some((object_type, action))
}

impl Action {
    /// Reads the fields this action needs; absent optional ones take their documented default.
    pub(super) fn parse(
        self,
        object_type: ObjectType,
        fields: &Fields<'_>,
    ) -> Result<(Option<ObjectTarget>, Change), DeliveryError> {
        // Merges and association changes involve several objects and name them in `change`.
        let object_id = if matches!(self, Self::Merge | Self::AssociationChange) {
            fields.u64("objectId")?
        } else {
            Some(fields.required(fields.u64("objectId"), "objectId")?)
        };
        let object = object_id.map(|object_id| ObjectTarget {
            object_type,
            object_id,
        });
        let change = match self {
            Self::Creation => Change::Created,
            Self::Deletion => Change::Deleted,
            Self::Restore => Change::Restored,
            Self::PrivacyDeletion => Change::PrivacyDeleted,
            Self::PropertyChange => Change::PropertyChanged {
                name: fields
                    .required(fields.str("propertyName"), "propertyName")?
                    .to_owned(),
                value: fields.str("propertyValue")?.unwrap_or_default().to_owned(),
            },
            Self::Merge => Change::Merged {
                primary_object_id: fields
                    .required(fields.u64("primaryObjectId"), "primaryObjectId")?,
                merged_object_ids: fields
                    .required(fields.u64_list("mergedObjectIds"), "mergedObjectIds")?,
                new_object_id: fields.u64("newObjectId")?,
            },
            Self::AssociationChange => association(fields)?,
        };
        // A merge without `objectId` is about its primary, whose type the subscription names.
        let object = match (&change, object) {
            (
                Change::Merged {
                    primary_object_id, ..
                },
                None,
            ) => Some(ObjectTarget {
                object_type,
                object_id: *primary_object_id,
            }),
            (_, object) => object,
        };
        Ok((object, change))
    }
}

fn association(fields: &Fields<'_>) -> Result<Change, DeliveryError> {
    let association_type = match fields.str("associationType")? {
        Some(name) => name.to_owned(),
        None => fields
            .required(fields.u64("associationTypeId"), "associationType")?
            .to_string(),
    };
    let (from_name, to_name) = association_type
        .split_once("_TO_")
        .map_or((None, None), |(from, to)| {
            (Some(from), to.split('_').next())
        });
    let side = |type_id: Option<&str>, name: Option<&str>| {
        type_id
            .and_then(ObjectType::from_type_id)
            .or_else(|| name.and_then(type_from_name))
    };
    Ok(Change::AssociationChanged {
        from_type: side(fields.str("fromObjectTypeId")?, from_name),
        to_type: side(fields.str("toObjectTypeId")?, to_name),
        from_object_id: fields.required(fields.u64("fromObjectId"), "fromObjectId")?,
        to_object_id: fields.required(fields.u64("toObjectId"), "toObjectId")?,
        removed: fields.bool("associationRemoved")?.unwrap_or(false),
        is_primary: fields.bool("isPrimaryAssociation")?.unwrap_or(false),
        association_type,
    })
}

/// `CONTACT`, `company`, `0-3` and the like; anything else (e.g. `PARENT`) is unknown.
fn type_from_name(name: &str) -> Option<ObjectType> {
    ObjectType::from_type_id(name).or_else(|| ObjectType::from_prefix(&name.to_ascii_lowercase()))
}
