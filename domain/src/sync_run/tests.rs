//! The sync-run aggregate, given/when/then, and the view `GET /sync/runs/{id}` serves.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::json;

use super::*;
use crate::ids::ObjectType;

type Given = TestFramework<SyncRun>;

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, minute, 0).unwrap()
}

fn started(minute: u32) -> SyncRunEvent {
    SyncRunEvent::SyncStarted {
        mode: SyncMode::Full,
        since_ms: None,
        history: HistoryScope::All,
        started_at: at(minute),
    }
}

fn page(object_type: ObjectType, cursor: Option<&str>, objects: u64, minute: u32) -> SyncRunEvent {
    SyncRunEvent::SyncPageRecorded {
        object_type,
        cursor_after: cursor.map(str::to_string),
        objects,
        events_recorded: objects * 2,
        requests: 1,
        recorded_at: at(minute),
    }
}

fn record(
    object_type: ObjectType,
    cursor: Option<&str>,
    objects: u64,
    minute: u32,
) -> SyncRunCommand {
    SyncRunCommand::RecordPage {
        object_type,
        cursor_after: cursor.map(str::to_string),
        objects,
        events_recorded: objects * 2,
        requests: 1,
        at: at(minute),
    }
}

fn failed(minute: u32) -> SyncRunEvent {
    SyncRunEvent::SyncFailed {
        reason: "HubSpot answered 503 five times".into(),
        failed_at: at(minute),
    }
}

fn completed(minute: u32, totals: SyncTotals) -> SyncRunEvent {
    SyncRunEvent::SyncCompleted {
        watermark_ms: 1_795_427_999_000,
        totals,
        completed_at: at(minute),
    }
}

fn rebuilt(events: Vec<SyncRunEvent>) -> SyncRun {
    let mut run = SyncRun::default();
    for event in events {
        run.apply(event);
    }
    run
}

#[tokio::test]
async fn starting_an_incremental_run_records_its_watermark() {
    Given::with(())
        .given_no_previous_events()
        .when_async(SyncRunCommand::StartSync {
            mode: SyncMode::Incremental,
            started_at: at(0),
            since_ms: Some(1_795_000_000_000),
            history: HistoryScope::None,
        })
        .await
        .then_expect_events(vec![SyncRunEvent::SyncStarted {
            mode: SyncMode::Incremental,
            since_ms: Some(1_795_000_000_000),
            history: HistoryScope::None,
            started_at: at(0),
        }]);
}

#[tokio::test]
async fn a_run_cannot_start_twice() {
    Given::with(())
        .given(vec![started(0)])
        .when_async(SyncRunCommand::StartSync {
            mode: SyncMode::Full,
            started_at: at(1),
            since_ms: None,
            history: HistoryScope::All,
        })
        .await
        .then_expect_error_message("sync run has already started and is running");
}

#[tokio::test]
async fn a_page_is_recorded_while_running() {
    Given::with(())
        .given(vec![started(0)])
        .when_async(record(ObjectType::Contact, Some("100"), 100, 1))
        .await
        .then_expect_events(vec![page(ObjectType::Contact, Some("100"), 100, 1)]);
}

#[tokio::test]
async fn a_page_before_the_start_is_refused() {
    Given::with(())
        .given_no_previous_events()
        .when_async(record(ObjectType::Contact, Some("100"), 100, 1))
        .await
        .then_expect_error(SyncRunError::NotStarted);
}

#[tokio::test]
async fn a_page_of_a_failed_run_is_refused_until_it_resumes() {
    Given::with(())
        .given(vec![started(0), failed(1)])
        .when_async(record(ObjectType::Deal, None, 3, 2))
        .await
        .then_expect_error_message("sync run is failed, not running");
}

#[tokio::test]
async fn a_page_of_a_type_already_done_is_refused() {
    Given::with(())
        .given(vec![started(0), page(ObjectType::Company, None, 7, 1)])
        .when_async(record(ObjectType::Company, Some("x"), 1, 2))
        .await
        .then_expect_error(SyncRunError::ObjectTypeDone {
            object_type: ObjectType::Company,
        });
}

#[tokio::test]
async fn completing_records_the_watermark_and_the_run_totals() {
    let totals = SyncTotals {
        pages: 2,
        objects: 107,
        events_recorded: 214,
        requests: 2,
    };
    Given::with(())
        .given(vec![
            started(0),
            page(ObjectType::Contact, None, 100, 1),
            page(ObjectType::Company, None, 7, 2),
        ])
        .when_async(SyncRunCommand::CompleteSync {
            at: at(3),
            watermark_ms: 1_795_427_999_000,
        })
        .await
        .then_expect_events(vec![completed(3, totals)]);
}

#[tokio::test]
async fn a_completed_run_cannot_fail() {
    Given::with(())
        .given(vec![started(0), completed(1, SyncTotals::default())])
        .when_async(SyncRunCommand::FailSync {
            reason: "late".into(),
            at: at(2),
        })
        .await
        .then_expect_error(SyncRunError::NotRunning {
            status: SyncStatus::Completed,
        });
}

#[tokio::test]
async fn a_failed_run_cannot_complete() {
    Given::with(())
        .given(vec![started(0), failed(1)])
        .when_async(SyncRunCommand::CompleteSync {
            at: at(2),
            watermark_ms: 1,
        })
        .await
        .then_expect_error(SyncRunError::NotRunning {
            status: SyncStatus::Failed,
        });
}

#[tokio::test]
async fn a_running_run_records_its_failure() {
    Given::with(())
        .given(vec![started(0)])
        .when_async(SyncRunCommand::FailSync {
            reason: "HubSpot answered 503 five times".into(),
            at: at(1),
        })
        .await
        .then_expect_events(vec![failed(1)]);
}

#[tokio::test]
async fn a_failed_run_can_be_resumed() {
    Given::with(())
        .given(vec![started(0), failed(1)])
        .when_async(SyncRunCommand::ResumeSync { at: at(2) })
        .await
        .then_expect_events(vec![SyncRunEvent::SyncResumed { resumed_at: at(2) }]);
}

#[tokio::test]
async fn a_running_run_cannot_be_resumed() {
    Given::with(())
        .given(vec![started(0)])
        .when_async(SyncRunCommand::ResumeSync { at: at(1) })
        .await
        .then_expect_error_message("only a failed sync run can be resumed; this one is running");
}

#[tokio::test]
async fn a_run_that_never_started_cannot_be_resumed() {
    Given::with(())
        .given_no_previous_events()
        .when_async(SyncRunCommand::ResumeSync { at: at(1) })
        .await
        .then_expect_error(SyncRunError::NotStarted);
}

#[test]
fn a_resumed_run_continues_each_type_from_its_last_cursor() {
    let run = rebuilt(vec![
        started(0),
        page(ObjectType::Contact, None, 100, 1),
        page(ObjectType::Company, Some("200"), 100, 2),
        failed(3),
        SyncRunEvent::SyncResumed { resumed_at: at(4) },
    ]);
    assert_eq!(run.status(), Some(SyncStatus::Running));
    assert_eq!(run.resume_point(ObjectType::Contact), ResumePoint::Done);
    assert_eq!(
        run.resume_point(ObjectType::Company),
        ResumePoint::After("200".into())
    );
    assert_eq!(run.resume_point(ObjectType::Deal), ResumePoint::Beginning);
    let view = run.view().unwrap();
    assert_eq!(view.resumes, 1);
    assert_eq!(
        (view.failure_reason.as_deref(), view.finished_at),
        (None, None)
    );
}

#[test]
fn a_run_not_started_has_no_view_and_starts_every_type_from_the_beginning() {
    let run = SyncRun::default();
    assert_eq!(run.view(), None);
    assert_eq!(run.status(), None);
    assert_eq!(
        run.resume_point(ObjectType::Contact),
        ResumePoint::Beginning
    );
}

#[test]
fn the_view_serializes_for_the_api() {
    let run = rebuilt(vec![
        started(0),
        page(ObjectType::Contact, Some("100"), 100, 1),
        page(ObjectType::Contact, None, 20, 2),
        page(ObjectType::Deal, Some("abc"), 5, 3),
        failed(4),
    ]);
    let view = run.view().unwrap();
    assert_eq!(
        serde_json::to_value(view).unwrap(),
        json!({
            "status": "failed",
            "mode": "full",
            "since_ms": null,
            "history": {"records": "all"},
            "started_at": "2026-11-23T10:00:00.000Z",
            "updated_at": "2026-11-23T10:04:00.000Z",
            "finished_at": "2026-11-23T10:04:00.000Z",
            "watermark_ms": null,
            "failure_reason": "HubSpot answered 503 five times",
            "resumes": 0,
            "progress": {
                "contact": {"cursor": null, "done": true, "pages": 2, "objects": 120,
                            "events_recorded": 240, "requests": 2},
                "deal": {"cursor": "abc", "done": false, "pages": 1, "objects": 5,
                         "events_recorded": 10, "requests": 1},
            },
            "totals": {"pages": 3, "objects": 125, "events_recorded": 250, "requests": 3},
        })
    );
}

#[test]
fn a_completed_run_shows_its_watermark_and_finish() {
    let run = rebuilt(vec![started(0), completed(5, SyncTotals::default())]);
    let view = run.view().unwrap();
    assert_eq!(view.status, SyncStatus::Completed);
    assert_eq!(view.watermark_ms, Some(1_795_427_999_000));
    assert_eq!(view.finished_at, Some(at(5)));
}

#[test]
fn a_snapshot_of_the_aggregate_round_trips() {
    let run = rebuilt(vec![
        started(0),
        page(ObjectType::Company, Some("200"), 100, 2),
    ]);
    let value = serde_json::to_value(&run).unwrap();
    let back: SyncRun = serde_json::from_value(value).unwrap();
    assert_eq!(back, run);
}

#[test]
fn every_event_reads_back_and_has_a_stable_type_name_and_version() {
    let events = [
        started(0),
        page(ObjectType::Deal, None, 1, 1),
        completed(2, SyncTotals::default()),
        failed(3),
        SyncRunEvent::SyncResumed { resumed_at: at(4) },
    ];
    let names: Vec<_> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(
        names,
        [
            "SyncStarted",
            "SyncPageRecorded",
            "SyncCompleted",
            "SyncFailed",
            "SyncResumed"
        ]
    );
    for event in events {
        assert_eq!(event.event_version(), "1");
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(
            serde_json::from_value::<SyncRunEvent>(value).unwrap(),
            event
        );
    }
}

#[test]
fn a_start_recorded_before_history_existed_reads_as_no_history() {
    let event: SyncRunEvent = serde_json::from_value(json!({
        "type": "sync_started", "mode": "full", "since_ms": null,
        "started_at": "2026-11-23T10:00:00Z",
    }))
    .unwrap();
    let SyncRunEvent::SyncStarted { history, .. } = event else {
        panic!("not a start: {event:?}");
    };
    assert_eq!(history, HistoryScope::None);
}
