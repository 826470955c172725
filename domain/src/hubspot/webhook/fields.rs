//! Typed access to the fields of one event object, with errors that name the field.

use serde_json::{Map, Value};

use super::DeliveryError;

/// Result of reading an optional field: `Ok(None)` when absent or null.
pub(super) type Field<T> = Result<Option<T>, DeliveryError>;

/// The fields of the event at `index` of a delivery.
pub(super) struct Fields<'a> {
    map: &'a Map<String, Value>,
    index: usize,
}

impl<'a> Fields<'a> {
    pub(super) fn new(map: &'a Map<String, Value>, index: usize) -> Self {
        Self { map, index }
    }

    /// Turns an absent field into [`DeliveryError::MissingField`].
    pub(super) fn required<T>(
        &self,
        field: Field<T>,
        name: &'static str,
    ) -> Result<T, DeliveryError> {
        field?.ok_or(DeliveryError::MissingField {
            index: self.index,
            field: name,
        })
    }

    pub(super) fn u64(&self, name: &'static str) -> Field<u64> {
        self.typed(name, Value::as_u64)
    }

    /// A portal id: HubSpot's start at 1.
    pub(super) fn portal(&self, name: &'static str) -> Field<u64> {
        self.typed(name, |v| v.as_u64().filter(|&id| id > 0))
    }

    /// Epoch milliseconds: never before 1970 in what HubSpot sends.
    pub(super) fn epoch_ms(&self, name: &'static str) -> Field<i64> {
        self.typed(name, |v| v.as_i64().filter(|&ms| ms >= 0))
    }

    pub(super) fn u32(&self, name: &'static str) -> Field<u32> {
        self.typed(name, |v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
    }

    pub(super) fn bool(&self, name: &'static str) -> Field<bool> {
        self.typed(name, Value::as_bool)
    }

    pub(super) fn str(&self, name: &'static str) -> Field<&'a str> {
        self.typed(name, Value::as_str)
    }

    /// An array of non-negative integers.
    pub(super) fn u64_list(&self, name: &'static str) -> Field<Vec<u64>> {
        self.typed(name, |v| v.as_array()?.iter().map(Value::as_u64).collect())
    }

    fn typed<T>(
        &self,
        name: &'static str,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Field<T> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => convert(value).map(Some).ok_or(DeliveryError::BadField {
                index: self.index,
                field: name,
            }),
        }
    }
}
