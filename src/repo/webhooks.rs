//! Webhook storage: subscriptions, the outbox of messages (written inside the write
//! that causes them), and the deliveries table, which is both the queue the workers
//! claim from and the delivery log.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::list::webhooks::{IdCursor, IdPage};
use crate::model::webhook::{
    ChangeVerb, Delivery, DeliveryStatus, FilterMatcher, NewSubscription, PING_TYPE, Subscription,
    SubscriptionStatus, WebhookFilter, WebhookMessage, message_id, message_type, wants,
};
use crate::model::{Page, ResourceKind, Tombstone};
use crate::repo::keyset_page;

/// The columns a [`Subscription`] is read from.
macro_rules! subscription_columns {
    () => {
        "id, url, types, filter, description, status, disabled_reason, failing_since, \
         last_success_at, \
         case when previous_secret_until > now() then previous_secret_until end as previous_until, \
         created_at, updated_at, version"
    };
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: Uuid,
    url: String,
    types: Vec<String>,
    filter: Json<WebhookFilter>,
    description: String,
    status: String,
    disabled_reason: Option<String>,
    failing_since: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    previous_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl From<SubscriptionRow> for Subscription {
    fn from(row: SubscriptionRow) -> Self {
        Self {
            id: row.id,
            url: row.url,
            types: row.types,
            filter: row.filter.0,
            description: row.description,
            status: SubscriptionStatus::from_stored(&row.status),
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since,
            last_success_at: row.last_success_at,
            previous_secret_expires_at: row.previous_until,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// Stores a new subscription with its sealed secret.
pub async fn create(
    db: impl PgExecutor<'_>,
    id: Uuid,
    new: &NewSubscription,
    company_ids: &[Uuid],
    sealed_secret: &[u8],
) -> Result<Subscription, ApiError> {
    let row: SubscriptionRow = sqlx::query_as(concat!(
        "insert into webhook_subscriptions \
             (id, url, types, filter, filter_company_ids, description, secret) \
         values ($1, $2, $3, $4, $5, $6, $7) returning ",
        subscription_columns!()
    ))
    .bind(id)
    .bind(new.url.as_str())
    .bind(&new.types)
    .bind(Json(&new.filter))
    .bind(company_ids)
    .bind(&new.description)
    .bind(sealed_secret)
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

/// One subscription.
pub async fn find(db: &PgPool, id: Uuid) -> Result<Option<Subscription>, ApiError> {
    let row: Option<SubscriptionRow> = sqlx::query_as(concat!(
        "select ",
        subscription_columns!(),
        " from webhook_subscriptions where id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// One subscription, locked for the rest of the caller's transaction.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Subscription>, ApiError> {
    let row: Option<SubscriptionRow> = sqlx::query_as(concat!(
        "select ",
        subscription_columns!(),
        " from webhook_subscriptions where id = $1 for update"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// A page of subscriptions, oldest first.
pub async fn list(db: &PgPool, page: &IdPage) -> Result<Page<Subscription, IdCursor>, ApiError> {
    let rows: Vec<SubscriptionRow> = sqlx::query_as(concat!(
        "select ",
        subscription_columns!(),
        " from webhook_subscriptions \
         where $1::uuid is null or id > $1 order by id limit $2"
    ))
    .bind(page.cursor.as_ref().map(|c| c.after))
    .bind(i64::from(page.limit) + 1)
    .fetch_all(db)
    .await?;
    let (rows, next) = keyset_page(rows, page.limit, |row| page.next_after(row.id));
    Ok(Page {
        items: rows.into_iter().map(Into::into).collect(),
        next,
    })
}

/// Stores the next version of a subscription (locked by the caller). Turning it active
/// again starts its failure clock afresh.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    new: &NewSubscription,
    company_ids: &[Uuid],
) -> Result<Subscription, ApiError> {
    let row: SubscriptionRow = sqlx::query_as(concat!(
        "update webhook_subscriptions set url = $2, types = $3, filter = $4, \
             filter_company_ids = $5, description = $6, status = $7, \
             disabled_reason = case when $7 = 'active' then null \
                                    when status = 'active' then 'disabled by an admin' \
                                    else disabled_reason end, \
             failing_since = case when $7 = 'active' and status <> 'active' then null \
                                  else failing_since end, \
             updated_at = now(), version = version + 1 \
         where id = $1 returning ",
        subscription_columns!()
    ))
    .bind(id)
    .bind(new.url.as_str())
    .bind(&new.types)
    .bind(Json(&new.filter))
    .bind(company_ids)
    .bind(&new.description)
    .bind(new.status.as_str())
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Deletes a subscription with its messages and deliveries; whether there was one.
pub async fn delete(db: &PgPool, id: Uuid) -> Result<bool, ApiError> {
    Ok(
        sqlx::query("delete from webhook_subscriptions where id = $1")
            .bind(id)
            .execute(db)
            .await?
            .rows_affected()
            > 0,
    )
}

/// Replaces the secret; the current one becomes the previous one, signing for
/// `overlap` more.
pub async fn rotate_secret(
    db: &PgPool,
    id: Uuid,
    sealed_secret: &[u8],
    overlap: Duration,
) -> Result<Option<Subscription>, ApiError> {
    let row: Option<SubscriptionRow> = sqlx::query_as(concat!(
        "update webhook_subscriptions set previous_secret = secret, secret = $2, \
             previous_secret_until = now() + make_interval(secs => $3), \
             updated_at = now(), version = version + 1 \
         where id = $1 returning ",
        subscription_columns!()
    ))
    .bind(id)
    .bind(sealed_secret)
    .bind(overlap.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// A change to a record, as the outbox needs it.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// Which kind of record.
    pub kind: ResourceKind,
    /// What happened to it.
    pub verb: ChangeVerb,
    /// The record as it now stands (as it last stood, for a deletion).
    pub record: &'a Value,
    /// For an update, the record before it: an event that leaves a subscription's
    /// filter is still sent, so the subscriber learns it changed.
    pub before: Option<&'a Value>,
}

#[derive(sqlx::FromRow)]
struct Interested {
    id: Uuid,
    types: Vec<String>,
    filter: Json<WebhookFilter>,
    filter_company_ids: Vec<Uuid>,
    now: DateTime<Utc>,
}

/// The active subscriptions that want messages of some of the types a write may
/// cause, looked up before the write's documents are made: with none (the usual case),
/// the write makes none.
pub struct Listeners(Vec<Interested>);

impl Listeners {
    /// Whether no subscription wants any of those messages.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The active subscriptions that want messages of any of `types` (each a kind and
/// what happened to it), looked up once; call it inside the changes' transaction.
pub async fn listeners(
    conn: &mut PgConnection,
    types: &[(ResourceKind, ChangeVerb)],
) -> Result<Listeners, ApiError> {
    let mut kinds: Vec<String> = types
        .iter()
        .map(|(kind, verb)| message_type(*kind, *verb))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds.push("*".to_owned());
    let subscriptions: Vec<Interested> = sqlx::query_as(
        "select id, types, filter, filter_company_ids, now() as now \
         from webhook_subscriptions where status = 'active' and types && $1::text[]",
    )
    .bind(&kinds)
    .fetch_all(conn)
    .await?;
    Ok(Listeners(subscriptions))
}

/// Writes the messages changes produce, one for each of `listeners` that wants each,
/// each with its first delivery due now; call it inside the changes' transaction, with
/// listeners looked up for every type the changes are of. Returns how many.
pub async fn enqueue(
    conn: &mut PgConnection,
    listeners: &Listeners,
    changes: &[Change<'_>],
) -> Result<usize, ApiError> {
    let subscriptions = &listeners.0;
    let Some(now) = subscriptions.first().map(|s| s.now) else {
        return Ok(0);
    };
    // Each filter read once for all the changes.
    let matchers: Vec<FilterMatcher> = subscriptions.iter().map(|s| s.filter.matcher()).collect();
    let mut messages = Messages::default();
    for change in changes {
        let kind = message_type(change.kind, change.verb);
        let judged = |s: &Interested, matcher: &FilterMatcher, state: &Value| {
            change.kind != ResourceKind::Event || matcher.admits(&s.filter_company_ids, state)
        };
        let targets: Vec<Uuid> = subscriptions
            .iter()
            .zip(&matchers)
            .filter(|(s, _)| wants(&s.types, &kind))
            .filter(|(s, m)| {
                judged(s, m, change.record) || change.before.is_some_and(|b| judged(s, m, b))
            })
            .map(|(s, _)| s.id)
            .collect();
        if targets.is_empty() {
            continue;
        }
        let tombstone;
        let data = if change.verb == ChangeVerb::Deleted {
            tombstone = serde_json::to_value(Tombstone {
                id: uuid_field(change.record, "id"),
                slug: change.record["slug"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                deleted: true,
                updated_at: now,
            })?;
            &tombstone
        } else {
            change.record
        };
        let body = serde_json::to_string(&WebhookMessage {
            r#type: &kind,
            timestamp: now,
            data,
        })?;
        for subscription in targets {
            messages.add(subscription, &kind, &body);
        }
    }
    let count = messages.subscriptions.len();
    insert_messages(conn, &messages).await?;
    Ok(count)
}

/// Messages to write: one entry each, in parallel columns.
#[derive(Default)]
struct Messages {
    subscriptions: Vec<Uuid>,
    types: Vec<String>,
    bodies: Vec<String>,
}

impl Messages {
    fn add(&mut self, subscription: Uuid, kind: &str, body: &str) {
        self.subscriptions.push(subscription);
        self.types.push(kind.to_owned());
        self.bodies.push(body.to_owned());
    }
}

fn uuid_field(record: &Value, name: &str) -> Uuid {
    record[name]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

/// The messages, each with a first delivery due now; their ids, in order.
async fn insert_messages(
    conn: &mut PgConnection,
    messages: &Messages,
) -> Result<Vec<Uuid>, ApiError> {
    if messages.subscriptions.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = messages
        .subscriptions
        .iter()
        .map(|_| Uuid::now_v7())
        .collect();
    let deliveries: Vec<Uuid> = messages
        .subscriptions
        .iter()
        .map(|_| Uuid::now_v7())
        .collect();
    sqlx::query(
        "with m as ( \
             insert into webhook_messages (id, subscription_id, type, body) \
             select m, s, t, b from unnest($1::uuid[], $2::uuid[], $4::text[], $5::text[]) as x(m, s, t, b) \
             returning id, subscription_id) \
         insert into webhook_deliveries (id, message_id, subscription_id, attempt, due_at) \
         select d.d, m.id, m.subscription_id, 1, now() \
         from m join unnest($1::uuid[], $3::uuid[]) as d(m, d) on d.m = m.id",
    )
    .bind(&ids)
    .bind(&messages.subscriptions)
    .bind(&deliveries)
    .bind(&messages.types)
    .bind(&messages.bodies)
    .execute(conn)
    .await?;
    Ok(ids)
}

/// A `webhook.ping` message to one subscription, due now; its `webhook-id`, or `None`
/// when there is no such subscription.
pub async fn ping(db: &PgPool, id: Uuid) -> Result<Option<String>, ApiError> {
    let mut tx = db.begin().await?;
    let exists: Option<DateTime<Utc>> =
        sqlx::query_scalar("select now() from webhook_subscriptions where id = $1 for share")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(now) = exists else {
        return Ok(None);
    };
    let data = serde_json::json!({ "subscription_id": id });
    let body = serde_json::to_string(&WebhookMessage {
        r#type: PING_TYPE,
        timestamp: now,
        data: &data,
    })?;
    let mut ping = Messages::default();
    ping.add(id, PING_TYPE, &body);
    let messages = insert_messages(&mut tx, &ping).await?;
    tx.commit().await?;
    Ok(messages.first().map(|m| message_id(*m)))
}

/// A delivery claimed by an instance: everything an attempt needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    /// The delivery's id.
    pub id: Uuid,
    /// Which attempt of the message this is.
    pub attempt: i32,
    /// The message.
    pub message_id: Uuid,
    /// Its body, sent as is.
    pub body: String,
    /// The subscription.
    pub subscription_id: Uuid,
    /// Its URL.
    pub url: String,
    /// Its sealed secret.
    pub secret: Vec<u8>,
    /// Its previous sealed secret, while that still signs.
    pub previous_secret: Option<Vec<u8>>,
}

/// Claims up to `max` due deliveries of active subscriptions for `instance` until
/// `lease` from now, at most `per_endpoint` in flight per subscription across all
/// instances. A claim that lapses (its instance died) is claimable again.
pub async fn claim(
    db: &PgPool,
    instance: Uuid,
    max: u32,
    per_endpoint: u32,
    lease: Duration,
) -> Result<Vec<Claimed>, ApiError> {
    Ok(sqlx::query_as(
        // Per subscription, at most what its endpoint may still take, oldest due first
        // (so a backlog at one endpoint never hides another's due attempts); then the
        // oldest of those, locked without waiting on another instance's claim.
        "with candidates as ( \
             select c.id, c.due_at from webhook_subscriptions s \
             cross join lateral ( \
                 select d.id, d.due_at from webhook_deliveries d \
                 where d.subscription_id = s.id and d.status = 'pending' and d.due_at <= now() \
                   and (d.claimed_until is null or d.claimed_until <= now()) \
                 order by d.due_at \
                 limit greatest(0, $2 - (select count(*) from webhook_deliveries b \
                                         where b.subscription_id = s.id and b.status = 'pending' \
                                           and b.claimed_by is not null \
                                           and b.claimed_until > now()))) c \
             where s.status = 'active' \
             order by c.due_at limit $3), \
         chosen as ( \
             select d.id from webhook_deliveries d \
             where d.id in (select id from candidates) and d.status = 'pending' \
               and (d.claimed_until is null or d.claimed_until <= now()) \
             for update of d skip locked), \
         claimed as ( \
             update webhook_deliveries d set claimed_by = $1, \
                    claimed_until = now() + make_interval(secs => $4) \
             from chosen where d.id = chosen.id \
             returning d.id, d.attempt, d.message_id, d.subscription_id) \
         select c.id, c.attempt, c.message_id, m.body, c.subscription_id, s.url, s.secret, \
                case when s.previous_secret_until > now() then s.previous_secret end as previous_secret \
         from claimed c join webhook_messages m on m.id = c.message_id \
         join webhook_subscriptions s on s.id = c.subscription_id",
    )
    .bind(instance)
    .bind(i64::from(per_endpoint))
    .bind(i64::from(max))
    .bind(lease.as_secs_f64())
    .fetch_all(db)
    .await?)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether the endpoint answered 2xx.
    pub succeeded: bool,
    /// Its status code, if it answered.
    pub response_status: Option<u16>,
    /// What went wrong.
    pub error: Option<String>,
    /// How long it took.
    pub latency: Duration,
    /// When the next attempt is due (none after a success, a 410 or the last retry).
    pub next_in: Option<Duration>,
    /// Disable the subscription at once (a 410), with this reason.
    pub disable: Option<String>,
}

/// Records an attempt's outcome, if `instance` still holds the claim (a claim that
/// lapsed has been or will be made again by another instance); schedules the next
/// attempt and keeps the subscription's health. Returns whether it was recorded.
pub async fn finish(
    db: &PgPool,
    instance: Uuid,
    claimed: &Claimed,
    outcome: &Outcome,
    disable_after: Duration,
) -> Result<bool, ApiError> {
    let mut tx = db.begin().await?;
    let status = if outcome.succeeded {
        "succeeded"
    } else {
        "failed"
    };
    let next_id = Uuid::now_v7();
    let updated = sqlx::query(
        "update webhook_deliveries set status = $3, response_status = $4, error = $5, \
             latency_ms = $6, at = now(), claimed_by = null, claimed_until = null, \
             next_attempt_at = now() + make_interval(secs => $7) \
         where id = $1 and claimed_by = $2 and status = 'pending'",
    )
    .bind(claimed.id)
    .bind(instance)
    .bind(status)
    .bind(outcome.response_status.map(i32::from))
    .bind(outcome.error.as_deref())
    .bind(i32::try_from(outcome.latency.as_millis()).unwrap_or(i32::MAX))
    .bind(outcome.next_in.map(|d| d.as_secs_f64()))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    if outcome.succeeded {
        sqlx::query(
            "update webhook_subscriptions set last_success_at = now(), failing_since = null \
             where id = $1",
        )
        .bind(claimed.subscription_id)
        .execute(&mut *tx)
        .await?;
    } else {
        if let Some(wait) = outcome.next_in {
            sqlx::query(
                "insert into webhook_deliveries (id, message_id, subscription_id, attempt, due_at) \
                 values ($1, $2, $3, $4, now() + make_interval(secs => $5)) \
                 on conflict (message_id, attempt) do nothing",
            )
            .bind(next_id)
            .bind(claimed.message_id)
            .bind(claimed.subscription_id)
            .bind(claimed.attempt + 1)
            .bind(wait.as_secs_f64())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "update webhook_subscriptions set \
                 failing_since = coalesce(failing_since, now()), \
                 status = case when $2::text is not null \
                                 or coalesce(failing_since, now()) <= now() - make_interval(secs => $3) \
                               then 'disabled' else status end, \
                 disabled_reason = case \
                     when status = 'disabled' then disabled_reason \
                     when $2::text is not null then $2 \
                     when coalesce(failing_since, now()) <= now() - make_interval(secs => $3) \
                     then 'deliveries failed for ' || $4 || ' without a success' \
                     else disabled_reason end, \
                 updated_at = case when status = 'active' and ($2::text is not null \
                                 or coalesce(failing_since, now()) <= now() - make_interval(secs => $3)) \
                               then now() else updated_at end \
             where id = $1",
        )
        .bind(claimed.subscription_id)
        .bind(outcome.disable.as_deref())
        .bind(disable_after.as_secs_f64())
        .bind(humane(disable_after))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// `5 days`, `3 h`, `40 s`: a duration in a reason people read.
fn humane(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 86_400 && secs.is_multiple_of(86_400) {
        format!("{} days", secs / 86_400)
    } else if secs >= 3_600 && secs.is_multiple_of(3_600) {
        format!("{} h", secs / 3_600)
    } else {
        format!("{secs} s")
    }
}

/// Hands back every claim `instance` holds (at shutdown): those deliveries are due
/// again at once, for any instance.
pub async fn release(db: &PgPool, instance: Uuid) -> Result<u64, ApiError> {
    Ok(sqlx::query(
        "update webhook_deliveries set claimed_by = null, claimed_until = null \
         where claimed_by = $1 and status = 'pending'",
    )
    .bind(instance)
    .execute(db)
    .await?
    .rows_affected())
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    message_id: Uuid,
    r#type: String,
    attempt: i32,
    status: String,
    response_status: Option<i32>,
    error: Option<String>,
    latency_ms: Option<i32>,
    at: DateTime<Utc>,
    next_attempt_at: Option<DateTime<Utc>>,
}

/// A page of a subscription's delivery log, newest first.
pub async fn deliveries(
    db: &PgPool,
    subscription: Uuid,
    page: &IdPage,
) -> Result<Page<Delivery, IdCursor>, ApiError> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "select d.id, d.message_id, m.type, d.attempt, d.status, d.response_status, d.error, \
                d.latency_ms, d.at, \
                case when d.status = 'pending' then d.due_at else d.next_attempt_at end \
                    as next_attempt_at \
         from webhook_deliveries d join webhook_messages m on m.id = d.message_id \
         where d.subscription_id = $1 and ($2::uuid is null or d.id < $2) \
         order by d.id desc limit $3",
    )
    .bind(subscription)
    .bind(page.cursor.as_ref().map(|c| c.after))
    .bind(i64::from(page.limit) + 1)
    .fetch_all(db)
    .await?;
    let (rows, next) = keyset_page(rows, page.limit, |row| page.next_after(row.id));
    Ok(Page {
        items: rows
            .into_iter()
            .map(|row| Delivery {
                id: row.id,
                message_id: message_id(row.message_id),
                r#type: row.r#type,
                attempt: row.attempt,
                status: DeliveryStatus::from_stored(&row.status),
                response_status: row.response_status,
                error: row.error,
                latency_ms: row.latency_ms,
                at: row.at,
                next_attempt_at: row.next_attempt_at,
            })
            .collect(),
        next,
    })
}

/// Sends a delivery's message again, now, with its `webhook-id`: a pending attempt
/// of it is made due now, else a new attempt is added. `None` when the subscription
/// has no such delivery.
pub async fn retry(
    db: &PgPool,
    subscription: Uuid,
    delivery: Uuid,
) -> Result<Option<String>, ApiError> {
    let mut tx = db.begin().await?;
    let message: Option<Uuid> = sqlx::query_scalar(
        "select m.id from webhook_deliveries d join webhook_messages m on m.id = d.message_id \
         where d.id = $1 and d.subscription_id = $2 for update of m",
    )
    .bind(delivery)
    .bind(subscription)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(message) = message else {
        return Ok(None);
    };
    let moved = sqlx::query(
        "update webhook_deliveries set due_at = now() \
         where message_id = $1 and status = 'pending'",
    )
    .bind(message)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        sqlx::query(
            "insert into webhook_deliveries (id, message_id, subscription_id, attempt, due_at) \
             select $1, $2, $3, max(attempt) + 1, now() from webhook_deliveries \
             where message_id = $2",
        )
        .bind(Uuid::now_v7())
        .bind(message)
        .bind(subscription)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some(message_id(message)))
}

/// The outbox's backlog: deliveries due and not made, and how long the oldest has
/// waited (seconds).
pub async fn backlog(db: &PgPool) -> Result<(i64, f64), ApiError> {
    Ok(sqlx::query_as(
        "select count(*), coalesce(extract(epoch from now() - min(due_at))::float8, 0) \
         from webhook_deliveries where status = 'pending' and due_at <= now()",
    )
    .fetch_one(db)
    .await?)
}

/// Forgets messages older than `days` whose deliveries are all done; returns how many.
pub async fn purge(db: &PgPool, days: u32) -> Result<u64, ApiError> {
    Ok(sqlx::query(
        "delete from webhook_messages m where m.created_at < now() - make_interval(days => $1) \
         and not exists (select 1 from webhook_deliveries d \
                         where d.message_id = m.id and d.status = 'pending')",
    )
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .execute(db)
    .await?
    .rows_affected())
}
