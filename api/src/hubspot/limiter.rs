//! Client-side pacing with a rolling window, the way HubSpot counts: at most `max` requests in
//! any window of length `window`.
//!
//! A slot is taken when a request is sent and its instant is recorded when the request
//! *finishes*. HubSpot counts a request when it arrives, which is somewhere between the two;
//! recording the later instant means network delay can never squeeze `max + 1` arrivals into one
//! of HubSpot's windows, so a client configured with the server's limit never sees a 429.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

/// A rolling-window limiter shared by every task using one client.
#[derive(Debug)]
pub(crate) struct RollingLimiter {
    max: usize,
    window: Duration,
    state: Mutex<State>,
    released: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Requests sent and not yet finished: they occupy a slot until they finish.
    in_flight: usize,
    /// Finish instants of the requests still inside the window, oldest first.
    finished: VecDeque<Instant>,
    /// No request may start before this (set after a 429).
    paused_until: Option<Instant>,
}

/// What a caller who cannot start yet waits for.
enum Wait {
    Until(Instant),
    Release,
}

/// A slot in the window; dropping it marks the request finished.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    limiter: &'a RollingLimiter,
}

impl RollingLimiter {
    /// At most `max` (at least 1) requests per rolling `window`.
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self {
            max: usize::try_from(max.max(1)).unwrap_or(usize::MAX),
            window,
            state: Mutex::new(State::default()),
            released: Notify::new(),
        }
    }

    /// Waits until a request may start without exceeding the window, and takes its slot.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before looking, so a release between the look and the wait is seen.
            let released = self.released.notified();
            let wait = match self.lock().admit(Instant::now(), self.max, self.window) {
                Ok(()) => return Permit { limiter: self },
                Err(wait) => wait,
            };
            match wait {
                Wait::Until(deadline) => sleep_until(deadline).await,
                Wait::Release => released.await,
            }
        }
    }

    /// Holds back every request until `deadline`, e.g. after HubSpot answered 429.
    pub(crate) fn pause_until(&self, deadline: Instant) {
        let mut state = self.lock();
        state.paused_until = Some(state.paused_until.map_or(deadline, |at| at.max(deadline)));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn admit(&mut self, now: Instant, max: usize, window: Duration) -> Result<(), Wait> {
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            return Err(Wait::Until(until));
        }
        while self
            .finished
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= window)
        {
            self.finished.pop_front();
        }
        if self.in_flight + self.finished.len() < max {
            self.in_flight += 1;
            return Ok(());
        }
        match self.finished.front() {
            Some(oldest) => Err(Wait::Until(*oldest + window)),
            None => Err(Wait::Release),
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        {
            let mut state = self.limiter.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.finished.push_back(Instant::now());
        }
        self.limiter.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Start instants of `tasks` requests that each hold their slot for `hold`.
    async fn starts(limiter: Arc<RollingLimiter>, tasks: usize, hold: Duration) -> Vec<Instant> {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move {
                    let _permit = limiter.acquire().await;
                    let started = Instant::now();
                    tokio::time::sleep(hold).await;
                    started
                })
            })
            .collect();
        let mut starts = Vec::new();
        for handle in handles {
            starts.push(handle.await.expect("task finishes"));
        }
        starts.sort();
        starts
    }

    #[tokio::test(start_paused = true)]
    async fn never_starts_more_than_max_requests_in_any_window() {
        let window = Duration::from_secs(1);
        let limiter = Arc::new(RollingLimiter::new(5, window));
        let starts = starts(limiter, 23, Duration::from_millis(30)).await;
        assert_eq!(starts.len(), 23);
        for pair in starts.windows(6) {
            assert!(
                pair[5] - pair[0] >= window,
                "6 starts within {:?}",
                pair[5] - pair[0]
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_max_requests_start_at_once() {
        let origin = Instant::now();
        let limiter = Arc::new(RollingLimiter::new(4, Duration::from_secs(10)));
        let starts = starts(limiter, 4, Duration::ZERO).await;
        assert!(starts.iter().all(|at| *at == origin));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_is_free_again_one_window_after_its_request_finished() {
        let window = Duration::from_secs(10);
        let limiter = RollingLimiter::new(1, window);
        let origin = Instant::now();
        {
            let _permit = limiter.acquire().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let _second = limiter.acquire().await;
        assert_eq!(Instant::now() - origin, Duration::from_secs(12));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_every_request() {
        let limiter = RollingLimiter::new(100, Duration::from_secs(10));
        let origin = Instant::now();
        limiter.pause_until(origin + Duration::from_secs(3));
        limiter.pause_until(origin + Duration::from_secs(1));
        let _permit = limiter.acquire().await;
        assert_eq!(Instant::now() - origin, Duration::from_secs(3));
    }
}
