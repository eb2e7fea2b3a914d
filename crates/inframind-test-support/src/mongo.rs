//! A MongoDB wire server for tests: SecantusDB (Rust or Python daemon) or any `mongod` by URI.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::ServiceError;
use crate::process::{BinarySearch, ManagedProcess, connect, free_port};

const URI_VAR: &str = "INFRAMIND_TEST_MONGODB_URI";
const INSTALL_HINT: &str = "Run ./scripts/test from the workspace root: it installs SecantusDB \
    into ./.venv and starts it. Or install it yourself (`python3 -m venv .venv && \
    .venv/bin/pip install SecantusDB==0.7.0b3`, giving .venv/bin/secantusd-py), set \
    INFRAMIND_SECANTUSD=/path/to/secantusd-py-or-secantusd-rs, or point \
    INFRAMIND_TEST_MONGODB_URI at a MongoDB the tests may write to (mongodb://127.0.0.1:27017).";

/// A MongoDB for one test: a server URI and a database name no other test uses.
#[derive(Debug, Clone)]
pub struct TestMongo {
    uri: String,
    database: String,
}

impl TestMongo {
    /// The server's connection string, for `mongodb::Client::with_uri_str`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// A database name unique to this test within the run.
    pub fn database(&self) -> &str {
        &self.database
    }
}

/// A MongoDB for the calling test.
///
/// # Panics
///
/// When no MongoDB wire server can be had; the message says how to install one.
pub fn mongodb() -> TestMongo {
    try_mongodb().unwrap_or_else(|e| panic!("{e}"))
}

/// A MongoDB for the calling test, or why there is none.
///
/// # Errors
///
/// [`ServiceError`] when the URI variable points at nothing reachable, or no SecantusDB can be
/// found or started.
pub fn try_mongodb() -> Result<TestMongo, ServiceError> {
    static SHARED: OnceLock<Result<SharedMongo, ServiceError>> = OnceLock::new();
    let (uri, _) = SHARED
        .get_or_init(start_shared)
        .as_ref()
        .map_err(Clone::clone)?;
    Ok(TestMongo {
        uri: uri.clone(),
        database: format!("t{}_{}", std::process::id(), crate::next_unique()),
    })
}

/// The shared server's URI, and the process when this test binary started it.
type SharedMongo = (String, Option<Mutex<MongoServer>>);

fn start_shared() -> Result<SharedMongo, ServiceError> {
    if let Ok(uri) = std::env::var(URI_VAR) {
        // Only a plain single-host URI can be probed here; anything else is left to the driver.
        if let Some(addr) = single_host(&uri) {
            connect(addr).map_err(|reason| ServiceError::Unreachable {
                variable: URI_VAR,
                url: uri.clone(),
                reason,
            })?;
        }
        return Ok((uri, None));
    }
    let server = MongoServer::start()?;
    Ok((server.uri(), Some(Mutex::new(server))))
}

fn single_host(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("mongodb://")?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    if host_port.contains(',') {
        return None;
    }
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:27017")
    };
    host_port.to_socket_addrs().ok()?.next()
}

/// A SecantusDB server owned by one test (for counting server-wide operations, or an outage),
/// which may stop and restart it.
///
/// Prefers the Rust daemon `secantusd-rs` when installed (it is much faster per document), then
/// the project's `.venv/bin/secantusd-py`, then `secantusd-py` on `PATH`. It listens on a free
/// loopback port and keeps its data in a temporary folder of its own, so, as with a real
/// `mongod`, what was written before [`stop`](Self::stop) is still there after
/// [`restart`](Self::restart). Dropping it stops the server and deletes the folder; a watchdog
/// stops the server when the test process exits without dropping it.
#[derive(Debug)]
pub struct MongoServer {
    port: u16,
    binary: PathBuf,
    storage: PathBuf,
    process: Option<ManagedProcess>,
}

impl MongoServer {
    /// Finds SecantusDB and starts it on a free loopback port, with empty storage.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NotInstalled`] with installation advice, or
    /// [`ServiceError::StartFailed`] with the server's log.
    pub fn start() -> Result<Self, ServiceError> {
        let binary = find_secantusd()?;
        // A port can be taken between choosing it and binding it; try a few.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port().map_err(|e| ServiceError::StartFailed {
                binary: binary.clone(),
                reason: format!("no free port: {e}"),
            })?;
            let storage = std::env::temp_dir().join(format!(
                "inframind-mongo-{}-{}",
                std::process::id(),
                crate::next_unique()
            ));
            let mut server = Self {
                port,
                binary: binary.clone(),
                storage,
                process: None,
            };
            match server.restart() {
                Ok(()) => return Ok(server),
                Err(e) if attempt >= 3 => return Err(e),
                // Dropping `server` deletes its storage before the next port is tried.
                Err(_) => {}
            }
        }
    }

    /// `mongodb://127.0.0.1:port/?directConnection=true`.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// The loopback port, kept across [`stop`](Self::stop) and [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The binary that serves this instance.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Stops the server, as an outage would (SIGTERM, then SIGKILL after a grace period). Its
    /// data stays on disk for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port, over the same storage, stopping it first if
    /// it runs. Documents written before a [`stop`](Self::stop) are still there.
    ///
    /// # Errors
    ///
    /// [`ServiceError::StartFailed`] when it does not come up (for example when another process
    /// took the port while it was down), with the server's log.
    pub fn restart(&mut self) -> Result<(), ServiceError> {
        self.process = None;
        std::fs::create_dir_all(&self.storage).map_err(|e| ServiceError::StartFailed {
            binary: self.binary.clone(),
            reason: format!("cannot create {}: {e}", self.storage.display()),
        })?;
        // Both daemons take the same flags; a real folder (not secantusd-py's `:memory:`) is
        // what lets data outlive a restart.
        let args: Vec<String> = vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            self.port.to_string(),
            "--storage-path".into(),
            self.storage.to_string_lossy().into_owned(),
            "--log-level".into(),
            "WARNING".into(),
        ];
        let mut process = ManagedProcess::spawn(&self.binary, &args)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        process.wait_ready(Duration::from_secs(30), || connect(addr).map(drop))?;
        self.process = Some(process);
        Ok(())
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        // The server first, so it does not write into a folder being deleted.
        self.process = None;
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

fn find_secantusd() -> Result<PathBuf, ServiceError> {
    let venv = crate::workspace_root().join(".venv/bin/secantusd-py");
    let cargo_bin = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo/bin/secantusd-rs"))
        .unwrap_or_default();
    let rust_or_venv = BinarySearch {
        override_var: "INFRAMIND_SECANTUSD",
        names: &["secantusd-rs"],
        fallbacks: vec![cargo_bin, venv],
    }
    .find();
    rust_or_venv
        .or_else(|mut searched| {
            BinarySearch {
                override_var: "INFRAMIND_SECANTUSD",
                names: &["secantusd-py"],
                fallbacks: Vec::new(),
            }
            .find()
            .map_err(|more| {
                searched.extend(more);
                searched.dedup();
                searched
            })
        })
        .map_err(|searched| ServiceError::NotInstalled {
            service: "SecantusDB (secantusd-rs or secantusd-py)",
            searched,
            install_hint: INSTALL_HINT,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_host_uris_are_probed_and_others_left_to_the_driver() {
        assert_eq!(
            single_host("mongodb://127.0.0.1:27018/?directConnection=true"),
            Some("127.0.0.1:27018".parse().unwrap())
        );
        assert_eq!(
            single_host("mongodb://user:pw@127.0.0.1/db"),
            Some("127.0.0.1:27017".parse().unwrap())
        );
        assert_eq!(single_host("mongodb://a:1,b:2/?replicaSet=rs"), None);
        assert_eq!(single_host("mongodb+srv://cluster.example"), None);
    }
}
