//! `bench append`: how many 100-event batches the event store commits per second.

use std::time::Instant;

use healthscore_projections::{AppendBatch, EventStore, NewEvent};
use serde_json::json;

use super::{AppendArgs, bench_database};

pub(super) async fn run(args: AppendArgs) -> anyhow::Result<()> {
    let (db, _guard) = bench_database(args.database_url).await?;
    let backend = db.backend();
    let store = EventStore::new(db.clone());
    let started = Instant::now();
    for batch in 0..args.batches {
        let events = (0..args.batch_size)
            .map(|n| NewEvent {
                stream_id: format!("bench/{batch}/{n}"),
                stream_type: "bench".to_string(),
                sequence: 1,
                event_type: "PropertiesChanged".to_string(),
                event_version: "1".to_string(),
                payload: json!({"changes": {"lifecyclestage": "customer"}, "occurred_at": n})
                    .to_string(),
                metadata: r#"{"source":"bench"}"#.to_string(),
                occurred_at: 1_700_000_000_000,
            })
            .collect();
        store
            .append(&AppendBatch {
                events,
                ..AppendBatch::default()
            })
            .await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let events = (args.batches * args.batch_size) as f64;
    println!("backend      {backend:?}");
    println!("batches      {} x {} events", args.batches, args.batch_size);
    println!("elapsed      {seconds:.2} s");
    println!("batches/s    {:.0}", args.batches as f64 / seconds);
    println!("events/s     {:.0}", events / seconds);
    db.close().await;
    Ok(())
}
