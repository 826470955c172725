//! The background work `serve` runs beside the HTTP API: the read-model projector and the
//! score refresher.

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
            tokio::spawn(refresher.run(stop)),
        ];
        Self { shutdown, tasks }
    }

    /// Adds the periodic HubSpot sync when `state` has a syncer: one run at start, then one every
    /// `interval` (incremental, or full while no run has completed). A lease held elsewhere
    /// (another instance syncing) just skips a turn.
    #[must_use]
    pub fn with_sync(mut self, state: &AppState, interval: Duration) -> Self {
        if let Some(syncer) = state.syncer.clone() {
            let mut stop = self.shutdown.subscribe();
            self.tasks.push(tokio::spawn(async move {
                loop {
                    let sync = syncer.sync(SyncMode::Incremental);
                    tokio::select! {
                        outcome = sync => match outcome {
                            Ok(_) => {}
                            Err(SyncError::Busy { run_id, .. }) => {
                                tracing::debug!(run_id, "another instance is syncing; skipping");
                            }
                            Err(error) => tracing::warn!(%error, "periodic sync failed"),
                        },
                        _ = stop.changed() => return,
                    }
                    tokio::select! {
                        () = tokio::time::sleep(interval) => {}
                        _ = stop.changed() => return,
                    }
                }
            }));
        }
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

/// Parses `90s`, `10m`, `1h` (a bare number is seconds).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 10m or 1h"))?;
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => return Err(format!("{text:?} is not a duration like 90s, 10m or 1h")),
    }
    .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    if seconds == 0 {
        Err("the interval must be positive".into())
    } else {
        Ok(Duration::from_secs(seconds))
    }
}
