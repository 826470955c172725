//! The one list of HubSpot properties the engine keeps, per object type (HUBSPOT.md): what a
//! sync asks for, what the fake HubSpot knows, and what the read models keep every change of.

use crate::ids::ObjectType;

/// The property naming a record's owner (an owner id from `/crm/v3/owners`).
pub const OWNER: &str = "hubspot_owner_id";

/// The properties scoring and the read models need (and the record's owner): what a sync reads.
#[must_use]
pub fn kept(object_type: ObjectType) -> &'static [&'static str] {
    match object_type {
        ObjectType::Contact => &[
            "email",
            "firstname",
            "lastname",
            "company",
            "lifecyclestage",
            "hs_lead_status",
            "hs_last_sales_activity_date",
            "createdate",
            "lastmodifieddate",
            OWNER,
        ],
        ObjectType::Company => &[
            "name",
            "domain",
            "industry",
            "numberofemployees",
            "annualrevenue",
            "hs_last_sales_activity_date",
            "createdate",
            "hs_lastmodifieddate",
            OWNER,
        ],
        ObjectType::Deal => &[
            "dealname",
            "dealstage",
            "pipeline",
            "amount",
            "closedate",
            "hs_deal_stage_probability",
            "hs_is_closed",
            "hs_is_closed_won",
            "createdate",
            "hs_lastmodifieddate",
            OWNER,
        ],
    }
}

/// The properties read with their past values when a sync imports history: every kept one
/// except the modified date, whose history is merely every save.
pub fn with_history(object_type: ObjectType) -> Vec<&'static str> {
    kept(object_type)
        .iter()
        .copied()
        .filter(|name| *name != object_type.modified_property())
        .collect()
}

/// The properties whose every change the read models keep: what scoring reads over time
/// (deal momentum, deal value, lifecycle). Others keep their latest value only; the log has
/// every change of every property.
pub const SCORED_OVER_TIME: [&str; 5] = [
    "hs_deal_stage_probability",
    "dealstage",
    "amount",
    "lifecyclestage",
    "hs_last_sales_activity_date",
];

/// The properties HubSpot returns when a request names none.
#[must_use]
pub fn hubspot_defaults(object_type: ObjectType) -> &'static [&'static str] {
    match object_type {
        ObjectType::Contact => &[
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname",
        ],
        ObjectType::Company => &[
            "createdate",
            "domain",
            "hs_lastmodifieddate",
            "hs_object_id",
            "name",
        ],
        ObjectType::Deal => &[
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ],
    }
}

/// Properties whose values are times. Webhooks deliver them as epoch milliseconds and syncs
/// as ISO 8601; answers show them in one form (see [`crate::time::normalize_property_time`]).
#[must_use]
pub fn is_time(name: &str) -> bool {
    matches!(
        name,
        "createdate"
            | "lastmodifieddate"
            | "hs_lastmodifieddate"
            | "hs_last_sales_activity_date"
            | "closedate"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_keeps_its_modified_date_and_creation_but_reads_no_history_of_saves() {
        for t in ObjectType::ALL {
            assert!(kept(t).contains(&t.modified_property()));
            assert!(kept(t).contains(&"createdate"));
            assert!(!with_history(t).contains(&t.modified_property()));
            assert_eq!(with_history(t).len(), kept(t).len() - 1);
        }
        for name in SCORED_OVER_TIME {
            assert!(ObjectType::ALL.iter().any(|t| kept(*t).contains(&name)));
        }
    }
}
