//! The sync-run aggregate: the rules a run's commands follow.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::commands::SyncRunCommand;
use super::error::SyncRunError;
use super::events::SyncRunEvent;
use super::state::{ResumePoint, SyncRunView, SyncStatus};
use crate::ids::ObjectType;

/// The `stream_type` of sync-run streams (one stream per run).
pub const SYNC_RUN_STREAM: &str = "sync_run";

/// One sync run, rebuilt from its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    run: Option<SyncRunView>,
}

impl SyncRun {
    /// The run's state; `None` before it started.
    pub fn view(&self) -> Option<&SyncRunView> {
        self.run.as_ref()
    }

    /// The run's status; `None` before it started.
    pub fn status(&self) -> Option<SyncStatus> {
        self.run.as_ref().map(|run| run.status)
    }

    /// Where to continue paging `object_type`: [`ResumePoint::Beginning`] before any page of it.
    pub fn resume_point(&self, object_type: ObjectType) -> ResumePoint {
        self.run
            .as_ref()
            .map_or(ResumePoint::Beginning, |run| run.resume_point(object_type))
    }

    /// The events `command` records, without applying them.
    pub fn decide(&self, command: SyncRunCommand) -> Result<Vec<SyncRunEvent>, SyncRunError> {
        let event = match command {
            SyncRunCommand::StartSync {
                mode,
                started_at,
                since_ms,
                history,
            } => {
                if let Some(status) = self.status() {
                    return Err(SyncRunError::AlreadyStarted { status });
                }
                SyncRunEvent::SyncStarted {
                    mode,
                    since_ms,
                    history,
                    started_at,
                }
            }
            SyncRunCommand::RecordPage {
                object_type,
                cursor_after,
                objects,
                events_recorded,
                requests,
                at,
            } => {
                let run = self.running()?;
                if run.resume_point(object_type) == ResumePoint::Done {
                    return Err(SyncRunError::ObjectTypeDone { object_type });
                }
                SyncRunEvent::SyncPageRecorded {
                    object_type,
                    cursor_after,
                    objects,
                    events_recorded,
                    requests,
                    recorded_at: at,
                }
            }
            SyncRunCommand::CompleteSync { at, watermark_ms } => SyncRunEvent::SyncCompleted {
                watermark_ms,
                totals: self.running()?.totals,
                completed_at: at,
            },
            SyncRunCommand::FailSync { reason, at } => {
                self.running()?;
                SyncRunEvent::SyncFailed {
                    reason,
                    failed_at: at,
                }
            }
            SyncRunCommand::PlanProperties {
                properties,
                full_types,
                at,
            } => {
                self.running()?;
                SyncRunEvent::SyncPropertiesPlanned {
                    properties,
                    full_types,
                    planned_at: at,
                }
            }
            SyncRunCommand::ResumeSync { at } => match self.status() {
                None => return Err(SyncRunError::NotStarted),
                Some(SyncStatus::Failed) => SyncRunEvent::SyncResumed { resumed_at: at },
                Some(status) => return Err(SyncRunError::NotFailed { status }),
            },
        };
        Ok(vec![event])
    }

    /// The run, if it is running.
    fn running(&self) -> Result<&SyncRunView, SyncRunError> {
        match &self.run {
            None => Err(SyncRunError::NotStarted),
            Some(run) if run.status == SyncStatus::Running => Ok(run),
            Some(run) => Err(SyncRunError::NotRunning { status: run.status }),
        }
    }
}

impl Aggregate for SyncRun {
    const TYPE: &'static str = SYNC_RUN_STREAM;
    type Command = SyncRunCommand;
    type Event = SyncRunEvent;
    type Error = SyncRunError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match (&mut self.run, event) {
            (
                None,
                SyncRunEvent::SyncStarted {
                    mode,
                    since_ms,
                    history,
                    started_at,
                },
            ) => self.run = Some(SyncRunView::started(mode, since_ms, history, started_at)),
            (Some(run), event) => run.apply(event),
            // `decide` records nothing before the start.
            (None, _) => {}
        }
    }
}
