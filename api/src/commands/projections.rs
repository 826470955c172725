//! `healthscore projections rebuild|status`.

use std::time::Instant;

use clap::Subcommand;
use healthscore_projections::projector::{Projector, READ_MODELS};
use healthscore_projections::{Db, EventStore};
use indicatif::{ProgressBar, ProgressStyle};

/// Read-model maintenance.
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Empty every read model and replay the whole event log into them (the alerts table
    /// too: the next `serve` folds it again from the log and decides no alert twice).
    Rebuild,
    /// Print each projector's position and lag behind the log.
    Status,
}

/// Runs a projections subcommand.
pub async fn run(db: &Db, command: ProjectionsCommand) -> anyhow::Result<()> {
    let store = EventStore::new(db.clone());
    let projector = Projector::new(store.clone());
    match command {
        ProjectionsCommand::Rebuild => {
            let head = store.head().await?;
            let bar = ProgressBar::new(u64::try_from(head).unwrap_or_default());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} rebuilding [{bar:40}] {pos}/{len} positions, {per_sec}, eta {eta}",
                )?
                .progress_chars("=> "),
            );
            let shown = crate::telemetry::show_progress(&bar);
            let started = Instant::now();
            let events = projector
                .rebuild(|position| bar.set_position(u64::try_from(position).unwrap_or_default()))
                .await?;
            drop(shown);
            healthscore_projections::alerts::reset(db).await?;
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "rebuilt read models from {events} events in {seconds:.2} s ({:.0} events/s)",
                events as f64 / seconds.max(1e-9)
            );
        }
        ProjectionsCommand::Status => {
            let head = store.head().await?;
            let position = projector.checkpoint().await?;
            println!("log head: {head}");
            println!("{:<12} {:>12} {:>12}", "projector", "position", "lag");
            println!("{READ_MODELS:<12} {position:>12} {:>12}", head - position);
            let alerter = healthscore_projections::alerts::checkpoint(db).await?;
            let name = healthscore_projections::alerts::ALERTER;
            println!("{name:<12} {alerter:>12} {:>12}", head - alerter);
        }
    }
    Ok(())
}
