//! `bench sync`: a plain full sync of a generated portal from the fake HubSpot at HubSpot's real
//! rate limit, then the history import of the same portal (50 records per request); for each,
//! time against the bound the limit sets, requests, 429s and events.

use std::sync::Arc;
use std::time::Instant;

use healthscore_domain::sync_run::SyncMode;
use healthscore_fixtures::fake_hubspot::{FakeConfig, FakeHubSpot, RunningFake, Stats};
use healthscore_projections::EventStore;
use healthscore_projections::recorder::Recorder;

use super::{SyncArgs, bench_database};
use crate::hubspot::{ClientConfig, HubSpotClient};
use crate::secret::Secret;
use crate::sync::Syncer;
use crate::sync::runs::SyncRuns;

pub(super) async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let (db, _guard) = bench_database(args.database_url.clone()).await?;
    let fake = FakeHubSpot::start(FakeConfig {
        contacts: args.contacts,
        companies: args.companies,
        deals: args.deals,
        rate_limit: args.rate_limit,
        ..FakeConfig::default()
    })
    .await?;
    let client = HubSpotClient::new(ClientConfig {
        base_url: fake.base_url().to_string(),
        rate_limit: args.rate_limit,
        ..ClientConfig::new(Secret::new(fake.token()))
    })?;
    let store = EventStore::new(db.clone());
    let syncer = Syncer::new(
        client,
        Arc::new(Recorder::start(store.clone())),
        Arc::new(SyncRuns::new(&store)),
        db.clone(),
    );
    println!("backend          {:?}", db.backend());
    println!(
        "portal           {} contacts, {} companies, {} deals",
        args.contacts, args.companies, args.deals
    );
    println!("rate limit       {} per rolling 10 s", args.rate_limit);
    let plain = syncer.clone().without_history();
    measure(
        "plain full sync (sync full --without-history)",
        &fake,
        &plain,
        SyncMode::Full,
        &args,
    )
    .await?;
    measure(
        "history import (sync history: every record with its property history)",
        &fake,
        &syncer,
        SyncMode::History,
        &args,
    )
    .await?;
    fake.shutdown().await?;
    db.close().await;
    Ok(())
}

/// Runs one sync and prints its figures (the fake's counters are taken as differences).
async fn measure(
    label: &str,
    fake: &RunningFake,
    syncer: &Syncer,
    mode: SyncMode,
    args: &SyncArgs,
) -> anyhow::Result<()> {
    let before = fake.stats();
    let started = Instant::now();
    syncer.sync(mode).await?;
    let seconds = started.elapsed().as_secs_f64();
    let stats = fake.stats();
    let searches = |stats: &Stats| -> u64 {
        stats
            .per_endpoint
            .iter()
            .filter(|(endpoint, _)| endpoint.ends_with("/search"))
            .map(|(_, n)| n)
            .sum()
    };
    let search = searches(&stats) - searches(&before);
    let requests = stats.requests - before.requests;
    let paced = requests - search;
    let per_second = f64::from(args.rate_limit) / 10.0;
    let naive_bound = paced as f64 / per_second;
    let burst_bound = paced.saturating_sub(u64::from(args.rate_limit)) as f64 / per_second;
    let report = syncer.progress().report();
    println!();
    println!("{label}");
    println!("  elapsed          {seconds:.2} s");
    println!("  requests         {requests} ({paced} paced, {search} search)");
    println!(
        "  with history     {} requests, {} records",
        stats.history_requests - before.history_requests,
        stats.history_records - before.history_records
    );
    println!(
        "  bound            {naive_bound:.1} s at {per_second} requests/s; {burst_bound:.1} s with the window's initial burst of {}",
        args.rate_limit
    );
    println!(
        "  429s             {}",
        stats.responses_429 - before.responses_429
    );
    println!("  objects          {}", report.objects);
    println!("  pages            {}", report.pages);
    println!("  events recorded  {}", report.events);
    Ok(())
}
