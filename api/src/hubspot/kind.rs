//! The CRM object types the engine reads.

use std::fmt;

/// A HubSpot CRM object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// `contacts` (object type id `0-1`).
    Contacts,
    /// `companies` (object type id `0-2`).
    Companies,
    /// `deals` (object type id `0-3`).
    Deals,
}

impl ObjectKind {
    /// Every kind, in HubSpot's object-type-id order.
    pub const ALL: [ObjectKind; 3] = [Self::Contacts, Self::Companies, Self::Deals];

    /// The plural name used in paths and association keys, e.g. `contacts`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Companies => "companies",
            Self::Deals => "deals",
        }
    }

    /// The property holding the last-modified time: `lastmodifieddate` for contacts,
    /// `hs_lastmodifieddate` for companies and deals.
    pub fn modified_property(self) -> &'static str {
        match self {
            Self::Contacts => "lastmodifieddate",
            Self::Companies | Self::Deals => "hs_lastmodifieddate",
        }
    }

    /// The object type id, e.g. `0-1` for contacts.
    pub fn type_id(self) -> &'static str {
        match self {
            Self::Contacts => "0-1",
            Self::Companies => "0-2",
            Self::Deals => "0-3",
        }
    }

    /// Parses an association key or type name: plural, singular or object type id,
    /// ignoring ASCII case. `None` for other (custom) object types.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| {
            name.eq_ignore_ascii_case(kind.as_str())
                || name.eq_ignore_ascii_case(kind.singular())
                || name == kind.type_id()
        })
    }

    fn singular(self) -> &'static str {
        match self {
            Self::Contacts => "contact",
            Self::Companies => "company",
            Self::Deals => "deal",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plural_singular_and_type_ids() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::parse(kind.as_str()), Some(kind));
            assert_eq!(ObjectKind::parse(kind.type_id()), Some(kind));
        }
        assert_eq!(ObjectKind::parse("Company"), Some(ObjectKind::Companies));
        assert_eq!(ObjectKind::parse("contact"), Some(ObjectKind::Contacts));
        assert_eq!(ObjectKind::parse("deal"), Some(ObjectKind::Deals));
        assert_eq!(ObjectKind::parse("tickets"), None);
    }

    #[test]
    fn names_the_modified_date_property_per_kind() {
        assert_eq!(ObjectKind::Contacts.modified_property(), "lastmodifieddate");
        assert_eq!(ObjectKind::Deals.modified_property(), "hs_lastmodifieddate");
    }
}
