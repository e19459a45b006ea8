//! A private PostgreSQL cluster under a data folder, for machines that have the
//! PostgreSQL binaries but no running server. It listens only on a Unix socket inside
//! its data folder, so it never competes for a TCP port.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use sqlx::postgres::PgConnectOptions;
use tokio::process::Command;

/// A private cluster this process can start and stop.
#[derive(Debug)]
pub struct PrivateCluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    /// PostgreSQL refuses to run as root; then it runs as this user.
    run_as: Option<String>,
    /// Whether this process started the server (and so should stop it).
    started_here: bool,
}

impl PrivateCluster {
    /// Initialises the cluster if the folder is new, and starts it if it is not running.
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bin_dir =
            find_binaries().context("no PostgreSQL binaries (initdb, pg_ctl) were found")?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("could not create {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("could not resolve {}", data_dir.display()))?;
        let run_as = if is_root().await {
            Some(unprivileged_user().await)
        } else {
            None
        };
        let mut cluster = Self {
            data_dir,
            bin_dir,
            run_as,
            started_here: false,
        };
        if let Some(user) = &cluster.run_as {
            let status = Command::new("chown")
                .arg("-R")
                .arg(user)
                .arg(&cluster.data_dir)
                .status()
                .await?;
            if !status.success() {
                bail!(
                    "could not give {} to user {user}",
                    cluster.data_dir.display()
                );
            }
        }
        if !cluster.data_dir.join("PG_VERSION").exists() {
            let dir = cluster.data_dir.display().to_string();
            cluster
                .run(
                    "initdb",
                    &["-D", &dir, "-U", "postgres", "-A", "trust", "-E", "UTF8"],
                )
                .await
                .context("initdb failed")?;
        }
        if !cluster.is_running().await {
            cluster.pg_ctl_start().await?;
            cluster.started_here = true;
        }
        Ok(cluster)
    }

    /// Whether this process started the server.
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// How to connect: the socket in the data folder, as `postgres`.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .socket(&self.data_dir)
            .port(5432)
            .username("postgres")
    }

    /// Whether the server is up.
    pub async fn is_running(&self) -> bool {
        let dir = self.data_dir.display().to_string();
        self.run("pg_ctl", &["status", "-D", &dir]).await.is_ok()
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let dir = self.data_dir.display().to_string();
        let log = self.data_dir.join("server.log").display().to_string();
        let server_options = format!("-c listen_addresses='' -c unix_socket_directories='{dir}'");
        self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                &dir,
                "-l",
                &log,
                "-o",
                &server_options,
            ],
        )
        .await
        .with_context(|| format!("pg_ctl start failed; see {log}"))
    }

    /// Makes a streaming replica of this running server in `data_dir` (which must not
    /// exist yet) with `pg_basebackup -R`, applying each transaction no sooner than
    /// `apply_delay` after it committed (`recovery_min_apply_delay`, so that tests can
    /// make lag certain), and starts it.
    pub async fn replicate_to(
        &self,
        data_dir: &Path,
        apply_delay: std::time::Duration,
    ) -> anyhow::Result<Self> {
        // Made here, empty and the server user's (pg_basebackup fills it): the server
        // user may not be allowed to create it.
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("could not create {}", data_dir.display()))?;
        #[cfg(unix)]
        std::fs::set_permissions(
            data_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        if let Some(user) = &self.run_as {
            let status = Command::new("chown")
                .arg(user)
                .arg(data_dir)
                .status()
                .await?;
            if !status.success() {
                bail!("could not give {} to user {user}", data_dir.display());
            }
        }
        let target = data_dir.display().to_string();
        let source = self.data_dir.display().to_string();
        self.run(
            "pg_basebackup",
            &[
                "-D", &target, "-h", &source, "-p", "5432", "-U", "postgres", "-R", "-X", "stream",
                "-c", "fast",
            ],
        )
        .await
        .context("pg_basebackup failed")?;
        // The primary's socket lives in its data folder, so the copy holds its lock
        // file, which would stop the replica from making its own socket there.
        let _ = std::fs::remove_file(data_dir.join(".s.PGSQL.5432.lock"));
        let settings = format!(
            "\nrecovery_min_apply_delay = '{}ms'\n",
            apply_delay.as_millis()
        );
        let mut auto_conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data_dir.join("postgresql.auto.conf"))
            .context("the replica has no postgresql.auto.conf")?;
        std::io::Write::write_all(&mut auto_conf, settings.as_bytes())?;
        Self::start(data_dir).await
    }

    /// Stops the server: `fast` ends sessions cleanly, `immediate` is a crash.
    pub async fn stop(&self, mode: StopMode) -> anyhow::Result<()> {
        let dir = self.data_dir.display().to_string();
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        self.run("pg_ctl", &["stop", "-w", "-D", &dir, "-m", mode])
            .await
    }

    async fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let path = self.bin_dir.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let output = command
            .args(args)
            .current_dir(&self.data_dir)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("could not run {}", path.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            bail!(
                "{program} exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
        }
    }
}

/// How to stop a private cluster.
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// End sessions and shut down cleanly.
    Fast,
    /// Abort, like a crash.
    Immediate,
}

/// The folder holding `initdb` and `pg_ctl`: on `PATH`, else the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn find_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = on_path.into_iter().find(|d| has_tools(d)) {
        // A folder of links to the tools (`/usr/local/bin/initdb -> ...`) may lack the
        // others (`pg_basebackup`): use the folder the links lead to.
        return Some(
            dir.join("initdb")
                .canonicalize()
                .ok()
                .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
                .unwrap_or(dir),
        );
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

async fn is_root() -> bool {
    match Command::new("id").arg("-u").output().await {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim() == "0",
        Err(_) => false,
    }
}

/// `postgres` when that user exists, else `nobody`.
async fn unprivileged_user() -> String {
    let exists = Command::new("id")
        .arg("-u")
        .arg("postgres")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if exists {
        "postgres".into()
    } else {
        "nobody".into()
    }
}
