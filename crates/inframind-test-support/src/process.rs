//! Finding, starting and always stopping server processes.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::ServiceError;

/// Where to look for a server binary.
pub(crate) struct BinarySearch<'a> {
    /// An environment variable naming the binary. When set, it is the only candidate, so a test
    /// can point it at a missing file to see the failure path.
    pub(crate) override_var: &'a str,
    /// Names looked up on `PATH`, in order of preference.
    pub(crate) names: &'a [&'a str],
    /// Absolute candidates tried after `PATH`.
    pub(crate) fallbacks: Vec<PathBuf>,
}

impl BinarySearch<'_> {
    /// The first executable candidate, or every place that was tried.
    pub(crate) fn find(&self) -> Result<PathBuf, Vec<PathBuf>> {
        if let Some(explicit) = std::env::var_os(self.override_var) {
            let explicit = PathBuf::from(explicit);
            return if is_executable(&explicit) {
                Ok(explicit)
            } else {
                Err(vec![explicit])
            };
        }
        let mut tried = Vec::new();
        let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).collect())
            .unwrap_or_default();
        for name in self.names {
            for dir in &path_dirs {
                let candidate = dir.join(name);
                if is_executable(&candidate) {
                    return Ok(candidate);
                }
            }
            tried.push(PathBuf::from(format!("$PATH/{name}")));
        }
        for candidate in &self.fallbacks {
            if is_executable(candidate) {
                return Ok(candidate.clone());
            }
            tried.push(candidate.clone());
        }
        Err(tried)
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A loopback port that was free a moment ago. Callers retry if a racing process takes it.
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A server child process with a scratch folder and a watchdog.
///
/// Dropping it stops the server. The watchdog, a small shell loop, stops the server when the
/// test process exits without dropping it (a process-wide shared server, or a panic that aborts).
#[derive(Debug)]
pub(crate) struct ManagedProcess {
    server: Child,
    watchdog: Option<Child>,
    binary: PathBuf,
    scratch: PathBuf,
    log: PathBuf,
}

impl ManagedProcess {
    /// Starts `binary` with `args`; `{scratch}` in an argument becomes the scratch folder.
    pub(crate) fn spawn(binary: &Path, args: &[String]) -> Result<Self, ServiceError> {
        let scratch = std::env::temp_dir().join(format!(
            "inframind-test-{}-{}",
            std::process::id(),
            crate::next_unique()
        ));
        let start_failed = |reason: String| ServiceError::StartFailed {
            binary: binary.to_path_buf(),
            reason,
        };
        fs::create_dir_all(&scratch)
            .map_err(|e| start_failed(format!("cannot create {}: {e}", scratch.display())))?;
        let log = scratch.join("server.log");
        let log_file =
            fs::File::create(&log).map_err(|e| start_failed(format!("cannot create log: {e}")))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| start_failed(format!("cannot open log: {e}")))?;
        let scratch_str = scratch.to_string_lossy();
        let args: Vec<String> = args
            .iter()
            .map(|arg| arg.replace("{scratch}", &scratch_str))
            .collect();
        let server = Command::new(binary)
            .args(&args)
            .current_dir(&scratch)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| start_failed(format!("spawn failed: {e}")))?;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(
                r#"while kill -0 "$0" 2>/dev/null && kill -0 "$1" 2>/dev/null; do sleep 0.3; done
                   kill "$1" 2>/dev/null; sleep 3; kill -9 "$1" 2>/dev/null; exit 0"#,
            )
            .arg(std::process::id().to_string())
            .arg(server.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Ok(Self {
            server,
            watchdog,
            binary: binary.to_path_buf(),
            scratch,
            log,
        })
    }

    /// Polls `ready` until it succeeds, the server exits, or `timeout` passes.
    pub(crate) fn wait_ready(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> Result<(), String>,
    ) -> Result<(), ServiceError> {
        let deadline = Instant::now() + timeout;
        loop {
            let last_error = match ready() {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if let Ok(Some(status)) = self.server.try_wait() {
                return Err(self.failure(format!("it exited with {status}")));
            }
            if Instant::now() >= deadline {
                return Err(self.failure(format!(
                    "not ready after {timeout:?} (last error: {last_error})"
                )));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn failure(&self, reason: String) -> ServiceError {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        ServiceError::StartFailed {
            binary: self.binary.clone(),
            reason: format!("{reason}; server log tail:\n{}", tail.join("\n")),
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL after a grace period) and its watchdog.
    pub(crate) fn stop(&mut self) {
        if matches!(self.server.try_wait(), Ok(None)) {
            // SIGTERM first so servers clean up their own temporary storage.
            let _ = Command::new("kill")
                .arg(self.server.id().to_string())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(self.server.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = self.server.kill();
            let _ = self.server.wait();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.scratch);
    }
}

/// Connects to a loopback port with a short timeout.
pub(crate) fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    Ok(stream)
}
