//! The demo data set: the reference story and more real events of 2023-2024.

use anyhow::{Context, anyhow};
use serde_json::Value;
use sqlx::PgPool;

use crate::model::NewEvent;
use crate::repo;

/// The demo data, embedded at build time.
const DEMO: &str = include_str!("../seed/demo.json");

/// Event fields that belong to the deal graph, not yet stored by this version.
const GRAPH_FIELDS: &[&str] = &["companies", "partnerships"];

/// What a seed run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Events created by this run.
    pub created: usize,
    /// Events that were already there.
    pub existing: usize,
}

/// The demo events, validated like any client's.
pub fn demo_events() -> anyhow::Result<Vec<NewEvent>> {
    let data: Value = serde_json::from_str(DEMO).context("seed/demo.json is not valid JSON")?;
    let events = data
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("seed/demo.json has no `events` array"))?;
    events
        .iter()
        .map(|raw| {
            let mut raw = raw.clone();
            if let Some(object) = raw.as_object_mut() {
                for field in GRAPH_FIELDS {
                    object.remove(*field);
                }
            }
            let slug = raw.get("slug").cloned().unwrap_or(Value::Null);
            NewEvent::from_json(raw).map_err(|errors| anyhow!("demo event {slug}: {errors:?}"))
        })
        .collect()
}

/// Loads the demo events; events whose slug exists are left alone, so a second run
/// adds nothing.
pub async fn load_demo(db: &PgPool) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    for event in demo_events()? {
        if repo::events::insert_if_absent(db, event).await? {
            report.created += 1;
        } else {
            report.existing += 1;
        }
    }
    Ok(report)
}
