//! Redis for tests: a shared server with a logical database per test, or a private server.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::ServiceError;
use crate::process::{BinarySearch, ManagedProcess, connect, free_port};

const URL_VAR: &str = "INFRAMIND_TEST_REDIS_URL";
const INSTALL_HINT: &str = "Run ./scripts/test from the workspace root: it installs redis-server \
    (apt-get, when run as root) and starts it. Or install it yourself (Debian/Ubuntu: `sudo \
    apt-get install redis-server`; Fedora: `sudo dnf install redis`; macOS: `brew install \
    redis`), set INFRAMIND_REDIS_SERVER=/path/to/redis-server, or point \
    INFRAMIND_TEST_REDIS_URL at a Redis the tests may write to.";
/// Enough logical databases that every test of a run gets one of its own.
const DATABASES: u32 = 4096;

/// A Redis for one test: its own logical database on the shared server, and a unique prefix.
///
/// The logical database keeps tests apart even when they scan; the prefix keeps them apart on a
/// server with few databases. Tests that need server-wide state (`INFO`, `FLUSHALL`, an outage)
/// start a [`RedisServer`] of their own instead.
#[derive(Debug, Clone)]
pub struct TestRedis {
    url: String,
    db: u32,
    prefix: String,
}

impl TestRedis {
    /// `redis://host:port/db`, ready for `redis::Client::open`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The logical database selected by [`url`](Self::url).
    pub fn db(&self) -> u32 {
        self.db
    }

    /// A key prefix no other test in this run uses, ending in `:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `suffix` under this test's prefix.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }
}

/// A Redis for the calling test.
///
/// # Panics
///
/// When no Redis can be had; the message says how to install one.
pub fn redis() -> TestRedis {
    try_redis().unwrap_or_else(|e| panic!("{e}"))
}

/// A Redis for the calling test, or why there is none.
///
/// # Errors
///
/// [`ServiceError`] when the URL variable points at nothing usable, or no `redis-server` can be
/// found or started.
pub fn try_redis() -> Result<TestRedis, ServiceError> {
    let shared = shared()?;
    let ticket = shared
        .command(0, &["INCR", "inframind:test:next-db"])
        .map_err(|reason| shared.unreachable(reason))?;
    let ticket: u64 = ticket.parse().unwrap_or(0);
    let db = 1 + (ticket % u64::from(shared.databases.saturating_sub(1).max(1))) as u32;
    Ok(TestRedis {
        url: format!("{}/{db}", shared.base_url),
        db,
        prefix: format!("t{}-{}:", std::process::id(), crate::next_unique()),
    })
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    addr: SocketAddr,
    password: Option<String>,
    databases: u32,
    from_env: bool,
    // Kept so the process lives as long as the test binary; its watchdog stops it at exit.
    _server: Option<Mutex<RedisServer>>,
}

impl Shared {
    fn command(&self, db: u32, args: &[&str]) -> Result<String, String> {
        resp_command(self.addr, self.password.as_deref(), db, args)
    }

    fn unreachable(&self, reason: String) -> ServiceError {
        if self.from_env {
            ServiceError::Unreachable {
                variable: URL_VAR,
                url: self.base_url.clone(),
                reason,
            }
        } else {
            ServiceError::StartFailed {
                binary: PathBuf::from("redis-server"),
                reason,
            }
        }
    }
}

fn shared() -> Result<&'static Shared, ServiceError> {
    static SHARED: OnceLock<Result<Shared, ServiceError>> = OnceLock::new();
    SHARED
        .get_or_init(start_shared)
        .as_ref()
        .map_err(Clone::clone)
}

fn start_shared() -> Result<Shared, ServiceError> {
    if let Ok(url) = std::env::var(URL_VAR) {
        let unreachable = |reason: String| ServiceError::Unreachable {
            variable: URL_VAR,
            url: url.clone(),
            reason,
        };
        let (addr, password) = parse_url(&url).map_err(unreachable)?;
        let mut shared = Shared {
            base_url: url.trim_end_matches('/').to_owned(),
            addr,
            password,
            databases: 16,
            from_env: true,
            _server: None,
        };
        shared.command(0, &["PING"]).map_err(unreachable)?;
        // Managed services may disable CONFIG; 16 is Redis's default.
        if let Ok(count) = shared.command(0, &["CONFIG", "GET", "databases"]) {
            shared.databases = count.parse().unwrap_or(16);
        }
        return Ok(shared);
    }
    let server = RedisServer::start()?;
    Ok(Shared {
        base_url: format!("redis://127.0.0.1:{}", server.port),
        addr: server.addr(),
        password: None,
        databases: DATABASES,
        from_env: false,
        _server: Some(Mutex::new(server)),
    })
}

/// A `redis-server` owned by one test, which may stop and restart it.
///
/// It listens on a free loopback port with persistence off and is stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    process: Option<ManagedProcess>,
}

impl RedisServer {
    /// Finds `redis-server` and starts it on a free port.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NotInstalled`] with installation advice, or
    /// [`ServiceError::StartFailed`] with the server's log.
    pub fn start() -> Result<Self, ServiceError> {
        let binary = BinarySearch {
            override_var: "INFRAMIND_REDIS_SERVER",
            names: &["redis-server"],
            fallbacks: vec![
                PathBuf::from("/usr/bin/redis-server"),
                PathBuf::from("/usr/sbin/redis-server"),
                PathBuf::from("/usr/local/bin/redis-server"),
            ],
        }
        .find()
        .map_err(|searched| ServiceError::NotInstalled {
            service: "redis-server",
            searched,
            install_hint: INSTALL_HINT,
        })?;
        // A port can be taken between choosing it and binding it; try a few.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port().map_err(|e| ServiceError::StartFailed {
                binary: binary.clone(),
                reason: format!("no free port: {e}"),
            })?;
            let mut server = Self {
                binary: binary.clone(),
                port,
                process: None,
            };
            match server.restart() {
                Ok(()) => return Ok(server),
                Err(e) if attempt >= 3 => return Err(e),
                Err(_) => {}
            }
        }
    }

    /// `redis://127.0.0.1:port` (database 0).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The loopback port, kept across [`stop`](Self::stop) and [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Stops the server, as an outage would. Its data is gone.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port (empty), stopping it first if it runs.
    ///
    /// # Errors
    ///
    /// [`ServiceError::StartFailed`] when it does not come up.
    pub fn restart(&mut self) -> Result<(), ServiceError> {
        self.process = None;
        let args: Vec<String> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            &DATABASES.to_string(),
            "--dir",
            "{scratch}",
            "--protected-mode",
            "no",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        let mut process = ManagedProcess::spawn(&self.binary, &args)?;
        let addr = self.addr();
        process.wait_ready(Duration::from_secs(20), || {
            match resp_command(addr, None, 0, &["PING"])?.as_str() {
                "PONG" => Ok(()),
                other => Err(format!("PING answered {other:?}")),
            }
        })?;
        self.process = Some(process);
        Ok(())
    }
}

/// Parses `redis://[:password@]host:port[/db]` into an address and an optional password.
fn parse_url(url: &str) -> Result<(SocketAddr, Option<String>), String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| "only redis:// URLs are supported".to_owned())?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (password, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            let password = userinfo.rsplit(':').next().unwrap_or(userinfo);
            (Some(password.to_owned()), host_port)
        }
        None => (None, authority),
    };
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    let host_port = host_port.replace("localhost", "127.0.0.1");
    let addr = host_port
        .parse()
        .map_err(|e| format!("cannot parse {host_port:?} as an address: {e}"))?;
    Ok((addr, password))
}

/// Sends one command over a fresh connection and returns the reply as text.
///
/// Just enough RESP for the harness (simple strings, integers, bulk strings and arrays of them),
/// so this crate needs no Redis client.
fn resp_command(
    addr: SocketAddr,
    password: Option<&str>,
    db: u32,
    args: &[&str],
) -> Result<String, String> {
    let stream = connect(addr)?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let db = db.to_string();
    let mut round_trip = |args: &[&str]| -> Result<String, String> {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        writer
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        read_reply(&mut reader)
    };
    if let Some(password) = password {
        round_trip(&["AUTH", password])?;
    }
    if db != "0" {
        round_trip(&["SELECT", &db])?;
    }
    round_trip(args)
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, body) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(body.to_owned()),
        "-" => Err(format!("Redis error: {body}")),
        "$" => {
            let len: i64 = body
                .parse()
                .map_err(|_| format!("bad bulk length {body:?}"))?;
            if len < 0 {
                return Ok(String::new());
            }
            let mut data = vec![0; len as usize + 2];
            std::io::Read::read_exact(reader, &mut data).map_err(|e| e.to_string())?;
            data.truncate(len as usize);
            String::from_utf8(data).map_err(|e| e.to_string())
        }
        // `CONFIG GET name` answers [name, value]; the harness only wants the last element.
        "*" => {
            let count: i64 = body
                .parse()
                .map_err(|_| format!("bad array length {body:?}"))?;
            let mut last = String::new();
            for _ in 0..count.max(0) {
                last = read_reply(reader)?;
            }
            Ok(last)
        }
        _ => Err(format!(
            "unexpected reply {line:?}; is this a Redis server?"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_authenticated_urls() {
        let (addr, password) = parse_url("redis://127.0.0.1:6390/3").unwrap();
        assert_eq!(addr, "127.0.0.1:6390".parse().unwrap());
        assert_eq!(password, None);
        let (addr, password) = parse_url("redis://:s3cret@localhost").unwrap();
        assert_eq!(addr, "127.0.0.1:6379".parse().unwrap());
        assert_eq!(password.as_deref(), Some("s3cret"));
        assert!(parse_url("http://127.0.0.1:6379").is_err());
    }
}
