//! The binary's `serve` as a child process, on a port the kernel chooses when the
//! server binds it.
//!
//! Choosing a free port first and handing it to the child left a window (the child
//! migrates before it binds) in which another listener could take the same port, and
//! the test would then talk to whatever answered there. Here the child binds
//! `127.0.0.1:0` and the test reads the address from the child's own "serving" log
//! line, so the address is always the child's; a child that exits early fails the test
//! with its log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long a child may take to migrate, bind and become ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `serve` child, killed when dropped.
pub(crate) struct Serving {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    /// Everything it has written to stderr so far.
    log: Arc<Mutex<String>>,
}

impl Serving {
    /// Spawns `command` (the binary, configured, `serve` or no subcommand) listening on
    /// a loopback port of the kernel's choosing, and waits until `/readyz` answers 200.
    /// The child logs JSON on stderr, at `warn` except for its start-up line.
    pub async fn start(mut command: Command) -> Self {
        let mut child = command
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,industry_events::commands=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (found, address) = oneshot::channel();
        std::thread::spawn({
            let log = Arc::clone(&log);
            move || read_log(BufReader::new(stderr), &log, found)
        });
        let mut serving = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        match tokio::time::timeout(START_TIMEOUT, address).await {
            Ok(Ok(address)) => serving.address = address,
            _ => serving.fail("the server never said where it listens"),
        }
        serving.wait_until_ready().await;
        serving
    }

    /// `http://` and the address.
    pub fn base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as an orchestrator stopping the instance would.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
    }

    /// The exit status if the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits up to `within` for the child to exit, and returns how it did.
    pub async fn exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("the server did not exit within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the child has logged so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn wait_until_ready(&mut self) {
        // One answer per connection, so no idle connection of ours counts against the
        // server's connection caps afterwards.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = client
                .get(format!("{}/readyz", self.base()))
                .header("connection", "close")
                .send()
                .await
                .is_ok_and(|res| res.status() == 200);
            if ready {
                return;
            }
            if self.exited().is_some() || Instant::now() >= deadline {
                self.fail("the server never became ready");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the child and fails the test, showing what the child logged.
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader thread finishes the log once the pipe closes.
        std::thread::sleep(Duration::from_millis(100));
        panic!("{what}; its log:\n{}", self.log());
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps every line of `stderr` in `log` (the pipe must be drained, or a chatty
/// child would block on a full pipe), and sends the address of the "serving" line.
fn read_log(stderr: impl BufRead, log: &Mutex<String>, found: oneshot::Sender<SocketAddr>) {
    let mut found = Some(found);
    for line in stderr.lines() {
        let Ok(line) = line else { break };
        if let Some(address) = serving_address(&line)
            && let Some(found) = found.take()
        {
            let _ = found.send(address);
        }
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        log.push_str(&line);
        log.push('\n');
    }
}

/// The address of a JSON "serving" log line.
fn serving_address(line: &str) -> Option<SocketAddr> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = event.get("fields")?;
    if fields.get("message")?.as_str()? != "serving" {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}
