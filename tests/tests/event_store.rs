//! The event store's contract, on SQLite and PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;

use healthscore_domain::crm_object::{CrmObjectCommand, CrmObjectEvent, ERASED_VALUE};
use healthscore_domain::ids::{ObjectRef, ObjectType, PortalId};
use healthscore_projections::recorder::{Message, Recorder};
use healthscore_projections::{AppendBatch, Db, EventStore, NewEvent, StoreError};
use healthscore_tests::{TestDb, on_both_backends};
use serde_json::json;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("stored JSON")
}

fn event(stream: &str, sequence: i64, n: i64) -> NewEvent {
    NewEvent {
        stream_id: stream.to_string(),
        stream_type: "test_object".to_string(),
        sequence,
        event_type: "ThingHappened".to_string(),
        event_version: "1".to_string(),
        payload: json!({ "n": n }).to_string(),
        metadata: json!({ "source": "test" }).to_string(),
        occurred_at: 1_700_000_000_000 + n,
    }
}

fn batch(events: Vec<NewEvent>) -> AppendBatch {
    AppendBatch {
        events,
        dedup_keys: Vec::new(),
        erase_streams: Vec::new(),
    }
}

async fn appended_events_read_back_in_order(t: TestDb) {
    let store = EventStore::new(t.db);
    let last = store
        .append(&batch(vec![
            event("a", 1, 1),
            event("b", 1, 2),
            event("a", 2, 3),
        ]))
        .await
        .expect("append");
    assert_eq!(store.head().await.expect("head"), last);

    let a = store.read_stream("a", 0).await.expect("read a");
    assert_eq!(
        a.iter().map(|e| e.event.sequence).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(json(&a[1].event.payload), json!({ "n": 3 }));
    assert_eq!(a[1].event.occurred_at, 1_700_000_000_003);
    assert!(a[0].recorded_at > 0);

    let all = store.read_all(0, 100).await.expect("read all");
    let payloads: Vec<_> = all
        .iter()
        .map(|e| json(&e.event.payload)["n"].clone())
        .collect();
    assert_eq!(payloads, vec![json!(1), json!(2), json!(3)]);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));

    let after_first = store
        .read_all(all[0].position, 100)
        .await
        .expect("read after");
    assert_eq!(after_first.len(), 2);
    let tail = store.read_stream("a", 1).await.expect("read a after 1");
    assert_eq!(tail.len(), 1);
}

async fn a_taken_sequence_is_a_conflict_and_writes_nothing(t: TestDb) {
    let store = EventStore::new(t.db);
    store
        .append(&batch(vec![event("a", 1, 1)]))
        .await
        .expect("first");
    let error = store
        .append(&batch(vec![event("b", 1, 2), event("a", 1, 3)]))
        .await
        .expect_err("sequence 1 of a is taken");
    assert!(matches!(error, StoreError::Conflict { .. }), "{error:?}");
    assert!(error.is_retryable());
    // The batch is atomic: b's event was rolled back with a's.
    assert!(store.read_stream("b", 0).await.expect("read b").is_empty());
    assert_eq!(store.read_all(0, 10).await.expect("all").len(), 1);
}

async fn a_repeated_dedup_key_records_nothing(t: TestDb) {
    let store = EventStore::new(t.db);
    let key = vec![7u8; 32];
    let first = AppendBatch {
        events: vec![event("a", 1, 1)],
        dedup_keys: vec![key.clone()],
        erase_streams: Vec::new(),
    };
    store.append(&first).await.expect("first delivery");
    assert_eq!(
        store
            .seen_keys(&[key.clone(), vec![8u8; 32]])
            .await
            .expect("seen"),
        vec![key.clone()]
    );

    let again = AppendBatch {
        events: vec![event("a", 2, 2)],
        dedup_keys: vec![key],
        erase_streams: Vec::new(),
    };
    let error = store.append(&again).await.expect_err("duplicate");
    assert!(matches!(error, StoreError::Duplicate), "{error:?}");
    assert_eq!(store.read_all(0, 10).await.expect("all").len(), 1);
}

async fn a_large_batch_of_many_streams_commits_whole(t: TestDb) {
    let store = EventStore::new(t.db);
    let events: Vec<_> = (0..1200)
        .map(|n| event(&format!("s{}", n % 300), n / 300 + 1, n))
        .collect();
    let keys: Vec<_> = (0..1200u32).map(|n| n.to_be_bytes().to_vec()).collect();
    store
        .append(&AppendBatch {
            events,
            dedup_keys: keys,
            erase_streams: Vec::new(),
        })
        .await
        .expect("append 1200");
    assert_eq!(store.read_all(0, 5000).await.expect("all").len(), 1200);
    assert_eq!(store.read_stream("s7", 0).await.expect("s7").len(), 4);
}

async fn concurrent_appenders_never_let_a_follower_skip_an_event(t: TestDb) {
    const WRITERS: i64 = 6;
    const BATCHES: i64 = 40;
    let store = Arc::new(EventStore::new(t.db));
    let follower = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            // A follower that misses an event would wait for it forever: fail instead.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            while (seen.len() as i64) < WRITERS * BATCHES * 2 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the follower saw {} of {} events in 60 s",
                    seen.len(),
                    WRITERS * BATCHES * 2
                );
                let page = store.read_all(after, 1000).await.expect("follow");
                if let Some(last) = page.last() {
                    after = last.position;
                }
                seen.extend(
                    page.into_iter()
                        .map(|e| (e.event.stream_id, e.event.sequence)),
                );
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for b in 0..BATCHES {
                    let stream = format!("writer{w}");
                    let events = vec![event(&stream, 2 * b + 1, b), event(&stream, 2 * b + 2, b)];
                    store.append(&batch(events)).await.expect("append");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let seen = follower.await.expect("follower");
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), unique.len(), "no event seen twice");
    assert_eq!(
        unique.len() as i64,
        WRITERS * BATCHES * 2,
        "no event skipped"
    );
}

async fn racing_writers_on_one_stream_get_exactly_one_winner_per_sequence(t: TestDb) {
    let store = Arc::new(EventStore::new(t.db));
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.append(&batch(vec![event("hot", 1, n)])).await })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        match racer.await.expect("racer") {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.read_stream("hot", 0).await.expect("hot").len(), 1);
}

async fn appends_wake_local_subscribers(t: TestDb) {
    let store = EventStore::new(t.db);
    let mut appended = store.subscribe();
    let last = store
        .append(&batch(vec![event("a", 1, 1)]))
        .await
        .expect("append");
    appended.changed().await.expect("sender alive");
    assert_eq!(*appended.borrow(), last);
}

/// Readiness's probe commits a real row each time and finds the store writable.
async fn the_readiness_probe_writes_for_real(t: TestDb) {
    let store = EventStore::new(t.db.clone());
    for _ in 0..2 {
        t.db.probe_write().await.expect("probe");
    }
    store.check_writable().await.expect("writable");
    let probed: i64 = healthscore_projections::on_reader!(&t.db, pool => {
        let (at,): (i64,) = sqlx::query_as("SELECT probed_at FROM write_probe WHERE id = 1")
            .fetch_one(pool)
            .await
            .expect("the probe row");
        at
    });
    assert!(probed > 0);
}

/// While one store holds the append lock, an append through another connection (as another
/// process's would be) waits, and lands after the locked batch.
async fn the_append_lock_holds_back_every_other_appender(t: TestDb) {
    let store = EventStore::new(t.db.clone());
    let other = EventStore::new(Db::connect(&t.url).await.expect("a second connection"));
    let lock = store.lock_appends().await.expect("lock");
    let waiting = tokio::spawn(async move {
        let at = other.append(&batch(vec![event("other", 1, 1)])).await;
        other.db().close().await;
        at
    });
    // Time for an unlocked append to land first, were the lock broken.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "an append passed the lock");
    let locked = lock
        .commit(&batch(vec![event("locked", 1, 2)]))
        .await
        .expect("commit")
        .durable()
        .await
        .expect("durable");
    let other = waiting
        .await
        .expect("join")
        .expect("the waiting append lands");
    assert!(
        other > locked,
        "the waiting append lands after the locked one"
    );
}

/// Two recorders (two instances) on one database, many jobs on the same few streams at once:
/// every job is recorded (a lost race is decided again under the append lock, never failed)
/// and each stream's sequences run 1, 2, 3... with no gap.
async fn two_recorders_racing_on_hot_streams_record_every_job(t: TestDb) {
    const JOBS: usize = 60;
    const HOT: u64 = 3;
    let recorders: Vec<Arc<Recorder>> = vec![
        Arc::new(Recorder::start(EventStore::new(t.db.clone()))),
        Arc::new(Recorder::start(EventStore::new(
            Db::connect(&t.url).await.expect("a second connection"),
        ))),
    ];
    let mut jobs = tokio::task::JoinSet::new();
    for (r, recorder) in recorders.iter().enumerate() {
        for task in 0..4 {
            let recorder = Arc::clone(recorder);
            jobs.spawn(async move {
                for n in 0..JOBS {
                    let serial = (r * 4 + task) * JOBS + n;
                    let object = ObjectRef {
                        portal: PortalId(1),
                        object_type: ObjectType::Contact,
                        id: serial as u64 % HOT + 1,
                    };
                    let message = Message {
                        dedup_key: Some(format!("job-{serial}").into_bytes()),
                        commands: vec![CrmObjectCommand::RecordPropertyChange {
                            object,
                            name: "firstname".to_string(),
                            value: format!("n{serial}"),
                            occurred_at: 1_700_000_000_000 + serial as i64,
                        }],
                        metadata: "{}".to_string(),
                        raw_events: Vec::new(),
                    };
                    recorder.record(vec![message]).await?;
                }
                Ok::<_, healthscore_projections::recorder::RecordError>(())
            });
        }
    }
    while let Some(done) = jobs.join_next().await {
        done.expect("job task").expect("every job is recorded");
    }
    let store = EventStore::new(t.db.clone());
    let mut total = 0;
    for id in 1..=HOT {
        let stream = format!("1/contact/{id}");
        let sequences: Vec<i64> = store
            .read_stream(&stream, 0)
            .await
            .expect("stream")
            .iter()
            .map(|e| e.event.sequence)
            .collect();
        let expected: Vec<i64> = (1..=sequences.len() as i64).collect();
        assert_eq!(sequences, expected, "{stream} has no gap or repeat");
        total += sequences.len();
    }
    assert_eq!(total, 2 * 4 * JOBS, "every job's event, once");
}

fn contact(id: u64) -> ObjectRef {
    ObjectRef {
        portal: PortalId(1),
        object_type: ObjectType::Contact,
        id,
    }
}

/// One job of one command, keyed so it is never a repeat.
fn job(key: &str, command: CrmObjectCommand) -> Vec<Message> {
    vec![Message {
        dedup_key: Some(key.as_bytes().to_vec()),
        commands: vec![command],
        metadata: "{}".to_string(),
        raw_events: Vec::new(),
    }]
}

fn name_change(object: ObjectRef, value: &str, occurred_at: i64) -> CrmObjectCommand {
    CrmObjectCommand::RecordPropertyChange {
        object,
        name: "firstname".to_string(),
        value: value.to_string(),
        occurred_at,
    }
}

fn erasure(object: ObjectRef, occurred_at: i64) -> CrmObjectCommand {
    CrmObjectCommand::ErasePersonalData {
        object,
        occurred_at,
    }
}

/// The `firstname` values a stream's property events carry, in sequence order, and checks the
/// sequences run 1, 2, 3...
async fn recorded_names(store: &EventStore, object: ObjectRef) -> Vec<String> {
    let events = store
        .read_stream(&object.stream_id(), 0)
        .await
        .expect("stream");
    let sequences: Vec<i64> = events.iter().map(|e| e.event.sequence).collect();
    let expected: Vec<i64> = (1..=events.len() as i64).collect();
    assert_eq!(sequences, expected, "no gap or repeat");
    events
        .iter()
        .filter_map(
            |e| match serde_json::from_str(&e.event.payload).expect("event") {
                CrmObjectEvent::PropertiesChanged { changes, .. } => {
                    changes.get("firstname").cloned()
                }
                _ => None,
            },
        )
        .collect()
}

/// A recorder that lost a race decides on what the other instance wrote, not on its own stale
/// copy: after the other erased a contact, its late change to that contact is recorded erased
/// (a decision on the stale copy would bring the personal data back). Covers a contact this
/// recorder had cached (brought up to date from the log's tail) and one it never saw (built
/// from the tail, where its stream begins).
async fn a_recorder_that_lost_a_race_decides_on_the_other_instances_events(t: TestDb) {
    let a = Recorder::start(EventStore::new(t.db.clone()));
    let b = Recorder::start(EventStore::new(
        Db::connect(&t.url).await.expect("a second connection"),
    ));
    let at = 1_700_000_000_000;
    let cached = contact(1);
    a.record(job("a1", name_change(cached, "Ada", at)))
        .await
        .expect("a records");
    b.record(job("b1", erasure(cached, at + 1)))
        .await
        .expect("b erases");
    // A's copy says sequence 1, not erased: its optimistic append loses, it decides again.
    a.record(job("a2", name_change(cached, "Ada again", at + 2)))
        .await
        .expect("a records after losing the race");

    let unseen = contact(2);
    b.record(job("b2", name_change(unseen, "Grace", at + 3)))
        .await
        .expect("b records");
    b.record(job("b3", erasure(unseen, at + 4)))
        .await
        .expect("b erases");
    // A is contended now (it lost a race moments ago): it decides under the append lock.
    a.record(job("a3", name_change(unseen, "Grace again", at + 5)))
        .await
        .expect("a records a contact it never saw");

    both_changes_recorded_erased(&t, [cached, unseen]).await;
}

/// A recorder far behind the log (the other instance wrote more than one catch-up reads of
/// the tail) still decides on the other's events: the contacts it had cached are found stale,
/// in the group that catches up and in a later one that trusts the tail read since.
async fn a_recorder_far_behind_the_log_decides_on_the_other_instances_events(t: TestDb) {
    let a = Recorder::start(EventStore::new(t.db.clone()));
    let b = Recorder::start(EventStore::new(
        Db::connect(&t.url).await.expect("a second connection"),
    ));
    let at = 1_700_000_000_000;
    let (first, second) = (contact(1), contact(2));
    for (key, object, name) in [("a1", first, "Ada"), ("a2", second, "Grace")] {
        a.record(job(key, name_change(object, name, at)))
            .await
            .expect("a records");
    }
    for (key, object) in [("b1", first), ("b2", second)] {
        b.record(job(key, erasure(object, at + 1)))
            .await
            .expect("b erases");
    }
    let flood = Message {
        dedup_key: Some(b"b3".to_vec()),
        commands: (10..6_010)
            .map(|id| name_change(contact(id), "Someone", at + 2))
            .collect(),
        metadata: "{}".to_string(),
        raw_events: Vec::new(),
    };
    b.record(vec![flood])
        .await
        .expect("b records 6,000 contacts");
    // A's optimistic append loses; deciding again, it finds the tail too long to read whole.
    a.record(job("a3", name_change(first, "Ada again", at + 3)))
        .await
        .expect("a records after losing the race");
    // Contended now, A trusts the (empty) tail since: its stale copy must not win.
    a.record(job("a4", name_change(second, "Grace again", at + 4)))
        .await
        .expect("a records on a copy it cached before the catch-up");

    both_changes_recorded_erased(&t, [first, second]).await;
}

/// Each of `objects` has two name changes recorded, both erased: a decision on a stale copy
/// would have brought the personal data back.
async fn both_changes_recorded_erased(t: &TestDb, objects: [ObjectRef; 2]) {
    let store = EventStore::new(t.db.clone());
    for object in objects {
        let names = recorded_names(&store, object).await;
        assert_eq!(names.len(), 2, "{object:?}: both changes recorded");
        assert!(
            names.iter().all(|name| name == ERASED_VALUE),
            "{object:?}: nothing of the erased data survives or comes back: {names:?}"
        );
    }
}

on_both_backends!(
    a_recorder_far_behind_the_log_decides_on_the_other_instances_events,
    a_recorder_that_lost_a_race_decides_on_the_other_instances_events,
    the_append_lock_holds_back_every_other_appender,
    two_recorders_racing_on_hot_streams_record_every_job,
    the_readiness_probe_writes_for_real,
    appended_events_read_back_in_order,
    a_taken_sequence_is_a_conflict_and_writes_nothing,
    a_repeated_dedup_key_records_nothing,
    a_large_batch_of_many_streams_commits_whole,
    concurrent_appenders_never_let_a_follower_skip_an_event,
    racing_writers_on_one_stream_get_exactly_one_winner_per_sequence,
    appends_wake_local_subscribers,
);
