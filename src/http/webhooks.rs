//! `/v1/webhooks` (admin scope): subscriptions, their secrets, pings, the delivery
//! log and manual retries. Delivery itself is `crate::webhook`'s.

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::audit::AdminOnly;
use super::extract::{JsonBody, if_match};
use super::openapi::schemas::{IdempotencyParam, IfMatchParam, page};
use super::{AppState, idempotency, respond};
use crate::error::ApiError;
use crate::model::list::params::QueryParams;
use crate::model::list::webhooks::{IdPage, IdPageParams};
use crate::model::patch::merge_into;
use crate::model::webhook::signature::Secret;
use crate::model::webhook::{
    Delivery, NewSubscription, Subscription, SubscriptionCreate, SubscriptionInput,
    SubscriptionStatus, SubscriptionWithSecret,
};
use crate::model::{FieldError, Ref, ResourceKind, etag};
use crate::repo;
use crate::repo::idempotency::StoredAnswer;

page!(
    SubscriptionPage,
    Subscription,
    "A page of webhook subscriptions."
);
page!(
    DeliveryPage,
    Delivery,
    "A page of delivery attempts, newest first."
);

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(ping))
        .routes(routes!(deliveries))
        .routes(routes!(retry))
}

/// The answer of `ping` and `retry`: the message that will be sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queued {
    /// The message's `webhook-id`.
    pub message_id: String,
}

/// A subscription id in a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct IdParam {
    /// The subscription's id.
    id: Uuid,
}

/// A delivery id in a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct DeliveryIdParam {
    /// The delivery's id (from the delivery log).
    delivery_id: Uuid,
}

fn subscription_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse().map_err(|_| no_subscription(text))
}

fn no_subscription(text: &str) -> ApiError {
    ApiError::NoSuch {
        what: "webhook subscription",
        reference: crate::model::fields::truncate(text, 100),
    }
}

async fn found(app: &AppState, text: &str) -> Result<Subscription, ApiError> {
    let id = subscription_id(text)?;
    repo::webhooks::find(&app.db, id)
        .await?
        .ok_or_else(|| no_subscription(text))
}

/// A subscription (with its secret, when there is a new one) and its `ETag`.
fn answer(
    status: StatusCode,
    body: &impl Serialize,
    subscription: &Subscription,
) -> Result<Response, ApiError> {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        respond::to_json(body)?,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&etag(subscription.id, subscription.version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if status == StatusCode::CREATED
        && let Ok(value) = HeaderValue::from_str(&format!("/v1/webhooks/{}", subscription.id))
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Checks what only the server can: every address of the URL's host (unless it is the
/// URL already stored, which every delivery checks again anyway), and the filter's
/// companies (resolved to ids).
async fn checked(
    app: &AppState,
    new: &NewSubscription,
    stored_url: Option<&str>,
) -> Result<Vec<Uuid>, ApiError> {
    let mut errors = Vec::new();
    if stored_url != Some(new.url.as_str())
        && let Err(why) = app.webhooks.guard.check_url(&new.url).await
    {
        errors.push(FieldError::new("url", why));
    }
    let mut ids = Vec::new();
    for text in &new.filter.company {
        let found = match Ref::parse(text) {
            Some(reference) => {
                repo::graph::id_of(&app.db, ResourceKind::Company, &reference).await?
            }
            None => None,
        };
        match found {
            Some(id) => ids.push(id),
            None => errors.push(FieldError::new(
                "filter.company",
                format!(
                    "no company matches `{}`",
                    crate::model::fields::truncate(text, 100)
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `GET /v1/webhooks`: every subscription, oldest first.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", params(IdPageParams),
    responses((status = 200, description = "A page of subscriptions (admin scope).", body = SubscriptionPage)))]
async fn list(
    State(app): State<AppState>,
    _admin: AdminOnly,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), IdPage::PARAMS)?;
    let page = IdPage::from_params(&params, "webhooks")?;
    let page = repo::webhooks::list(&app.db, &page).await?;
    respond::page(&app, &headers, &uri, &page)
}

/// `POST /v1/webhooks`: 201 with the signing secret, shown this once, honouring
/// `Idempotency-Key`. The answer kept for a retry holds the secret, so it is stored
/// sealed like the secret itself, and opened only to replay it.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", params(IdempotencyParam),
    request_body(content = SubscriptionCreate, content_type = "application/json"),
    responses((status = 201, description = "Created; `secret` is shown only here (and to a retry under the same `Idempotency-Key`).", body = SubscriptionWithSecret,
        headers(("Location" = String), ("ETag" = String)))))]
async fn create(
    State(app): State<AppState>,
    AdminOnly(token): AdminOnly,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    let new = NewSubscription::parse(body.clone(), app.config.webhook_allow_http, false)?;
    let company_ids = checked(&app, &new, None).await?;
    let id = Uuid::now_v7();
    let secret = Secret::generate();
    let sealed = app.webhooks.key.seal(id, secret.to_text().as_bytes());
    let mut tx = app.db.begin().await?;
    if let Some(key) = &key {
        let hash = idempotency::request_hash("/v1/webhooks", &body);
        if let Some(stored) = idempotency::claim(&mut tx, &token, key, &hash).await? {
            return replay_sealed(&app, stored);
        }
    }
    let subscription = repo::webhooks::create(&mut *tx, id, &new, &company_ids, &sealed).await?;
    let answer = StoredAnswer {
        status: StatusCode::CREATED.as_u16(),
        body: respond::to_json(&SubscriptionWithSecret {
            subscription: subscription.clone(),
            secret: secret.to_text(),
        })?,
        location: Some(format!("/v1/webhooks/{id}")),
        etag: Some(etag(subscription.id, subscription.version)),
    };
    if let Some(key) = &key {
        let kept = StoredAnswer {
            body: app.webhooks.key.seal(id, &answer.body),
            ..answer.clone()
        };
        repo::idempotency::complete(&mut tx, &token, key, &kept).await?;
    }
    tx.commit().await?;
    Ok(respond::replay(answer, false))
}

/// The first answer to a `POST /v1/webhooks`, opened for a retry under its key; a 409
/// when it cannot be opened (sealed under an earlier `WEBHOOK_SECRET_KEY`).
fn replay_sealed(app: &AppState, stored: StoredAnswer) -> Result<Response, ApiError> {
    let opened = stored
        .location
        .as_deref()
        .and_then(|location| location.strip_prefix("/v1/webhooks/"))
        .and_then(|id| Uuid::parse_str(id).ok())
        .and_then(|id| app.webhooks.key.open(id, &stored.body));
    let Some(body) = opened else {
        return Err(ApiError::Conflict(format!(
            "this Idempotency-Key created {} earlier, but its answer was sealed under another \
             WEBHOOK_SECRET_KEY and cannot be shown again; rotate that subscription's secret",
            stored.location.as_deref().unwrap_or("a subscription")
        )));
    };
    Ok(respond::replay(StoredAnswer { body, ..stored }, true))
}

/// `GET /v1/webhooks/{id}`.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", params(IdParam),
    responses((status = 200, description = "The subscription (never its secret).", body = Subscription,
        headers(("ETag" = String))),
        (status = 304, description = "Unchanged.")))]
async fn get_one(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let subscription = found(&app, &id).await?;
    let tag = etag(subscription.id, subscription.version);
    if respond::is_fresh(&headers, &tag, subscription.updated_at) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(value) = HeaderValue::from_str(&tag) {
            response.headers_mut().insert(header::ETAG, value);
        }
        return Ok(response);
    }
    answer(StatusCode::OK, &subscription, &subscription)
}

/// How often a `PATCH` of a subscription checks its new URL before taking the row's
/// lock, when others change the subscription meanwhile, before it checks under the lock.
const PATCH_ATTEMPTS: u32 = 3;

/// `PATCH /v1/webhooks/{id}`: a JSON Merge Patch of `url`, `types`, `filter`,
/// `description` and `status`, honouring `If-Match`. Setting `status` to `active`
/// re-enables a disabled subscription.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", params(IdParam, IfMatchParam),
    request_body(content = SubscriptionInput, content_type = "application/merge-patch+json",
        description = "A JSON Merge Patch (RFC 7396) of the subscription's writable fields."),
    responses((status = 200, description = "Changed.", body = Subscription, headers(("ETag" = String)))))]
async fn patch(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let uuid = subscription_id(&id)?;
    let precondition = if_match(&headers);
    let mut attempt = 0;
    loop {
        attempt += 1;
        // A new URL's name is resolved and its addresses checked before the row is
        // locked, so a slow resolver holds neither the subscription (its deliveries
        // and other writes wait on that lock) nor a transaction; the row is then
        // locked and must still be the version the patch was checked against, else
        // it is merged and checked again. The last attempt checks under the lock, so
        // a subscription that others keep changing is still patched.
        let last = attempt >= PATCH_ATTEMPTS;
        let (seen, held) = if last {
            let mut tx = app.db.begin().await?;
            let current = repo::webhooks::lock(&mut tx, uuid).await?;
            (current, Some(tx))
        } else {
            (repo::webhooks::find(&app.db, uuid).await?, None)
        };
        let seen = seen.ok_or_else(|| no_subscription(&id))?;
        precondition
            .check(seen.id, seen.version)
            .map_err(|current| ApiError::PreconditionFailed { current })?;
        let merged = merge_into(&SubscriptionInput::from(&seen), &body)?;
        let new = NewSubscription::parse(merged, app.config.webhook_allow_http, true)?;
        let company_ids = checked(&app, &new, Some(&seen.url)).await?;
        let mut tx = match held {
            Some(tx) => tx,
            None => {
                let mut tx = app.db.begin().await?;
                let current = repo::webhooks::lock(&mut tx, uuid)
                    .await?
                    .ok_or_else(|| no_subscription(&id))?;
                if current.version != seen.version {
                    continue;
                }
                tx
            }
        };
        let changed = repo::webhooks::update(&mut tx, uuid, &new, &company_ids).await?;
        tx.commit().await?;
        if seen.status == SubscriptionStatus::Disabled
            && changed.status == SubscriptionStatus::Active
        {
            // Its pending deliveries are claimable again.
            app.webhooks.wake();
        }
        return answer(StatusCode::OK, &changed, &changed);
    }
}

/// `DELETE /v1/webhooks/{id}`: 204; its messages and delivery log go with it.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(IdParam, IfMatchParam),
    responses((status = 204, description = "Deleted.")))]
async fn delete(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let current = found(&app, &id).await?;
    if_match(&headers)
        .check(current.id, current.version)
        .map_err(|current| ApiError::PreconditionFailed { current })?;
    if !repo::webhooks::delete(&app.db, current.id).await? {
        return Err(no_subscription(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/webhooks/{id}/rotate-secret`: a new secret (shown this once); the old
/// one keeps signing beside it for `WEBHOOK_SECRET_OVERLAP_SECS`.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks", params(IdParam),
    responses((status = 200, description = "The new secret; `previous_secret_expires_at` says until when the old one also signs.",
        body = SubscriptionWithSecret, headers(("ETag" = String)))))]
async fn rotate_secret(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let uuid = subscription_id(&id)?;
    let secret = Secret::generate();
    let sealed = app.webhooks.key.seal(uuid, secret.to_text().as_bytes());
    let overlap = std::time::Duration::from_secs(app.config.webhook_secret_overlap_secs);
    let subscription = repo::webhooks::rotate_secret(&app.db, uuid, &sealed, overlap)
        .await?
        .ok_or_else(|| no_subscription(&id))?;
    let body = SubscriptionWithSecret {
        subscription: subscription.clone(),
        secret: secret.to_text(),
    };
    answer(StatusCode::OK, &body, &subscription)
}

/// `POST /v1/webhooks/{id}/ping`: 202; a `webhook.ping` message is sent now.
#[utoipa::path(post, path = "/v1/webhooks/{id}/ping", tag = "webhooks", params(IdParam),
    responses((status = 202, description = "Queued; the delivery log follows it.", body = Queued),
        (status = 409, description = "The subscription is disabled.", body = crate::http::openapi::schemas::Problem,
            content_type = "application/problem+json")))]
async fn ping(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let subscription = found(&app, &id).await?;
    if subscription.status == SubscriptionStatus::Disabled {
        return Err(ApiError::Conflict(
            "the subscription is disabled: set its status to active first".into(),
        ));
    }
    let message_id = repo::webhooks::ping(&app.db, subscription.id)
        .await?
        .ok_or_else(|| no_subscription(&id))?;
    app.webhooks.wake();
    queued(message_id)
}

fn queued(message_id: String) -> Result<Response, ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        respond::to_json(&Queued { message_id })?,
    )
        .into_response())
}

/// `GET /v1/webhooks/{id}/deliveries`: every attempt, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", params(IdParam, IdPageParams),
    responses((status = 200, description = "The delivery log, newest first.", body = DeliveryPage)))]
async fn deliveries(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let subscription = found(&app, &id).await?;
    let params = QueryParams::parse(query.as_deref(), IdPage::PARAMS)?;
    let page = IdPage::from_params(&params, &format!("deliveries/{}", subscription.id))?;
    let page = repo::webhooks::deliveries(&app.db, subscription.id, &page).await?;
    respond::page(&app, &headers, &uri, &page)
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry`: 202; that delivery's
/// message is sent again now, with its original `webhook-id`.
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(IdParam, DeliveryIdParam),
    responses((status = 202, description = "Queued.", body = Queued)))]
async fn retry(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let subscription = found(&app, &id).await?;
    let no_delivery = || ApiError::NoSuch {
        what: "delivery of this subscription",
        reference: crate::model::fields::truncate(&delivery_id, 100),
    };
    let delivery: Uuid = delivery_id.parse().map_err(|_| no_delivery())?;
    let message_id = repo::webhooks::retry(&app.db, subscription.id, delivery)
        .await?
        .ok_or_else(no_delivery)?;
    app.webhooks.wake();
    queued(message_id)
}
