//! `industry-events import events|companies FILE`: the import flow on a file, straight
//! into the database, with a progress bar on a terminal (plain lines otherwise), a
//! summary on standard output, the bad records on standard error, and a non-zero exit
//! when there are any.

use std::io::{IsTerminal, Read};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use super::{Importer, stop_error};
use crate::config::{ImportArgs, ImportCommand};
use crate::error::ApiError;
use crate::model::export::Exportable;
use crate::model::import::IMPORT_PARAMS;
use crate::model::import::{ImportFormat, ImportMode, ImportOptions, ImportSummary, LineError};
use crate::model::list::params::QueryParams;
use crate::repo::audit::Actor;
use crate::repo::companies::Companies;
use crate::repo::events::Events;
use crate::repo::records::Table;

/// How often a plain progress line is written when standard error is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Runs `import events|companies`; `max_record` bounds one record (`MAX_BODY_BYTES`).
pub async fn run(db: &PgPool, command: ImportCommand, max_record: usize) -> anyhow::Result<()> {
    match command {
        ImportCommand::Events(args) => import_file::<Events>(db, &args, max_record).await,
        ImportCommand::Companies(args) => import_file::<Companies>(db, &args, max_record).await,
    }
}

async fn import_file<T>(db: &PgPool, args: &ImportArgs, max_record: usize) -> anyhow::Result<()>
where
    T: Table,
    T::Record: Exportable,
{
    let format = match args.format.as_deref() {
        Some("csv") => ImportFormat::Csv,
        Some(_) => ImportFormat::Ndjson,
        None if args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
        {
            ImportFormat::Csv
        }
        None => ImportFormat::Ndjson,
    };
    // The options go through the route's own rules.
    let query = format!("mode={}&on_conflict={}", args.mode, args.on_conflict);
    let options = QueryParams::parse(Some(&query), IMPORT_PARAMS)
        .and_then(|params| ImportOptions::from_params(&params))
        .map_err(ApiError::from)?;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = Progress::new(size);
    let (mut records, reader) = super::read::<T, _>(format, progress.wrap(file), max_record);

    let actor = Actor::system("import");
    let mut tx = db.begin().await?;
    let mut importer = Importer::<T>::new(&actor, options, super::helper::<T>(db, &options).await);
    // A FILE that is a pipe may pause: the transaction is kept alive meanwhile.
    importer
        .take_all(&mut tx, &mut records, None, |importer| {
            progress.records(importer.seen());
        })
        .await?;
    reader
        .await
        .context("the file's reader")?
        .map_err(stop_error)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let seen = importer.seen();
    let (summary, errors) = importer.finish(&mut tx).await?;
    progress.finish(seen);
    print_errors(&args.file, &errors, summary.failed);
    if options.mode == ImportMode::Atomic && summary.failed > 0 {
        tx.rollback().await?;
        let stored_nothing = ImportSummary {
            failed: summary.failed,
            ..ImportSummary::default()
        };
        println!("{}", serde_json::to_string(&stored_nothing)?);
        bail!(
            "{} of the records are bad, so nothing was stored (--mode atomic)",
            summary.failed
        );
    }
    tx.commit().await?;
    if let Err(error) = crate::http::live::announce_outside_write(db).await {
        // The records are stored; the instances find them at their next catch-up.
        tracing::warn!(error = %error, "could not tell running instances about the import");
    }
    let mut shown = summary.clone();
    shown.errors = None;
    println!("{}", serde_json::to_string(&shown)?);
    if summary.failed > 0 {
        bail!(
            "{} of the records are bad (the good ones were stored)",
            summary.failed
        );
    }
    Ok(())
}

/// The bad records, one a line: `FILE:LINE: field: message`.
fn print_errors(file: &std::path::Path, errors: &[LineError], failed: u64) {
    for error in errors {
        if error.field.is_empty() {
            eprintln!("{}:{}: {}", file.display(), error.line, error.message);
        } else {
            eprintln!(
                "{}:{}: {}: {}",
                file.display(),
                error.line,
                error.field,
                error.message
            );
        }
    }
    let listed = errors
        .iter()
        .map(|e| e.line)
        .collect::<std::collections::BTreeSet<_>>();
    let unlisted = failed.saturating_sub(listed.len() as u64);
    if unlisted > 0 {
        eprintln!("... and {unlisted} more bad records");
    }
}

/// Where the import is: a bar on a terminal, a line every few seconds otherwise.
struct Progress {
    bar: ProgressBar,
    terminal: bool,
    started: Instant,
    last_line: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(size: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = if terminal {
            let bar = ProgressBar::new(size);
            let style = ProgressStyle::with_template(
                "{spinner} [{bar:30}] {percent:>3}% {msg} · {elapsed} elapsed, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            terminal,
            started: Instant::now(),
            last_line: std::cell::Cell::new(Instant::now()),
        }
    }

    /// The file, counted as it is read (the bar's position is bytes).
    fn wrap<R: Read>(&self, source: R) -> impl Read + use<R> {
        self.bar.wrap_read(source)
    }

    fn rate(&self, records: u64) -> f64 {
        records as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }

    fn records(&self, records: u64) {
        if self.terminal {
            if records.is_multiple_of(100) {
                self.bar
                    .set_message(format!("{records} records, {:.0}/s", self.rate(records)));
            }
            return;
        }
        if self.last_line.get().elapsed() >= PLAIN_EVERY {
            self.last_line.set(Instant::now());
            eprintln!(
                "import: {records} records read ({:.0}/s)",
                self.rate(records)
            );
        }
    }

    fn finish(&self, records: u64) {
        self.bar.finish_and_clear();
        eprintln!(
            "import: {records} records in {:.1} s ({:.0}/s)",
            self.started.elapsed().as_secs_f64(),
            self.rate(records)
        );
    }
}
