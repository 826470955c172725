//! `bench portal`: a large generated portal loaded into the log, then every cost that grows with
//! it: replaying the log into the read models, building the scoring index, rescoring every
//! customer (first and after a configuration change), then every customer and account under
//! scorecards (v2), and the latency of the score and list endpoints under concurrent load.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthscore_domain::crm_object::{Snapshot, Stamping};
use healthscore_domain::hubspot::properties;
use healthscore_domain::ids::{ObjectRef, PortalId};
use healthscore_domain::scoring::ConfigDocument;
use healthscore_domain::scoring::Subject;
use healthscore_fixtures::generate::{CrmObject, Portal};
use healthscore_projections::api_keys;
use healthscore_projections::projector::Projector;
use serde_json::json;

use super::under_load::{WebhookLoad, read_scores};
use super::webhooks::{PUBLIC_URL, SECRET};
use super::{PortalArgs, bench_database, quantile};
use crate::http::{AppState, WebhookSettings, router};
use crate::scoring::bands::BandChanges;
use crate::scoring::refresh::Refresher;
use crate::secret::Secret;
use crate::sync::snapshot::message;
use crate::workers::Workers;
use healthscore_domain::ids::ObjectType;

/// Companies first, so contacts and deals find the companies they point at.
const LOAD_ORDER: [ObjectType; 3] = [ObjectType::Company, ObjectType::Contact, ObjectType::Deal];

fn snapshot_of(portal: PortalId, kind: ObjectType, object: &CrmObject) -> Snapshot {
    let associations = object
        .associations
        .iter()
        .map(|(other, ids)| (*other, ids.iter().copied().collect::<BTreeSet<u64>>()))
        .collect();
    Snapshot {
        object: ObjectRef::new(portal, kind, object.id),
        properties: properties::kept(kind)
            .iter()
            .map(|name| {
                (
                    (*name).to_string(),
                    object.property(name).unwrap_or_default().to_string(),
                )
            })
            .collect::<BTreeMap<_, _>>(),
        associations,
        archived: object.is_archived(),
        created_at: object.created_at_ms,
        updated_at: object.updated_at_ms,
        history: BTreeMap::new(),
        stamping: Stamping::Observed,
        others_created: BTreeMap::new(),
    }
}

fn line(label: &str, value: String) {
    println!("{label:<34} {value}");
}

pub(super) async fn run(args: PortalArgs) -> anyhow::Result<()> {
    let (db, _guard) = bench_database(args.database_url.clone()).await?;
    let now = chrono::Utc::now();
    let generated = Portal::generate(
        args.seed,
        args.contacts,
        args.companies,
        args.deals,
        now.timestamp_millis(),
    );
    let portal = PortalId(generated.portal_id);
    let webhooks = WebhookSettings {
        secrets: vec![Secret::new(SECRET)],
        public_url: Some(PUBLIC_URL.to_string()),
    };
    let state = AppState::new(db.clone(), webhooks);
    line("backend", format!("{:?}", db.backend()));
    line(
        "portal",
        format!(
            "{} contacts, {} companies, {} deals",
            args.contacts, args.companies, args.deals
        ),
    );

    // Load: every object as a sync would record it, 1,000 objects per commit.
    let started = Instant::now();
    let mut events = 0;
    for kind in LOAD_ORDER {
        let messages: Vec<_> = generated
            .objects(kind)
            .values()
            .map(|o| message(snapshot_of(portal, kind, o), "bench"))
            .collect();
        for chunk in messages.chunks(1_000) {
            events += state.recorder.record(chunk.to_vec()).await?.events;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    line(
        "load (record snapshots)",
        format!(
            "{events} events in {seconds:.2} s ({:.0} events/s)",
            events as f64 / seconds
        ),
    );

    // What serve holds needs no generated portal: dropped here, so the resident memory below is
    // the engine's (the recorder's aggregate cache, the scoring index, caches, the runtime).
    drop(generated);
    line(
        "memory after the load",
        super::memory_line().replace("resident memory  ", ""),
    );

    // Replay: every read model rebuilt from the whole log.
    let projector = Projector::new(state.store.clone());
    let started = Instant::now();
    let replayed = projector.rebuild(|_| {}).await?;
    let seconds = started.elapsed().as_secs_f64();
    line(
        "replay into read models",
        format!(
            "{replayed} events in {seconds:.2} s ({:.0} events/s)",
            replayed as f64 / seconds
        ),
    );

    // The scoring index, built from the log.
    let started = Instant::now();
    state.scoring.catch_up().await?;
    let _ = state.scoring.take_touched();
    line(
        "scoring index from the log",
        format!("{:.2} s", started.elapsed().as_secs_f64()),
    );
    line(
        "memory with the scoring index",
        super::memory_line().replace("resident memory  ", ""),
    );

    let refresher = Refresher {
        db: db.clone(),
        store: state.store.clone(),
        scoring: state.scoring.clone(),
        configs: state.configs.clone(),
        config_changed: state.config_changed.clone(),
        interval: Duration::from_secs(600),
        scored_through: state.scored_through.clone(),
        medians: Arc::default(),
    };
    let mut bands = BandChanges::new(state.store.clone());
    let started = Instant::now();
    refresher.refresh(true, &mut bands).await?;
    let customers =
        healthscore_projections::scoring::materialized::all(&db, portal, Subject::Contact)
            .await?
            .len();
    line(
        "first scoring (all customers)",
        format!(
            "{customers} customers in {:.2} s",
            started.elapsed().as_secs_f64()
        ),
    );

    let changed = json!({"weights": {"engagement_recency": 40, "deal_momentum": 10, "lifecycle_stage": 15, "activity_frequency": 15, "deal_value": 20}});
    state
        .configs
        .update(portal, ConfigDocument::from_value(changed), None, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    refresher.refresh(true, &mut bands).await?;
    line(
        "rescore after a config change",
        format!(
            "{customers} customers in {:.2} s",
            started.elapsed().as_secs_f64()
        ),
    );

    // Scorecards v2: SCORING.md's shape, with accounts split by size, a custom factor on
    // annual revenue and the contacts' health; then a change of weights rescores both types.
    let scorecards = |enterprise_health: u32| {
        json!({"scorecards": [
          {"name": "enterprise accounts", "subject": "company",
           "filter": [{"property": "numberofemployees", "op": "gte", "value": "1000"}],
           "weights": {"engagement_recency": 30, "deal_value": 70 - enterprise_health, "customer_health": enterprise_health}},
          {"name": "accounts", "subject": "company",
           "weights": {"engagement_recency": 20, "deal_momentum": 15, "lifecycle_stage": 10,
                       "activity_frequency": 15, "deal_value": 10, "customer_health": 15,
                       "csm_sentiment": 5, "revenue": 10},
           "custom_factors": [{"key": "revenue", "property": "annualrevenue",
                               "transform": {"type": "linear", "min": 0, "max": 10_000_000}}]},
          {"name": "contacts", "subject": "contact", "weights": {"engagement_recency": 25,
           "deal_momentum": 20, "lifecycle_stage": 15, "activity_frequency": 20, "deal_value": 20}}
        ]})
    };
    for (label, enterprise_health) in [
        ("first scoring with scorecards (v2)", 40),
        ("v2 rescore after a config change", 30),
    ] {
        state
            .configs
            .update(
                portal,
                ConfigDocument::from_value(scorecards(enterprise_health)),
                None,
                now,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = Instant::now();
        refresher.refresh(true, &mut bands).await?;
        let seconds = started.elapsed().as_secs_f64();
        let count =
            |subject| healthscore_projections::scoring::materialized::all(&db, portal, subject);
        let (customers, accounts) = (
            count(Subject::Contact).await?.len(),
            count(Subject::Company).await?.len(),
        );
        line(
            label,
            format!("{customers} customers and {accounts} accounts in {seconds:.2} s"),
        );
    }

    // Latency under concurrent load through the real HTTP server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(crate::http::server::serve_until_dropped(
        listener,
        router(state.clone()),
    ));
    let key = Arc::new(api_keys::create(&db, portal, "bench").await?.key);
    let customers_scored =
        healthscore_projections::scoring::materialized::all(&db, portal, Subject::Contact).await?;
    let ids: Arc<Vec<u64>> = Arc::new(customers_scored.iter().map(|r| r.subject_id).collect());
    let client = reqwest::Client::new();
    let score = load(&client, &base, &key, args.clients, args.requests, {
        let ids = Arc::clone(&ids);
        move |i| format!("/customers/{}/score", ids[(i * 7919) % ids.len()])
    })
    .await?;
    report("GET /customers/{id}/score", &score);
    let pages = [
        "sort=-score",
        "sort=score&band=critical",
        "sort=name",
        "band=at_risk&min_score=40",
    ];
    let list = load(
        &client,
        &base,
        &key,
        args.clients,
        args.requests,
        move |i| format!("/customers?limit=50&{}", pages[i % pages.len()]),
    )
    .await?;
    report("GET /customers (50 per page)", &list);

    // Score reads while webhooks change the portal's contacts, with the workers `serve` runs
    // (read-model projector, score refresher), after their first full refresh.
    let workers = Workers::start(&state, Duration::from_secs(600));
    let head = state.store.head().await?;
    state
        .scored_through
        .subscribe()
        .wait_for(|through| *through >= head)
        .await?;
    let contacts = Arc::clone(&ids);
    let load = WebhookLoad::start(&client, &base, portal, contacts, args.webhook_load, 10);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reads = read_scores(
        &client,
        &base,
        &key,
        &ids,
        args.clients_under_load,
        Duration::from_secs(args.seconds_under_load),
    )
    .await?;
    let (webhook_rate, webhook_latencies) = load.stop().await?;
    line(
        &format!("GET .../score, {} clients", args.clients_under_load),
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} not 2xx",
            reads.latencies.len() as f64 / reads.seconds,
            quantile(&reads.latencies, 0.50),
            quantile(&reads.latencies, 0.99),
            reads.latencies.last().copied().unwrap_or_default(),
            reads.failed
        ),
    );
    line(
        "  webhooks meanwhile",
        format!(
            "{webhook_rate:.0} events/s (asked {}), p99 {:.1} ms",
            args.webhook_load,
            quantile(&webhook_latencies, 0.99)
        ),
    );
    workers.stop().await;
    server.abort();
    db.close().await;
    Ok(())
}

/// Latencies (ms, sorted) and wall time of `total` GETs from `clients` concurrent clients.
async fn load(
    client: &reqwest::Client,
    base: &str,
    key: &Arc<String>,
    clients: usize,
    total: usize,
    path: impl Fn(usize) -> String + Send + Sync + 'static,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let path = Arc::new(path);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, base, key, path) = (
                client.clone(),
                base.to_string(),
                Arc::clone(key),
                Arc::clone(&path),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in (c..total).step_by(clients) {
                    let url = format!("{base}{}", path(i));
                    let sent = Instant::now();
                    let response = client.get(&url).bearer_auth(key.as_str()).send().await?;
                    anyhow::ensure!(
                        response.status().is_success(),
                        "{url}: {}",
                        response.status()
                    );
                    let _ = response.bytes().await?;
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    latencies.sort_by(f64::total_cmp);
    Ok((latencies, started.elapsed().as_secs_f64()))
}

fn report(label: &str, (latencies, seconds): &(Vec<f64>, f64)) {
    line(
        label,
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latencies.len() as f64 / seconds,
            quantile(latencies, 0.50),
            quantile(latencies, 0.99),
            latencies.last().copied().unwrap_or_default()
        ),
    );
}
