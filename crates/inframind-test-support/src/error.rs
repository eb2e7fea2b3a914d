use std::fmt;
use std::path::PathBuf;

/// Why a test service could not be provided.
///
/// Its `Display` is the message a failing test prints, so every variant says what to do next.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServiceError {
    /// No server binary was found, and no URL variable was set.
    NotInstalled {
        /// The service, for example `redis-server`.
        service: &'static str,
        /// Where this crate looked.
        searched: Vec<PathBuf>,
        /// How to install it.
        install_hint: &'static str,
    },
    /// A binary was found but the server did not come up.
    StartFailed {
        /// The binary that was started.
        binary: PathBuf,
        /// What went wrong, with the tail of the server's own log.
        reason: String,
    },
    /// A URL was given in the environment but nothing usable answers there.
    Unreachable {
        /// The environment variable that held the URL.
        variable: &'static str,
        /// The URL.
        url: String,
        /// The I/O or protocol failure.
        reason: String,
    },
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled {
                service,
                searched,
                install_hint,
            } => {
                write!(
                    f,
                    "{service} is needed by this test but was not found (looked in: "
                )?;
                for (i, path) in searched.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", path.display())?;
                }
                write!(f, "). {install_hint}")
            }
            Self::StartFailed { binary, reason } => write!(
                f,
                "{} was found but did not start: {reason}. Run ./scripts/test from the \
                 workspace root, which installs and starts the test services itself.",
                binary.display()
            ),
            Self::Unreachable {
                variable,
                url,
                reason,
            } => write!(
                f,
                "{variable}={url} is set but the server there cannot be used: {reason}. Start \
                 it, or unset {variable} to let the tests start a private server."
            ),
        }
    }
}

impl std::error::Error for ServiceError {}
