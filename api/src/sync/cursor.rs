//! Where paging one object type stands, as the string a sync run records after each page.
//!
//! A full sync lists live records, then archived ones (deletions); an incremental sync searches
//! by modified date, then lists archived records. `None` means the type is done.

use std::fmt;

/// A position in one object type's paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The live listing, after this cursor (from the start when `None`).
    Live(Option<String>),
    /// The archived listing, after this cursor.
    Archived(Option<String>),
    /// The modified-since search window starting at `since` (epoch ms), at offset `after`.
    Search {
        /// Lower bound of the window, inclusive.
        since: i64,
        /// Offset within the window.
        after: u32,
    },
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Live(after) => write!(f, "live:{}", after.as_deref().unwrap_or_default()),
            Self::Archived(after) => {
                write!(f, "archived:{}", after.as_deref().unwrap_or_default())
            }
            Self::Search { since, after } => write!(f, "search:{since}:{after}"),
        }
    }
}

impl Cursor {
    /// Parses what [`Cursor`]'s `Display` wrote.
    pub fn parse(text: &str) -> Option<Self> {
        let optional = |rest: &str| (!rest.is_empty()).then(|| rest.to_string());
        if let Some(rest) = text.strip_prefix("live:") {
            return Some(Self::Live(optional(rest)));
        }
        if let Some(rest) = text.strip_prefix("archived:") {
            return Some(Self::Archived(optional(rest)));
        }
        let (since, after) = text.strip_prefix("search:")?.split_once(':')?;
        Some(Self::Search {
            since: since.parse().ok()?,
            after: after.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cursor_survives_its_text_form() {
        for cursor in [
            Cursor::Live(None),
            Cursor::Live(Some("1234".into())),
            Cursor::Archived(None),
            Cursor::Archived(Some("99".into())),
            Cursor::Search {
                since: 1_700_000_000_000,
                after: 9_800,
            },
        ] {
            assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        }
        assert_eq!(Cursor::parse("bogus"), None);
        assert_eq!(Cursor::parse("search:x:1"), None);
    }
}
