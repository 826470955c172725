//! Serde for the optional band and score of events and snapshots: a band by name (`"healthy"`,
//! `"at_risk"`, `"critical"`) and a score as an exact decimal string, each or null.
//! [`Band`] itself is only `Serialize`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::scoring::Band;

#[derive(Serialize, Deserialize)]
#[serde(remote = "Band", rename_all = "snake_case")]
enum BandDef {
    Healthy,
    AtRisk,
    Critical,
}

#[derive(Serialize, Deserialize)]
struct StoredBand(#[serde(with = "BandDef")] Band);

#[derive(Serialize, Deserialize)]
struct StoredScore(#[serde(with = "rust_decimal::serde::str")] Decimal);

/// `#[serde(with = "band")]` for `Option<Band>`.
pub(super) mod band {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::StoredBand;
    use crate::scoring::Band;

    pub(in super::super) fn serialize<S: Serializer>(
        band: &Option<Band>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        band.map(StoredBand).serialize(s)
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Band>, D::Error> {
        Ok(Option::<StoredBand>::deserialize(d)?.map(|StoredBand(band)| band))
    }
}

/// `#[serde(with = "score")]` for `Option<Decimal>`. (`rust_decimal::serde::str_option` cannot
/// read a null back from a `serde_json::Value`, which is how stored events are read.)
pub(super) mod score {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::StoredScore;

    pub(in super::super) fn serialize<S: Serializer>(
        score: &Option<Decimal>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        score.map(StoredScore).serialize(s)
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Decimal>, D::Error> {
        Ok(Option::<StoredScore>::deserialize(d)?.map(|StoredScore(score)| score))
    }
}
