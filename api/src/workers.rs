//! The background work `serve` runs beside the HTTP API: the read-model projector.

use healthscore_projections::EventStore;
use healthscore_projections::projector::Projector;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Running background tasks; [`Workers::stop`] ends them.
#[derive(Debug)]
pub struct Workers {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts every worker over `store`.
    pub fn start(store: &EventStore) -> Self {
        let (shutdown, stop) = watch::channel(false);
        let tasks = vec![tokio::spawn(Projector::new(store.clone()).run(stop))];
        Self { shutdown, tasks }
    }

    /// Signals every worker and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
