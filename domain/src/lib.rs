//! healthscore's domain: CRM-object, scoring-configuration and sync-run aggregates, HubSpot
//! payloads and the scoring math. No I/O and no clock reads: time is always passed in.

pub mod alerts;
pub mod connection;
pub mod crm_object;
pub mod customer_health;
pub mod hubspot;
pub mod ids;
pub mod owners;
pub mod property_catalog;
pub mod scoring;
pub mod scoring_config;
pub mod sentiment;
pub mod sync_run;
pub mod time;
pub mod writeback;
