//! `healthscore sync full|incremental|history` and the HubSpot settings every syncing command shares.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use healthscore_domain::sync_run::SyncMode;
use healthscore_projections::recorder::Recorder;
use healthscore_projections::{Db, EventStore};
use indicatif::{ProgressBar, ProgressStyle};

use crate::hubspot::{ClientConfig, DEFAULT_BASE_URL, HubSpotClient};
use crate::secret::Secret;
use crate::sync::Syncer;
use crate::sync::runs::SyncRuns;

/// How to reach HubSpot.
#[derive(Debug, Clone, Args)]
pub struct HubSpotArgs {
    /// Private-app access token (`pat-...`); without it nothing is synced.
    #[arg(long, env = "HUBSPOT_ACCESS_TOKEN", hide_env_values = true)]
    pub hubspot_access_token: Option<Secret>,
    /// HubSpot API base URL (a fake HubSpot's URL in tests and the demo).
    #[arg(long, env = "HUBSPOT_API_BASE", default_value = DEFAULT_BASE_URL)]
    pub hubspot_api_base: String,
    /// Requests per rolling 10 s the client allows itself (HubSpot: 100 Free/Starter, 190 Pro).
    #[arg(long, env = "HUBSPOT_RATE_LIMIT", default_value_t = 100)]
    pub hubspot_rate_limit: u32,
    /// Search requests per second the client allows itself (HubSpot: 5).
    #[arg(long, env = "HUBSPOT_SEARCH_RATE_LIMIT", default_value_t = 5)]
    pub hubspot_search_rate_limit: u32,
    /// The OAuth app's client id; with HUBSPOT_CLIENT_SECRET and HEALTHSCORE_PUBLIC_URL it
    /// turns on `GET /connect/hubspot`.
    #[arg(long, env = "HUBSPOT_APP_CLIENT_ID")]
    pub hubspot_app_client_id: Option<String>,
    /// HubSpot's install page.
    #[arg(
        long,
        env = "HUBSPOT_AUTHORIZE_URL",
        default_value = "https://app.hubspot.com/oauth/authorize"
    )]
    pub hubspot_authorize_url: String,
}

impl HubSpotArgs {
    /// A client, when a token is configured.
    pub fn client(&self) -> anyhow::Result<Option<HubSpotClient>> {
        let Some(token) = &self.hubspot_access_token else {
            return Ok(None);
        };
        let config = ClientConfig {
            base_url: self.hubspot_api_base.clone(),
            rate_limit: self.hubspot_rate_limit,
            search_rate_limit: self.hubspot_search_rate_limit,
            ..ClientConfig::new(token.clone())
        };
        Ok(Some(HubSpotClient::new(config)?))
    }
}

/// Which sync to run.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum SyncCommand {
    /// List every contact, company and deal (and the archived ones); records only differences.
    /// A portal's first full sync reads every record's property history, later ones only that
    /// of records modified since the last run.
    Full {
        /// Read no property history: every value is stamped at its record's last change.
        #[arg(long)]
        without_history: bool,
    },
    /// Search what changed since the last completed sync (minus an overlap).
    Incremental,
    /// Read every record again with its property history: backfills the past of a portal
    /// synced without it. Resumable like any run.
    History,
}

/// Runs a sync with a progress bar and prints its figures.
pub async fn run(db: &Db, hubspot: &HubSpotArgs, command: SyncCommand) -> anyhow::Result<()> {
    let client = hubspot
        .client()?
        .context("set HUBSPOT_ACCESS_TOKEN (a private-app token) to sync")?;
    let store = EventStore::new(db.clone());
    let recorder = Arc::new(Recorder::start(store.clone()));
    let mut syncer = Syncer::new(
        client,
        recorder,
        Arc::new(SyncRuns::new(&store)),
        db.clone(),
    );
    let mode = match command {
        SyncCommand::Full { without_history } => {
            if without_history {
                syncer = syncer.without_history();
            }
            SyncMode::Full
        }
        SyncCommand::Incremental => SyncMode::Incremental,
        SyncCommand::History => SyncMode::History,
    };
    let started = std::time::Instant::now();
    let begun = syncer.begin(mode, None).await?;
    let outcome = with_progress(&syncer, begun.run()).await;
    outcome?;
    let report = syncer.progress().report();
    let stats = syncer.client().stats();
    println!(
        "{} sync {} of portal {}{}: {} objects in {} pages, {} events recorded, {} requests \
         ({} answered 429, {} retried), {:.1} s",
        mode.as_str(),
        begun.run_id,
        begun.portal,
        if begun.resumed { " (resumed)" } else { "" },
        report.objects,
        report.pages,
        report.events,
        stats.requests,
        stats.rate_limited,
        stats.retries,
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Runs `work` with a spinner showing the sync's progress (log lines print above it).
pub(crate) async fn with_progress<T>(syncer: &Syncer, work: impl Future<Output = T>) -> T {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
    let _shown = crate::telemetry::show_progress(&bar);
    let ticker = {
        let (bar, syncer) = (bar.clone(), syncer.clone());
        tokio::spawn(async move {
            loop {
                bar.set_message(progress_line(&syncer));
                bar.tick();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let outcome = work.await;
    ticker.abort();
    outcome
}

/// `objects 1200/22000 · 13 pages · 95 objects/s · eta 3m 10s`.
fn progress_line(syncer: &Syncer) -> String {
    let report = syncer.progress().report();
    let stats = syncer.client().stats();
    let total = report
        .expected_objects
        .map_or_else(String::new, |t| format!("/{t}"));
    let eta = report
        .eta_seconds
        .map_or_else(String::new, |s| format!(" · eta {}s", s.round()));
    format!(
        "objects {}{total} · pages {} · {:.0} objects/s · requests {} · 429s {}{eta}",
        report.objects, report.pages, report.objects_per_second, stats.requests, stats.rate_limited
    )
}
