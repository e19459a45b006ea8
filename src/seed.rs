//! The demo data set: the reference story, its deal and companies, and more real
//! events of 2023-2024 with theirs.

use std::fmt;

use anyhow::{Context, anyhow};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::error::ApiError;
use crate::model::partnership::NewPartnership;
use crate::model::{FieldError, NewCompany, NewEvent};
use crate::repo::audit::Actor;
use crate::repo::companies::Companies;
use crate::repo::events::Events;
use crate::repo::partnerships::Partnerships;
use crate::repo::records;

/// The demo data, embedded at build time.
const DEMO: &str = include_str!("../seed/demo.json");

/// How many records of one kind a seed run created, and how many were already there.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Created by this run.
    pub created: usize,
    /// Already there (matched by slug), left alone.
    pub existing: usize,
}

/// What a seed run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Companies.
    pub companies: Counts,
    /// Partnerships.
    pub partnerships: Counts,
    /// Events.
    pub events: Counts,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            ("companies", self.companies),
            ("partnerships", self.partnerships),
            ("events", self.events),
        ];
        let text: Vec<String> = parts
            .iter()
            .map(|(name, c)| {
                format!(
                    "{} {name} created, {} already present",
                    c.created, c.existing
                )
            })
            .collect();
        write!(f, "demo data: {}", text.join("; "))
    }
}

/// One section of the demo data (`companies`, `partnerships`, `events`), each entry
/// validated like any client's input.
fn section<T>(
    data: &Value,
    name: &str,
    parse: fn(Value) -> Result<T, Vec<FieldError>>,
) -> anyhow::Result<Vec<T>> {
    data.get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("seed/demo.json has no `{name}` array"))?
        .iter()
        .map(|raw| {
            let slug = raw.get("slug").cloned().unwrap_or(Value::Null);
            parse(raw.clone()).map_err(|errors| anyhow!("demo {name} {slug}: {errors:?}"))
        })
        .collect()
}

/// Inserts each record in its own transaction, as the `seed` actor; every demo record
/// has an explicit slug, so one that is already there is a 409 and is counted, not
/// changed.
async fn load<T, R>(
    db: &PgPool,
    records: Vec<T>,
    insert: impl AsyncFn(&mut PgConnection, &Actor, T) -> Result<R, ApiError>,
) -> anyhow::Result<Counts> {
    let actor = Actor::system("seed");
    let mut counts = Counts::default();
    for record in records {
        let mut tx = db.begin().await?;
        match insert(&mut tx, &actor, record).await {
            Ok(_) => {
                tx.commit().await?;
                counts.created += 1;
            }
            Err(ApiError::FieldConflict { .. }) => counts.existing += 1,
            Err(e) => return Err(anyhow!("{e}: {e:?}")),
        }
    }
    Ok(counts)
}

/// Loads the demo companies, then the deals between them, then the events that name
/// both; records whose slug exists are left alone, so a second run adds nothing.
pub async fn load_demo(db: &PgPool) -> anyhow::Result<SeedReport> {
    let data: Value = serde_json::from_str(DEMO).context("seed/demo.json is not valid JSON")?;
    let companies = section(&data, "companies", NewCompany::from_json)?;
    let partnerships = section(&data, "partnerships", NewPartnership::from_json)?;
    let events = section(&data, "events", NewEvent::from_json)?;
    Ok(SeedReport {
        companies: load(db, companies, records::create::<Companies>).await?,
        partnerships: load(db, partnerships, records::create::<Partnerships>).await?,
        events: load(db, events, records::create::<Events>).await?,
    })
}
