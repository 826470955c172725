//! Deduplication keys for webhook events.
//!
//! HubSpot redelivers events and `eventId` alone is not unique, so the key hashes every
//! identifying field, never `attemptNumber`. Each field is tagged and length-prefixed so no
//! two different field sets encode alike, and only the SHA-256 is kept: property values
//! (emails and the like) are never stored in clear.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::webhook::{Change, WebhookEvent};

/// Versioned domain separator: changing the encoding means changing this.
const DOMAIN: &[u8] = b"healthscore.hubspot.webhook-dedup.v1";

/// The field that differs between redeliveries of the same event.
const ATTEMPT_NUMBER: &str = "attemptNumber";

/// Length of [`WebhookEvent::inbox_key`]: 8 bytes of time and 16 of the identity hash.
pub const INBOX_KEY_LEN: usize = 24;

impl WebhookEvent {
    /// The idempotency key stored in the inbox: `occurredAt` (big-endian) then the first 16
    /// bytes of [`WebhookEvent::dedup_key`]. Leading with the time keeps the inbox index growing
    /// at its right edge (events arrive roughly in time order), so each insert dirties the same
    /// few pages instead of a random one; 128 bits of hash per millisecond cannot collide.
    #[must_use]
    pub fn inbox_key(&self) -> [u8; INBOX_KEY_LEN] {
        let mut key = [0u8; INBOX_KEY_LEN];
        key[..8].copy_from_slice(&self.occurred_at_ms.to_be_bytes());
        key[8..].copy_from_slice(&self.dedup_key()[..16]);
        key
    }

    /// A stable key identifying this event across redeliveries, whatever the attempt.
    #[must_use]
    pub fn dedup_key(&self) -> [u8; 32] {
        let mut key = KeyHasher(Sha256::new_with_prefix(DOMAIN));
        key.u64(b'p', Some(self.portal_id));
        key.u64(b's', self.subscription_id);
        key.u64(b'e', self.event_id);
        key.bytes(b't', self.object.map(|o| o.object_type.as_str().as_bytes()));
        key.u64(b'o', self.object.map(|o| o.object_id));
        key.bytes(b'a', Some(&self.occurred_at_ms.to_be_bytes()));
        key.bytes(b'y', Some(self.subscription_type.as_bytes()));
        match &self.change {
            Change::PropertyChanged { name, value } => {
                key.bytes(b'n', Some(name.as_bytes()));
                key.bytes(b'v', Some(value.as_bytes()));
            }
            Change::Merged {
                primary_object_id,
                merged_object_ids,
                new_object_id,
            } => {
                key.u64(b'P', Some(*primary_object_id));
                key.len(b'M', merged_object_ids.len());
                for id in merged_object_ids {
                    key.u64(b'm', Some(*id));
                }
                key.u64(b'N', *new_object_id);
            }
            Change::AssociationChanged {
                association_type,
                from_object_id,
                to_object_id,
                removed,
                is_primary,
                ..
            } => {
                key.bytes(b'A', Some(association_type.as_bytes()));
                key.u64(b'F', Some(*from_object_id));
                key.u64(b'T', Some(*to_object_id));
                key.bytes(b'R', Some(&[u8::from(*removed), u8::from(*is_primary)]));
            }
            // Unknown shapes: everything received except the attempt number.
            Change::Unhandled => key.value(&self.raw, true),
            Change::Created | Change::Deleted | Change::Restored | Change::PrivacyDeleted => {}
        }
        key.0.finalize().into()
    }
}

/// Feeds tagged, length-prefixed fields into SHA-256.
struct KeyHasher(Sha256);

impl KeyHasher {
    fn len(&mut self, tag: u8, len: usize) {
        self.0.update([tag]);
        self.0
            .update(u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
    }

    fn bytes(&mut self, tag: u8, value: Option<&[u8]>) {
        match value {
            None => self.0.update([tag, 0]),
            Some(bytes) => {
                self.0.update([tag, 1]);
                self.len(b'#', bytes.len());
                self.0.update(bytes);
            }
        }
    }

    fn u64(&mut self, tag: u8, value: Option<u64>) {
        self.bytes(tag, value.map(u64::to_be_bytes).as_ref().map(|b| &b[..]));
    }

    /// Canonical encoding of JSON: object keys sorted, whatever the map's own order.
    fn value(&mut self, value: &Value, top_level: bool) {
        match value {
            Value::Null => self.0.update(b"z"),
            Value::Bool(b) => self.0.update([b'b', u8::from(*b)]),
            Value::Number(n) => self.bytes(b'd', Some(n.to_string().as_bytes())),
            Value::String(s) => self.bytes(b'q', Some(s.as_bytes())),
            Value::Array(items) => {
                self.len(b'[', items.len());
                for item in items {
                    self.value(item, false);
                }
            }
            Value::Object(map) => self.object(map, top_level),
        }
    }

    fn object(&mut self, map: &Map<String, Value>, top_level: bool) {
        let mut entries: Vec<_> = map
            .iter()
            .filter(|(name, _)| !(top_level && name.as_str() == ATTEMPT_NUMBER))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.len(b'{', entries.len());
        for (name, item) in entries {
            self.bytes(b'k', Some(name.as_bytes()));
            self.value(item, false);
        }
    }
}

#[cfg(test)]
mod tests;
