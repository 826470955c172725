//! Validated identifiers: portals, CRM objects and the event streams named after them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The CRM object types the engine reads and scores. Its one name for each: singular in
/// stream ids and answers (`contact`), plural in HubSpot's URLs (`contacts`), and HubSpot's
/// object type id (`0-1`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    /// Type id `0-1`.
    Contact,
    /// Type id `0-2`.
    Company,
    /// Type id `0-3`.
    Deal,
}

impl ObjectType {
    /// Every type, in HubSpot's object-type-id order.
    pub const ALL: [ObjectType; 3] = [Self::Contact, Self::Company, Self::Deal];

    /// The lower-case singular name: `contact`, `company` or `deal`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Company => "company",
            Self::Deal => "deal",
        }
    }

    /// The plural name HubSpot's URLs and association keys use: `contacts`, `companies`,
    /// `deals`.
    #[must_use]
    pub fn plural(self) -> &'static str {
        match self {
            Self::Contact => "contacts",
            Self::Company => "companies",
            Self::Deal => "deals",
        }
    }

    /// HubSpot's object type id: `0-1`, `0-2` or `0-3`.
    #[must_use]
    pub fn type_id(self) -> &'static str {
        match self {
            Self::Contact => "0-1",
            Self::Company => "0-2",
            Self::Deal => "0-3",
        }
    }

    /// The property holding the last-modified time: `lastmodifieddate` for contacts,
    /// `hs_lastmodifieddate` for companies and deals.
    #[must_use]
    pub fn modified_property(self) -> &'static str {
        match self {
            Self::Contact => "lastmodifieddate",
            Self::Company | Self::Deal => "hs_lastmodifieddate",
        }
    }

    /// From the exact singular name (a subscription-type prefix, a stream id's middle).
    #[must_use]
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == prefix)
    }

    /// From an `objectTypeId`: `0-1`, `0-2` or `0-3`.
    #[must_use]
    pub fn from_type_id(type_id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.type_id() == type_id)
    }

    /// Any of HubSpot's names for a type: plural, singular (ignoring ASCII case) or type id.
    /// `None` for other (custom) object types.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| {
            name.eq_ignore_ascii_case(t.plural())
                || name.eq_ignore_ascii_case(t.as_str())
                || name == t.type_id()
        })
    }
}

/// A HubSpot account (portal, hub) id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PortalId(pub u64);

impl PortalId {
    /// Parses a decimal portal id.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        text.parse()
            .map(Self)
            .map_err(|_| IdError::Portal(text.to_string()))
    }
}

impl fmt::Display for PortalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One CRM object of one portal: the unit that owns an event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The owning portal.
    pub portal: PortalId,
    /// Contact, company or deal.
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// HubSpot's numeric object id.
    pub id: u64,
}

/// The `stream_type` of CRM-object streams.
pub const CRM_OBJECT_STREAM: &str = "crm_object";

impl ObjectRef {
    /// An object reference.
    pub fn new(portal: PortalId, object_type: ObjectType, id: u64) -> Self {
        Self {
            portal,
            object_type,
            id,
        }
    }

    /// The object's stream id: `{portal}/{type}/{id}`.
    pub fn stream_id(&self) -> String {
        format!("{}/{}/{}", self.portal, self.object_type.as_str(), self.id)
    }

    /// Parses a stream id made by [`ObjectRef::stream_id`].
    pub fn parse_stream_id(stream_id: &str) -> Result<Self, IdError> {
        let bad = || IdError::Stream(stream_id.to_string());
        let mut parts = stream_id.split('/');
        let (Some(portal), Some(kind), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Self {
            portal: PortalId::parse(portal).map_err(|_| bad())?,
            object_type: ObjectType::from_prefix(kind).ok_or_else(bad)?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// An identifier that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a decimal portal id.
    #[error("not a portal id: {0:?}")]
    Portal(String),
    /// Not a `{portal}/{type}/{id}` stream id.
    #[error("not a CRM object stream id: {0:?}")]
    Stream(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_id_round_trips() {
        let object = ObjectRef::new(PortalId(62515), ObjectType::Deal, 42);
        assert_eq!(object.stream_id(), "62515/deal/42");
        assert_eq!(ObjectRef::parse_stream_id("62515/deal/42"), Ok(object));
    }

    #[test]
    fn every_name_of_a_type_parses() {
        for t in ObjectType::ALL {
            assert_eq!(ObjectType::parse(t.plural()), Some(t));
            assert_eq!(ObjectType::parse(t.as_str()), Some(t));
            assert_eq!(ObjectType::parse(t.type_id()), Some(t));
            assert_eq!(ObjectType::from_prefix(t.as_str()), Some(t));
            assert_eq!(ObjectType::from_prefix(t.plural()), None);
        }
        assert_eq!(ObjectType::parse("Company"), Some(ObjectType::Company));
        assert_eq!(ObjectType::parse("tickets"), None);
        assert_eq!(ObjectType::Contact.modified_property(), "lastmodifieddate");
        assert_eq!(ObjectType::Deal.modified_property(), "hs_lastmodifieddate");
    }

    #[test]
    fn malformed_stream_ids_are_rejected() {
        for bad in [
            "",
            "1/deal",
            "1/ticket/2",
            "x/deal/2",
            "1/deal/2/3",
            "1/deal/-2",
        ] {
            assert!(ObjectRef::parse_stream_id(bad).is_err(), "{bad}");
        }
    }
}
