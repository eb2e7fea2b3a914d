//! The processes a run starts (the real server, the peer, the ceilings, the layered router),
//! a one-shot HTTP GET, and the database server's own operation counters.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::process::{Child, Command};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HarnessError {
    /// A private Redis or SecantusDB did not start.
    #[error("test service: {0}")]
    Service(#[from] inframind_test_support::ServiceError),
    /// A process did not start or answer in time.
    #[error("{name} did not come up: {reason}")]
    Start {
        /// Which process.
        name: String,
        /// What happened.
        reason: String,
    },
    /// `infra-mind seed` failed.
    #[error("seeding failed: {0}")]
    Seed(String),
    /// A GET the harness needed failed.
    #[error("GET {path} on {name}: {reason}")]
    Fetch {
        /// Which server.
        name: String,
        /// The path.
        path: String,
        /// What happened.
        reason: String,
    },
    /// The load generator refused the plan.
    #[error(transparent)]
    Load(#[from] crate::loadgen::LoadError),
    /// The database server's counters could not be read.
    #[error("mongodb: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// Files, ports.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Results could not be encoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A plot could not be drawn.
    #[error("plot: {0}")]
    Plot(String),
    /// A helper task of the harness failed.
    #[error("harness: {0}")]
    Internal(String),
}

/// A free loopback port (bound, then released for the process that will listen on it).
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A started process, killed when dropped.
#[derive(Debug)]
pub(crate) struct Process {
    pub(crate) name: String,
    pub(crate) port: u16,
    child: Child,
}

impl Process {
    /// `http://127.0.0.1:{port}{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Where processes' output goes: a folder of logs, or nowhere (the servers log a line per
/// request; at tens of thousands a second that is gigabytes over a run).
#[derive(Debug, Clone)]
pub(crate) struct Logs(pub(crate) Option<PathBuf>);

impl Logs {
    fn stdio(&self, name: &str) -> std::io::Result<(Stdio, Stdio)> {
        match &self.0 {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let file = std::fs::File::create(dir.join(format!("{name}.log")))?;
                Ok((Stdio::from(file.try_clone()?), Stdio::from(file)))
            }
            None => Ok((Stdio::null(), Stdio::null())),
        }
    }
}

/// Starts `command` as `name` listening on `port`, and waits until `GET health` answers 200.
pub(crate) async fn start(
    name: &str,
    mut command: Command,
    port: u16,
    health: &str,
    logs: &Logs,
) -> Result<Process, HarnessError> {
    let (out, err) = logs.stdio(name)?;
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    let child = command.spawn().map_err(|e| HarnessError::Start {
        name: name.to_owned(),
        reason: format!("cannot run {command:?}: {e}"),
    })?;
    let mut process = Process {
        name: name.to_owned(),
        port,
        child,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if get(process.addr(), health, &[])
            .await
            .is_ok_and(|answer| answer.status == 200)
        {
            return Ok(process);
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            return Err(HarnessError::Start {
                name: name.to_owned(),
                reason: format!("exited with {status} (rerun with --logs DIR to see why)"),
            });
        }
        if tokio::time::Instant::now() > deadline {
            return Err(HarnessError::Start {
                name: name.to_owned(),
                reason: format!("GET {health} did not answer 200 within 60 s"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The answer of one GET.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

/// One GET on a fresh connection.
pub(crate) async fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    let io = tokio::time::timeout(Duration::from_secs(30), async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut request = http::Request::get(path).header(http::header::HOST, addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer { status, body })
    })
    .await;
    io.unwrap_or_else(|_| Err("timed out".to_owned()))
}

/// GET that must answer 200.
pub(crate) async fn get_ok(process: &Process, path: &str) -> Result<Answer, HarnessError> {
    let answer = get(process.addr(), path, &[])
        .await
        .map_err(|reason| HarnessError::Fetch {
            name: process.name.clone(),
            path: path.to_owned(),
            reason,
        })?;
    if answer.status != 200 {
        return Err(HarnessError::Fetch {
            name: process.name.clone(),
            path: path.to_owned(),
            reason: format!(
                "status {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ),
        });
    }
    Ok(answer)
}

/// Runs `infra-mind seed` into `uri`/`db`.
pub(crate) async fn seed(
    server: &Path,
    uri: &str,
    db: &str,
    users: usize,
    assessments: usize,
) -> Result<(), HarnessError> {
    let output = Command::new(server)
        .args([
            "seed",
            "--reset",
            "--users",
            &users.to_string(),
            "--assessments",
            &assessments.to_string(),
        ])
        .env("MONGODB_URI", uri)
        .env("MONGODB_DB", db)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| HarnessError::Seed(format!("cannot run {}: {e}", server.display())))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Seed(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }
}

/// The database server's `serverStatus.opcounters.query`: every find and aggregate it ran,
/// counted by the server itself.
#[derive(Debug, Clone)]
pub(crate) struct QueryCounter {
    admin: mongodb::Database,
}

impl QueryCounter {
    pub(crate) async fn connect(uri: &str) -> Result<Self, HarnessError> {
        let client = mongodb::Client::with_uri_str(uri).await?;
        Ok(Self {
            admin: client.database("admin"),
        })
    }

    pub(crate) async fn queries(&self) -> Result<u64, HarnessError> {
        let status = self
            .admin
            .run_command(bson::doc! { "serverStatus": 1 })
            .await?;
        let counters = status.get_document("opcounters").ok();
        let query = counters
            .and_then(|c| c.get("query"))
            .and_then(|v| match v {
                bson::Bson::Int32(n) => u64::try_from(*n).ok(),
                bson::Bson::Int64(n) => u64::try_from(*n).ok(),
                bson::Bson::Double(n) => Some(*n as u64),
                _ => None,
            })
            .unwrap_or(0);
        Ok(query)
    }
}

/// CPU time (user + system) process `pid` has used, in clock ticks (`/proc/PID/stat`).
pub(crate) fn cpu_ticks(pid: u32) -> Result<u64, HarnessError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its `)` are fixed.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (field(11), field(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(HarnessError::Internal(format!(
            "cannot read /proc/{pid}/stat"
        ))),
    }
}

/// Clock ticks to microseconds (Linux's `USER_HZ` is 100 on every architecture it runs here).
pub(crate) fn ticks_to_us(ticks: u64) -> f64 {
    ticks as f64 * 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_grow_with_work_and_unknown_processes_are_errors() {
        let pid = std::process::id();
        let before = cpu_ticks(pid).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(100) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(
            cpu_ticks(pid).unwrap() > before,
            "100 ms of spinning is ticks"
        );
        assert!(cpu_ticks(u32::MAX).is_err());
        assert!((ticks_to_us(3) - 30_000.0).abs() < f64::EPSILON);
    }
}
