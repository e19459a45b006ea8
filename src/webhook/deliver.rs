//! One delivery attempt: sign, POST, judge the answer.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER, USER_AGENT};

use super::Webhooks;
use crate::model::webhook::message_id;
use crate::model::webhook::signature::{Secret, signature_header};
use crate::repo::webhooks::{Claimed, Outcome};

/// What the endpoint did, before the schedule decides what follows.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Its status code, if it answered.
    pub status: Option<u16>,
    /// What went wrong (none on a 2xx).
    pub error: Option<String>,
    /// `Retry-After` of a 429 or 503.
    pub retry_after: Option<Duration>,
}

impl Webhooks {
    /// Makes the attempt and decides what follows it.
    pub(super) async fn attempt(&self, claimed: &Claimed) -> Outcome {
        let started = Instant::now();
        let answer = self.post(claimed).await;
        let latency = started.elapsed();
        let succeeded = answer.status.is_some_and(|s| (200..300).contains(&s));
        let gone = answer.status == Some(410);
        let next_in = if succeeded || gone {
            None
        } else {
            let attempt = u32::try_from(claimed.attempt).unwrap_or(u32::MAX);
            self.schedule
                .wait_after(attempt, rand::random::<f64>())
                .map(|wait| wait.max(answer.retry_after.unwrap_or_default()))
        };
        Outcome {
            succeeded,
            response_status: answer.status,
            error: answer.error,
            latency,
            next_in,
            disable: gone.then(|| "the endpoint answered 410 Gone".to_owned()),
        }
    }

    async fn post(&self, claimed: &Claimed) -> Answer {
        let failed = |error: String| Answer {
            status: None,
            error: Some(error),
            retry_after: None,
        };
        let url = match url::Url::parse(&claimed.url) {
            Ok(url) => url,
            Err(e) => return failed(format!("the stored URL does not parse: {e}")),
        };
        // A literal address never reaches the resolver: check it here. A name is
        // checked by the client's resolver, on the addresses it then connects to.
        if !matches!(url.host(), Some(url::Host::Domain(_)))
            && let Err(why) = self.guard.check_url(&url).await
        {
            return failed(format!("refused: {why}"));
        }
        let secrets = match self.secrets(claimed) {
            Ok(secrets) => secrets,
            Err(why) => return failed(why),
        };
        let id = message_id(claimed.message_id);
        let timestamp = Utc::now().timestamp();
        let signature = signature_header(&secrets, &id, timestamp, claimed.body.as_bytes());
        let client = match &self.client {
            Ok(client) => client,
            Err(why) => return failed(why.clone()),
        };
        let request = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("industry-events-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(claimed.body.clone());
        match request.send().await {
            Ok(response) => judge(response.status(), response.headers()),
            Err(e) if e.is_timeout() => {
                failed(format!("no answer within {} ms", self.timeout.as_millis()))
            }
            Err(e) => failed(describe(&e)),
        }
    }

    fn secrets(&self, claimed: &Claimed) -> Result<Vec<Secret>, String> {
        let open = |sealed: &[u8]| {
            self.key
                .open(claimed.subscription_id, sealed)
                .and_then(|text| String::from_utf8(text).ok())
                .and_then(|text| Secret::parse(&text))
                .ok_or_else(|| {
                    "the secret cannot be opened with WEBHOOK_SECRET_KEY (was the key changed?)"
                        .to_owned()
                })
        };
        let mut secrets = vec![open(&claimed.secret)?];
        if let Some(previous) = &claimed.previous_secret {
            secrets.push(open(previous)?);
        }
        Ok(secrets)
    }
}

/// What an answer means: 2xx success; a redirect, which is never followed, a failure;
/// `Retry-After` read on 429 and 503.
pub fn judge(status: StatusCode, headers: &HeaderMap) -> Answer {
    let code = status.as_u16();
    let error = if status.is_success() {
        None
    } else if status.is_redirection() {
        let to = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        Some(format!(
            "redirect ({code}) to {to}: redirects are not followed"
        ))
    } else {
        Some(format!("the endpoint answered {status}"))
    };
    let retry_after = if matches!(code, 429 | 503) {
        headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after)
    } else {
        None
    };
    Answer {
        status: Some(code),
        error,
        retry_after,
    }
}

/// `Retry-After` as seconds or an HTTP date; at most a day is honoured.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or_default()
    };
    Some(wait.min(Duration::from_secs(86_400)))
}

/// A client error with its causes (the resolver's refusal sits deep in the chain).
fn describe(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(e) = cause {
        let part = e.to_string();
        if part.contains(super::guard::REFUSED) {
            return format!("refused: {part}");
        }
        if !parts.iter().any(|p: &String| p.contains(&part)) {
            parts.push(part);
        }
        cause = e.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    format!("could not deliver: {}", parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_as_the_contract_says() {
        let mut headers = HeaderMap::new();
        assert_eq!(judge(StatusCode::NO_CONTENT, &headers).error, None);
        headers.insert(
            reqwest::header::LOCATION,
            "http://127.0.0.1/".parse().expect("value"),
        );
        let redirect = judge(StatusCode::FOUND, &headers);
        assert!(
            redirect
                .error
                .as_deref()
                .is_some_and(|e| e.contains("not followed"))
        );
        headers.insert(RETRY_AFTER, "120".parse().expect("value"));
        assert_eq!(
            judge(StatusCode::TOO_MANY_REQUESTS, &headers).retry_after,
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            judge(StatusCode::SERVICE_UNAVAILABLE, &headers).retry_after,
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            judge(StatusCode::INTERNAL_SERVER_ERROR, &headers).retry_after,
            None
        );
    }

    #[test]
    fn retry_after_reads_dates_too() {
        let later = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = retry_after(&later).expect("a date");
        assert!(
            wait <= Duration::from_secs(90) && wait >= Duration::from_secs(80),
            "{wait:?}"
        );
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after("999999"), Some(Duration::from_secs(86_400)));
    }
}
