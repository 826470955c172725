//! The background work `serve` runs beside the HTTP API: the read-model projector, the
//! score refresher, the alerter and the write-back to HubSpot.

use std::time::Duration;

use healthscore_projections::projector::Projector;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use healthscore_domain::sync_run::SyncMode;

use crate::http::AppState;
use crate::scoring::refresh::Refresher;
use crate::sync::SyncError;

/// Running background tasks; [`Workers::stop`] ends them.
#[derive(Debug)]
pub struct Workers {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts every worker over `state`'s log; every customer is rescored each `rescore_interval`.
    pub fn start(state: &AppState, rescore_interval: Duration) -> Self {
        let (shutdown, stop) = watch::channel(false);
        let refresher = Refresher {
            db: state.db.clone(),
            store: state.store.clone(),
            scoring: state.scoring.clone(),
            configs: state.configs.clone(),
            config_changed: state.config_changed.clone(),
            interval: rescore_interval,
            scored_through: state.scored_through.clone(),
            medians: std::sync::Arc::default(),
        };
        let tasks = vec![
            tokio::spawn(Projector::new(state.store.clone()).run(stop.clone())),
            tokio::spawn(refresher.run(stop.clone())),
            tokio::spawn(crate::alerts::worker::Alerter::new(state.clone()).run(stop.clone())),
            tokio::spawn(crate::writeback::worker::run(state.clone(), stop)),
        ];
        Self { shutdown, tasks }
    }

    /// Adds the periodic sync of every connected portal: each one's own run at start, then
    /// every `interval`; a portal still syncing skips a turn, one that needs re-authorisation
    /// or was disconnected is not synced.
    #[must_use]
    pub fn with_connections(mut self, state: &AppState, interval: Duration) -> Self {
        let Some(connections) = state.connections.clone() else {
            return self;
        };
        let state = state.clone();
        let mut stop = self.shutdown.subscribe();
        self.tasks.push(tokio::spawn(async move {
            let mut running: std::collections::HashMap<_, JoinHandle<()>> = Default::default();
            loop {
                running.retain(|_, task| !task.is_finished());
                match connections.active().await {
                    Ok(portals) => {
                        for portal in portals {
                            if running.contains_key(&portal) {
                                continue;
                            }
                            let Ok(syncer) = state.syncer_for(portal).await else {
                                continue;
                            };
                            running.insert(portal, tokio::spawn(sync_once(syncer, portal)));
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot list the connected portals"),
                }
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => break,
                }
            }
            for task in running.into_values() {
                task.abort();
            }
        }));
        self
    }

    /// Signals every worker and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One incremental sync of `portal` (a full one while none has completed).
async fn sync_once(syncer: crate::sync::Syncer, portal: healthscore_domain::ids::PortalId) {
    match syncer.sync(SyncMode::Incremental).await {
        Ok(_) => {}
        Err(SyncError::Busy { run_id, .. }) => {
            tracing::debug!(%portal, run_id, "already syncing; skipping");
        }
        Err(error) => tracing::warn!(%portal, %error, "periodic sync failed"),
    }
}

/// Parses `500ms`, `90s`, `10m`, `1h` (a bare number is seconds).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 10m or 1h"))?;
    if unit == "ms" {
        return match n {
            0 => Err("the interval must be positive".into()),
            n => Ok(Duration::from_millis(n)),
        };
    }
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => {
            return Err(format!(
                "{text:?} is not a duration like 500ms, 90s, 10m or 1h"
            ));
        }
    }
    .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    if seconds == 0 {
        Err("the interval must be positive".into())
    } else {
        Ok(Duration::from_secs(seconds))
    }
}
