//! The write-back worker `serve` runs: a pass for each opted-in portal after the refresher
//! moves, at most every `min_interval`, or at once when a portal turns write-back on.

use tokio::sync::watch;

use crate::http::AppState;

/// Runs until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut scored = state.scored_through.subscribe();
    let writebacks = state.writebacks.clone();
    loop {
        tokio::select! {
            _ = scored.changed() => {}
            () = writebacks.wake.notified() => {}
            _ = stop.changed() => return,
        }
        match writebacks.enabled_portals().await {
            Ok(portals) => {
                for portal in portals {
                    super::pass(&state, portal).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot list the write-back portals"),
        }
        // Between passes: at least the interval, unless stopping.
        tokio::select! {
            () = tokio::time::sleep(writebacks.min_interval) => {}
            _ = stop.changed() => return,
        }
    }
}
