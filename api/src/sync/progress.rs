//! Live progress of the run in hand, for the CLI's progress bar and `GET /sync/runs/{id}`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;

/// A moment's view of a run's progress.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ProgressReport {
    /// The run.
    pub run_id: String,
    /// Objects the portal holds (when known), for an ETA.
    pub expected_objects: Option<u64>,
    /// Objects recorded so far in this process.
    pub objects: u64,
    /// Pages recorded so far in this process.
    pub pages: u64,
    /// Events recorded so far in this process.
    pub events: u64,
    /// Seconds since this process began the run.
    pub elapsed_seconds: f64,
    /// Objects per second.
    pub objects_per_second: f64,
    /// Estimated seconds left, when the total is known.
    pub eta_seconds: Option<f64>,
}

#[derive(Debug, Default)]
struct Counters {
    run_id: String,
    expected_objects: Option<u64>,
    objects: u64,
    pages: u64,
    events: u64,
    began: Option<Instant>,
    /// When the run ended here: its elapsed time and rate stop then.
    ended: Option<Instant>,
}

/// Shared progress counters.
#[derive(Debug, Clone, Default)]
pub struct LiveProgress(Arc<Mutex<Counters>>);

impl LiveProgress {
    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn begin(&self, run_id: &str) {
        self.with(|c| {
            *c = Counters {
                run_id: run_id.to_string(),
                began: Some(Instant::now()),
                ..Counters::default()
            }
        });
    }

    /// The run ended (completed or failed): its clock stops.
    pub(super) fn end(&self) {
        self.with(|c| {
            c.ended.get_or_insert_with(Instant::now);
        });
    }

    pub(super) fn expect(&self, objects: u64) {
        self.with(|c| c.expected_objects = Some(objects));
    }

    pub(super) fn page(&self, objects: u64, events: u64) {
        self.with(|c| {
            c.pages += 1;
            c.objects += objects;
            c.events += events;
        });
    }

    /// The current figures.
    pub fn report(&self) -> ProgressReport {
        self.with(|c| {
            let until = c.ended.unwrap_or_else(Instant::now);
            let elapsed = c
                .began
                .map_or(0.0, |b| until.saturating_duration_since(b).as_secs_f64());
            let rate = if elapsed > 0.0 {
                c.objects as f64 / elapsed
            } else {
                0.0
            };
            let eta = c
                .expected_objects
                .filter(|_| rate > 0.0)
                .map(|expected| expected.saturating_sub(c.objects) as f64 / rate);
            ProgressReport {
                run_id: c.run_id.clone(),
                expected_objects: c.expected_objects,
                objects: c.objects,
                pages: c.pages,
                events: c.events,
                elapsed_seconds: elapsed,
                objects_per_second: rate,
                eta_seconds: eta,
            }
        })
    }
}
