//! The scoring-configuration aggregate: every accepted version of one portal's configuration.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::commands::ScoringConfigCommand;
use super::error::ScoringConfigError;
use super::events::ScoringConfigEvent;
use super::stored::{ScoringDocumentDef, StoredScorecard};
use crate::scoring::{ScoringDocument, Shape};

/// The `stream_type` of scoring-configuration streams (one stream per portal).
pub const SCORING_CONFIG_STREAM: &str = "scoring_config";

/// Version 1, the defaults every portal starts with.
static DEFAULTS: LazyLock<ScoringDocument> = LazyLock::new(ScoringDocument::default);

/// A portal's scoring configuration, rebuilt from its stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortalScoringConfig {
    /// Versions 2, 3, ... in order.
    updates: Vec<Update>,
}

/// One accepted update, as the aggregate keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Update {
    version: u32,
    updated_at: DateTime<Utc>,
    #[serde(with = "ScoringDocumentDef")]
    document: ScoringDocument,
}

/// One version of a portal's configuration, as the API lists it.
#[derive(Debug, Clone, Copy, PartialEq, utoipa::ToSchema)]
pub struct ConfigVersion<'a> {
    /// The version number (1 is the defaults).
    pub version: u32,
    /// When it was accepted; `None` for version 1, which needs no update.
    #[serde(serialize_with = "crate::time::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The configuration of this version.
    #[schema(value_type = Object)]
    pub document: &'a ScoringDocument,
}

impl PortalScoringConfig {
    /// The current version number (the `ETag`); 1 until the first update.
    pub fn current_version(&self) -> u32 {
        self.updates.last().map_or(1, |u| u.version)
    }

    /// The configuration scores use unless a request names a version.
    pub fn current(&self) -> &ScoringDocument {
        self.updates.last().map_or(&DEFAULTS, |u| &u.document)
    }

    /// The configuration of version `n`, if that version exists.
    pub fn version(&self, n: u32) -> Option<&ScoringDocument> {
        if n == 1 {
            return Some(&DEFAULTS);
        }
        self.updates
            .iter()
            .find(|u| u.version == n)
            .map(|u| &u.document)
    }

    /// Every version, oldest (version 1) first.
    pub fn versions(&self) -> Vec<ConfigVersion<'_>> {
        let first = ConfigVersion {
            version: 1,
            updated_at: None,
            document: &DEFAULTS,
        };
        let rest = self.updates.iter().map(|u| ConfigVersion {
            version: u.version,
            updated_at: Some(u.updated_at),
            document: &u.document,
        });
        std::iter::once(first).chain(rest).collect()
    }

    /// The events `command` records, without applying them.
    pub fn decide(
        &self,
        command: ScoringConfigCommand,
    ) -> Result<Vec<ScoringConfigEvent>, ScoringConfigError> {
        match command {
            ScoringConfigCommand::UpdateScoringConfig {
                config,
                expected_version,
                updated_at,
            } => {
                let current = self.current_version();
                // A stale `If-Match` is answered before the body is looked at.
                if let Some(expected) = expected_version
                    && expected != current
                {
                    return Err(ScoringConfigError::VersionMismatch { current, expected });
                }
                let document =
                    ScoringDocument::from_document(&config).map_err(ScoringConfigError::Invalid)?;
                // The same configuration again is not a new version.
                if document == *self.current() {
                    return Ok(Vec::new());
                }
                let version = current + 1;
                Ok(vec![match document.as_v1() {
                    Some(config) => ScoringConfigEvent::ScoringConfigUpdated {
                        version,
                        config: config.clone(),
                        updated_at,
                    },
                    None => ScoringConfigEvent::ScorecardsUpdated {
                        version,
                        scorecards: document
                            .scorecards
                            .into_iter()
                            .map(StoredScorecard)
                            .collect(),
                        population: document.population,
                        updated_at,
                    },
                }])
            }
        }
    }
}

impl Aggregate for PortalScoringConfig {
    const TYPE: &'static str = SCORING_CONFIG_STREAM;
    type Command = ScoringConfigCommand;
    type Event = ScoringConfigEvent;
    type Error = ScoringConfigError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ScoringConfigEvent::ScoringConfigUpdated {
                version,
                config,
                updated_at,
            } => self.updates.push(Update {
                version,
                updated_at,
                document: ScoringDocument::v1(config),
            }),
            ScoringConfigEvent::ScorecardsUpdated {
                version,
                scorecards,
                population,
                updated_at,
            } => self.updates.push(Update {
                version,
                updated_at,
                document: ScoringDocument {
                    shape: Shape::Scorecards,
                    scorecards: scorecards.into_iter().map(|s| s.0).collect(),
                    population,
                },
            }),
        }
    }
}
