//! SQL for events: lookups, the filtered keyset list, and transactional writes.

use anyhow::anyhow;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::audit::{self, Action, Actor};
use super::graph::{self, Target};
use super::{SlugScope, pick_slug, tag_strings};
use crate::error::ApiError;
use crate::model::cursor::CursorKey;
use crate::model::event::merge_patch;
use crate::model::role::Role;
use crate::model::{
    Category, Cursor, Event, EventFilter, EventListItem, EventSort, FieldError, NewEvent, Page,
    Ref, Significance, Source, Tag, Tombstone, etag,
};

/// The columns every event query reads, in `EventRow` order.
const COLUMNS: &str = "e.id, e.slug, e.title, e.occurred_on, e.category, e.significance, \
     e.summary, e.what_happened, e.why_it_matters, e.tags, e.sources, e.created_at, \
     e.updated_at, e.version, e.deleted_at";

/// An `events` row as the database returns it.
#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    slug: String,
    title: String,
    occurred_on: NaiveDate,
    category: String,
    significance: i16,
    summary: String,
    what_happened: String,
    why_it_matters: String,
    tags: Vec<String>,
    sources: Json<Vec<Source>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
    deleted_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    rank: Option<f32>,
}

impl EventRow {
    fn into_event(self) -> Result<Event, ApiError> {
        let category = Category::parse(&self.category)
            .ok_or_else(|| anyhow!("stored category `{}` is unknown", self.category))?;
        let significance = Significance::from_rank(self.significance)
            .ok_or_else(|| anyhow!("stored significance {} is unknown", self.significance))?;
        Ok(Event {
            id: self.id,
            slug: self.slug,
            title: self.title,
            occurred_on: self.occurred_on,
            category,
            significance,
            summary: self.summary,
            what_happened: self.what_happened,
            why_it_matters: self.why_it_matters,
            tags: self.tags,
            sources: self.sources.0,
            // Filled by `hydrate`, for many events at once.
            companies: Vec::new(),
            partnerships: Vec::new(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }

    fn into_list_item(self) -> Result<EventListItem, ApiError> {
        if self.deleted_at.is_some() {
            return Ok(EventListItem::Deleted(Tombstone {
                id: self.id,
                slug: self.slug,
                deleted: true,
                updated_at: self.updated_at,
            }));
        }
        Ok(EventListItem::Live(Box::new(self.into_event()?)))
    }

    /// The cursor that starts the page after this row.
    fn cursor(&self, filter: &EventFilter) -> Cursor {
        let key = match filter.sort {
            EventSort::OccurredOnDesc | EventSort::OccurredOnAsc => {
                CursorKey::Date(self.occurred_on)
            }
            EventSort::UpdatedAtDesc | EventSort::UpdatedAtAsc => CursorKey::Time(self.updated_at),
            EventSort::TitleAsc => CursorKey::Text(self.title.clone()),
            EventSort::SignificanceDesc => CursorKey::Rank(self.significance),
            EventSort::Relevance => CursorKey::Score(self.rank.unwrap_or(0.0)),
        };
        Cursor {
            sort: filter.sort,
            fingerprint: filter.fingerprint(),
            key,
            id: self.id,
        }
    }
}

/// Pushes the condition that selects a live event by id or slug.
fn push_ref(qb: &mut QueryBuilder<Postgres>, reference: &Ref) {
    match reference {
        Ref::Id(id) => qb.push("e.id = ").push_bind(*id),
        Ref::Slug(slug) => qb.push("e.slug = ").push_bind(slug.as_str().to_owned()),
    };
    qb.push(" and e.deleted_at is null");
}

/// One live event by id or slug, with its companies and deals.
#[tracing::instrument(skip_all, err)]
pub async fn find(db: &PgPool, reference: &Ref) -> Result<Option<Event>, ApiError> {
    let mut conn = db.acquire().await?;
    let Some(mut event) = fetch(&mut *conn, reference, false).await? else {
        return Ok(None);
    };
    hydrate(&mut conn, vec![&mut event]).await?;
    Ok(Some(event))
}

/// Fills the companies and deals of `events`: one statement, however many events.
async fn hydrate(conn: &mut PgConnection, events: Vec<&mut Event>) -> Result<(), ApiError> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let (mut companies, mut deals) = graph::event_links(&mut *conn, &ids).await?;
    for event in events {
        event.companies = companies.remove(&event.id).unwrap_or_default();
        event.partnerships = deals.remove(&event.id).unwrap_or_default();
    }
    Ok(())
}

async fn fetch(
    db: impl PgExecutor<'_>,
    reference: &Ref,
    for_update: bool,
) -> Result<Option<Event>, ApiError> {
    let mut qb = QueryBuilder::<Postgres>::new(format!("select {COLUMNS} from events e where "));
    push_ref(&mut qb, reference);
    if for_update {
        qb.push(" for update");
    }
    let row = qb.build_query_as::<EventRow>().fetch_optional(db).await?;
    row.map(EventRow::into_event).transpose()
}

/// A page of events (and, for `updated_since`, tombstones) matching `filter`, with
/// their companies and deals: two statements whatever the page size.
/// `company_ids` are `filter.companies`, resolved by the caller. The dashboard's
/// queries, whose plan cannot depend on the parameters (see [`plan_is_fixed`]), run
/// on `fixed_plans`; the rest on `db`.
#[tracing::instrument(skip_all, err)]
pub async fn list(
    db: &PgPool,
    fixed_plans: &PgPool,
    filter: &EventFilter,
    company_ids: &[Uuid],
) -> Result<Page<EventListItem>, ApiError> {
    let pool = if plan_is_fixed(filter, company_ids) {
        fixed_plans
    } else {
        db
    };
    let mut conn = pool.acquire().await?;
    let mut rows = list_query(filter, company_ids)
        .build_query_as::<EventRow>()
        .fetch_all(&mut *conn)
        .await?;
    let limit = filter.limit as usize;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|row| row.cursor(filter))
    } else {
        None
    };
    let mut items = rows
        .into_iter()
        .map(EventRow::into_list_item)
        .collect::<Result<Vec<_>, _>>()?;
    let live = items
        .iter_mut()
        .filter_map(|item| match item {
            EventListItem::Live(event) => Some(event.as_mut()),
            EventListItem::Deleted(_) => None,
        })
        .collect();
    hydrate(&mut conn, live).await?;
    Ok(Page { items, next })
}

/// Whether the list statement for `filter` has one right plan whatever its
/// parameters: "the latest events" or "the latest tagged X" (one tag, by date), in any
/// sort, paged by cursor. Each is an index walk in sort order that stops after a page.
/// Any other filter's selectivity can change the best plan (a common tag in a GIN
/// index, a narrow `updated_since` range, a full-text query), so those are planned for
/// their parameters.
fn plan_is_fixed(filter: &EventFilter, company_ids: &[Uuid]) -> bool {
    let tags_fixed = match filter.all_tags.len() {
        0 => true,
        1 => matches!(
            filter.sort,
            EventSort::OccurredOnDesc | EventSort::OccurredOnAsc
        ),
        _ => false,
    };
    tags_fixed
        && filter.any_tags.is_empty()
        && filter.exclude_tags.is_empty()
        && company_ids.is_empty()
        && filter.categories.is_empty()
        && filter.significance.is_none()
        && filter.min_significance.is_none()
        && filter.from.is_none()
        && filter.to.is_none()
        && filter.q.is_none()
        && filter.updated_since.is_none()
}

/// Builds the list statement: one `QueryBuilder`, every value bound.
fn list_query(filter: &EventFilter, company_ids: &[Uuid]) -> QueryBuilder<Postgres> {
    let include_deleted = filter.updated_since.is_some();
    // "Latest events tagged X": walk event_tags' primary key (tag, occurred_on, event_id)
    // instead of the GIN index; see the migration's note.
    let tag_driven = !include_deleted
        && !filter.all_tags.is_empty()
        && matches!(
            filter.sort,
            EventSort::OccurredOnDesc | EventSort::OccurredOnAsc
        );
    let (date_col, id_col) = if tag_driven {
        ("t.occurred_on", "t.event_id")
    } else {
        ("e.occurred_on", "e.id")
    };

    let mut qb = QueryBuilder::<Postgres>::new(format!("select {COLUMNS}"));
    if let Some(q) = &filter.q {
        qb.push(", ts_rank(e.search, websearch_to_tsquery('english', ")
            .push_bind(q.clone())
            .push(")) as rank");
    }
    if tag_driven {
        qb.push(" from event_tags t join events e on e.id = t.event_id where t.tag = ")
            .push_bind(filter.all_tags[0].as_str().to_owned());
    } else {
        qb.push(" from events e where true");
    }
    if !include_deleted {
        qb.push(" and e.deleted_at is null");
    }

    let rest_tags: &[Tag] = if tag_driven {
        &filter.all_tags[1..]
    } else {
        &filter.all_tags
    };
    if !rest_tags.is_empty() {
        qb.push(" and e.tags @> ").push_bind(tag_strings(rest_tags));
    }
    if !filter.any_tags.is_empty() {
        qb.push(" and e.tags && ")
            .push_bind(tag_strings(&filter.any_tags));
    }
    if !filter.exclude_tags.is_empty() {
        qb.push(" and not (e.tags && ")
            .push_bind(tag_strings(&filter.exclude_tags))
            .push(")");
    }
    for company in company_ids {
        qb.push(" and exists (select 1 from event_companies ec where ec.event_id = e.id and ec.company_id = ")
            .push_bind(*company);
        if let Some(role) = filter.role {
            qb.push(" and ec.role = ").push_bind(role.as_str());
        }
        qb.push(")");
    }
    if !filter.categories.is_empty() {
        let names: Vec<String> = filter
            .categories
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        qb.push(" and e.category = any(").push_bind(names).push(")");
    }
    if let Some(s) = filter.significance {
        qb.push(" and e.significance = ").push_bind(s.rank());
    }
    if let Some(s) = filter.min_significance {
        qb.push(" and e.significance >= ").push_bind(s.rank());
    }
    if let Some(from) = filter.from {
        qb.push(format!(" and {date_col} >= ")).push_bind(from);
    }
    if let Some(to) = filter.to {
        qb.push(format!(" and {date_col} <= ")).push_bind(to);
    }
    if let Some(q) = &filter.q {
        qb.push(" and e.search @@ websearch_to_tsquery('english', ")
            .push_bind(q.clone())
            .push(")");
    }
    if let Some(since) = filter.updated_since {
        qb.push(" and e.updated_at > ").push_bind(since);
    }

    let key_expr: String = match filter.sort {
        EventSort::OccurredOnDesc | EventSort::OccurredOnAsc => date_col.into(),
        EventSort::UpdatedAtDesc | EventSort::UpdatedAtAsc => "e.updated_at".into(),
        EventSort::TitleAsc => "e.title".into(),
        EventSort::SignificanceDesc => "e.significance".into(),
        // Pushed with its bound query by `push_key_expr`.
        EventSort::Relevance => String::new(),
    };
    let (cmp, dir) = if filter.sort.descending() {
        ("<", "desc")
    } else {
        (">", "asc")
    };

    if let Some(cursor) = &filter.cursor {
        // A row comparison, so the (key, id) index serves the seek.
        qb.push(" and (");
        push_key_expr(&mut qb, filter, &key_expr);
        qb.push(format!(", {id_col}) {cmp} ("));
        match &cursor.key {
            CursorKey::Date(d) => qb.push_bind(*d),
            CursorKey::Time(t) => qb.push_bind(*t),
            CursorKey::Text(s) => qb.push_bind(s.clone()),
            CursorKey::Rank(r) => qb.push_bind(*r),
            CursorKey::Score(f) => qb.push_bind(*f).push("::real"),
        };
        qb.push(", ").push_bind(cursor.id).push(")");
    }

    qb.push(" order by ");
    push_key_expr(&mut qb, filter, &key_expr);
    qb.push(format!(" {dir}, {id_col} {dir} limit "))
        .push_bind(i64::from(filter.limit) + 1);
    qb
}

/// Pushes the sort key expression; relevance needs the query bound again.
fn push_key_expr(qb: &mut QueryBuilder<Postgres>, filter: &EventFilter, key_expr: &str) {
    match (&filter.q, filter.sort) {
        (Some(q), EventSort::Relevance) => {
            qb.push("ts_rank(e.search, websearch_to_tsquery('english', ")
                .push_bind(q.clone())
                .push("))");
        }
        _ => {
            qb.push(key_expr);
        }
    }
}

/// Creates an event inside the caller's transaction, with its audit row; a taken
/// explicit slug is a 409.
#[tracing::instrument(skip_all, err)]
pub async fn insert(
    conn: &mut PgConnection,
    actor: &Actor,
    new: NewEvent,
) -> Result<Event, ApiError> {
    let id = Uuid::now_v7();
    let slug = pick_slug(
        &mut *conn,
        SlugScope::Events,
        new.slug.as_ref(),
        &new.title,
        id,
        None,
    )
    .await?;
    let row = sqlx::query_as::<_, EventRow>(
        r#"
        insert into events as e
            (id, slug, title, occurred_on, category, significance, summary,
             what_happened, why_it_matters, tags, sources)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        returning e.id, e.slug, e.title, e.occurred_on, e.category, e.significance,
            e.summary, e.what_happened, e.why_it_matters, e.tags, e.sources, e.created_at,
            e.updated_at, e.version, e.deleted_at
        "#,
    )
    .bind(id)
    .bind(slug.as_str())
    .bind(&new.title)
    .bind(new.occurred_on)
    .bind(new.category.as_str())
    .bind(new.significance.rank())
    .bind(&new.summary)
    .bind(&new.what_happened)
    .bind(&new.why_it_matters)
    .bind(tag_strings(&new.tags))
    .bind(Json(&new.sources))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| SlugScope::Events.conflict(e, &slug))?;
    let event = link_and_hydrate(&mut *conn, row, &new).await?;
    audit::record(
        conn,
        actor,
        Action::Create,
        "event",
        event.id,
        event.version,
        &event,
    )
    .await?;
    Ok(event)
}

/// Resolves and stores the companies and deals `new` names (every unknown reference
/// is reported at once), then returns the event with them.
async fn link_and_hydrate(
    conn: &mut PgConnection,
    row: EventRow,
    new: &NewEvent,
) -> Result<Event, ApiError> {
    let company_refs: Vec<&Ref> = new.companies.iter().map(|c| &c.company).collect();
    let deal_refs: Vec<&Ref> = new.partnerships.iter().collect();
    let companies = graph::lookup(&mut *conn, Target::Companies, &company_refs).await?;
    let deals = graph::lookup(&mut *conn, Target::Partnerships, &deal_refs).await?;
    let mut errors = Vec::new();
    for (i, found) in companies.iter().enumerate() {
        if found.is_none() {
            errors.push(FieldError::new(
                format!("companies[{i}].company"),
                format!("no company matches `{}`", company_refs[i]),
            ));
        }
    }
    for (i, found) in deals.iter().enumerate() {
        if found.is_none() {
            errors.push(FieldError::new(
                format!("partnerships[{i}]"),
                format!("no partnership matches `{}`", deal_refs[i]),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let roles: Vec<(Uuid, Role)> = companies
        .into_iter()
        .flatten()
        .zip(new.companies.iter().map(|c| c.role))
        .collect();
    let deals: Vec<Uuid> = deals.into_iter().flatten().collect();
    graph::replace_event_links(&mut *conn, row.id, &roles, &deals).await?;
    let mut event = row.into_event()?;
    hydrate(conn, vec![&mut event]).await?;
    Ok(event)
}

/// What the client's `If-Match` requires of the current version.
#[derive(Debug, Clone)]
pub enum Precondition {
    /// No `If-Match`: any version.
    None,
    /// `If-Match: *` or a list of entity tags, one of which must be current.
    Matches(Vec<String>),
}

impl Precondition {
    /// Checks the precondition against the current version of any resource, so every
    /// resource's writes share one `If-Match` rule.
    pub(crate) fn check_current(&self, id: Uuid, version: i64) -> Result<(), ApiError> {
        let current = etag(id, version);
        match self {
            Self::None => Ok(()),
            Self::Matches(tags) if tags.iter().any(|t| t == "*" || *t == current) => Ok(()),
            Self::Matches(_) => Err(ApiError::PreconditionFailed { current }),
        }
    }
}

/// Applies a JSON Merge Patch to a live event, atomically with the `If-Match` check.
#[tracing::instrument(skip_all, err)]
pub async fn patch(
    db: &PgPool,
    actor: &Actor,
    reference: Ref,
    precondition: Precondition,
    patch: Value,
) -> Result<Event, ApiError> {
    let mut tx = db.begin().await?;
    let mut current = fetch(&mut *tx, &reference, true)
        .await?
        .ok_or_else(|| ApiError::not_found("event", &reference))?;
    precondition.check_current(current.id, current.version)?;
    hydrate(&mut tx, vec![&mut current]).await?;
    let mut document = current.to_input_document();
    merge_patch(&mut document, &patch);
    let new = NewEvent::from_json(document)?;
    let slug = pick_slug(
        &mut tx,
        SlugScope::Events,
        new.slug.as_ref(),
        &new.title,
        current.id,
        Some(&current.slug),
    )
    .await?;
    let row = sqlx::query_as::<_, EventRow>(
        r#"
        update events as e set
            slug = $2, title = $3, occurred_on = $4, category = $5, significance = $6,
            summary = $7, what_happened = $8, why_it_matters = $9, tags = $10, sources = $11
        where e.id = $1
        returning e.id, e.slug, e.title, e.occurred_on, e.category, e.significance,
            e.summary, e.what_happened, e.why_it_matters, e.tags, e.sources, e.created_at,
            e.updated_at, e.version, e.deleted_at
        "#,
    )
    .bind(current.id)
    .bind(slug.as_str())
    .bind(&new.title)
    .bind(new.occurred_on)
    .bind(new.category.as_str())
    .bind(new.significance.rank())
    .bind(&new.summary)
    .bind(&new.what_happened)
    .bind(&new.why_it_matters)
    .bind(tag_strings(&new.tags))
    .bind(Json(&new.sources))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| SlugScope::Events.conflict(e, &slug))?;
    let event = link_and_hydrate(&mut tx, row, &new).await?;
    audit::record(
        &mut tx,
        actor,
        Action::Update,
        "event",
        event.id,
        event.version,
        &event,
    )
    .await?;
    tx.commit().await?;
    Ok(event)
}

/// Deletes a live event, leaving a tombstone for `updated_since` polls.
#[tracing::instrument(skip_all, err)]
pub async fn delete(
    db: &PgPool,
    actor: &Actor,
    reference: Ref,
    precondition: Precondition,
) -> Result<(), ApiError> {
    let mut tx = db.begin().await?;
    let mut current = fetch(&mut *tx, &reference, true)
        .await?
        .ok_or_else(|| ApiError::not_found("event", &reference))?;
    precondition.check_current(current.id, current.version)?;
    hydrate(&mut tx, vec![&mut current]).await?;
    sqlx::query("update events set deleted_at = now() where id = $1")
        .bind(current.id)
        .execute(&mut *tx)
        .await?;
    // The tombstone keeps its own fields for polls; its links go, as for any delete.
    graph::replace_event_links(&mut tx, current.id, &[], &[]).await?;
    // The delete bumped the version (the tombstone is a change polls must see); its
    // revision keeps the event as it last stood.
    audit::record(
        &mut tx,
        actor,
        Action::Delete,
        "event",
        current.id,
        current.version + 1,
        &current,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::filter::EVENT_LIST_PARAMS;
    use crate::model::params::QueryParams;

    fn filter(query: &str) -> EventFilter {
        let params = QueryParams::parse(Some(query), EVENT_LIST_PARAMS).unwrap_or_else(|e| {
            panic!("`{query}`: {e:?}");
        });
        EventFilter::from_params(&params).unwrap_or_else(|e| panic!("`{query}`: {e:?}"))
    }

    #[test]
    fn only_the_dashboard_shapes_run_on_generic_plans() {
        for query in [
            "",
            "limit=100",
            "sort=title",
            "sort=-updated_at",
            "tag=ai",
            "tag=ai&sort=occurred_on&limit=5",
        ] {
            assert!(plan_is_fixed(&filter(query), &[]), "`{query}`");
        }
        for query in [
            "tag=ai,cloud",
            "tag=ai&sort=title",
            "any_tag=ai",
            "exclude_tag=ai",
            "tag=ai&category=funding",
            "significance=major",
            "min_significance=major",
            "tag=ai&from=2024-01-01",
            "to=2024-01-01",
            "q=anthropic",
            "tag=ai&updated_since=2024-01-01T00:00:00Z",
        ] {
            assert!(!plan_is_fixed(&filter(query), &[]), "`{query}`");
        }
        assert!(!plan_is_fixed(&filter("tag=ai"), &[Uuid::nil()]));
    }
}
