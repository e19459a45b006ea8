//! Telling instances apart about writes: `NOTIFY` after this server's writes, `LISTEN`
//! for the others'.
//!
//! The notification is sent after the write commits, by its own statement, rather than
//! from a trigger inside the writing transaction: PostgreSQL serialises the commits of
//! notifying transactions on one lock, which would make every writer wait for every
//! other. A notification carries no data; it only says "look" (positions say what).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};

use super::{CHANNEL, Live};
use crate::error::cause_chain;

/// The least time between two notifications from one server: the most it delays
/// another instance's streams, and what bounds the notifications to 200 a second.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

/// Sends one notification per burst of this server's writes until the server stops.
pub async fn notify(live: Arc<Live>) {
    let mut stopping = live.stopping();
    // The instance id as payload, so this server's listener can skip its own.
    let statement = format!(
        "set local synchronous_commit = off; select pg_notify('{CHANNEL}', '{}')",
        live.instance
    );
    loop {
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => return,
            () = live.tell_others.notified() => {}
        }
        // At most one notification per interval: under a stream of writes the others
        // are woken once per interval, not once per write, which would cost the
        // database a transaction per write.
        tokio::time::sleep(NOTIFY_INTERVAL).await;
        // Writes that commit while this runs ask again, and get one more notification.
        // `synchronous_commit = off`: the notification needs no disk flush of its own.
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&live.db)
            .await
        {
            tracing::warn!(error = %error, "could not notify other instances of a write; they will catch up");
        }
    }
}

/// Tells every running instance that something outside them (the `import` command)
/// wrote events, so their streams and long polls look at once instead of at their
/// next catch-up.
pub async fn announce_outside_write(db: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, 'outside')")
        .bind(CHANNEL)
        .execute(db)
        .await
        .map(|_| ())
}

/// Listens for other instances' writes on a connection of its own, waking this server's
/// hub and long polls, until the server stops. A lost connection is reconnected, and
/// whatever was missed meanwhile is caught up at once.
pub async fn listen(live: Arc<Live>) {
    let mut stopping = live.stopping();
    // One connection, outside the request pool, so listening never takes a place a
    // request could use.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with((*live.db.connect_options()).clone());
    let mut backoff = Duration::from_millis(100);
    'connect: loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&own).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let connected = tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => break,
            connected = listener => connected,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(error = %cause_chain(&error), "could not listen for other instances' writes; retrying");
                tokio::select! {
                    _ = stopping.wait_for(|stop| *stop) => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // Anything written while not listening is looked for now.
        live.wake_local();
        loop {
            let received = tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => None,
                received = listener.try_recv() => Some(received),
            };
            let Some(received) = received else {
                break 'connect;
            };
            match received {
                Ok(Some(notification)) => {
                    if notification.payload() != live.instance.to_string() {
                        metrics::counter!("event_change_notifications_total").increment(1);
                        live.wake_local();
                    }
                }
                // The connection was lost; the next call reconnects. Look meanwhile.
                Ok(None) => live.wake_local(),
                Err(error) => {
                    tracing::warn!(error = %cause_chain(&error), "lost the connection that listens for other instances' writes; reconnecting");
                    live.wake_local();
                    break;
                }
            }
        }
    }
    own.close().await;
}
