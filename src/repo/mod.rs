//! Talking to a Debian archive: finding its URL ([`mirror`]), fetching
//! bytes ([`transport`]), verifying the signed `InRelease` ([`release`]) and
//! reading the Packages indices it vouches for ([`index`]).
//!
//! The chain of trust (Debian wiki "SecureApt"): a key in `keys/` signs
//! `dists/<suite>/InRelease`; InRelease lists the SHA256 and size of each
//! Packages index; each Packages stanza lists the SHA256 and size of its
//! `.deb`. Every link is checked here or in [`crate::fetch`], failing closed.

pub mod contents;
pub mod index;
pub mod mirror;
pub mod release;
pub mod transport;

pub use index::{BinaryPackage, PackageIndex};
pub use release::VerifiedRelease;
pub use transport::Transport;

/// Errors from mirror discovery, transport, signature and index checks.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No base URL could be found for a suite.
    #[error("no mirror for suite {suite}: set `url:` on the source in the spec, pass --mirror URL (or DISTILL_MIRROR), or add the suite to the host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.sources)")]
    NoMirror {
        /// The suite that has no URL.
        suite: String,
    },
    /// A `--mirror`/`DISTILL_MIRROR` value is malformed.
    #[error("invalid mirror {value:?}: {reason}")]
    BadMirror {
        /// The value as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A download failed (after retries).
    #[error("cannot fetch {url}: {reason}")]
    Fetch {
        /// The URL (credentials removed).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A `DISTILL_HTTP_*` setting is malformed.
    #[error("invalid {variable}={value:?}: {reason}")]
    Settings {
        /// The environment variable.
        variable: String,
        /// Its value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The URL does not exist on the server (HTTP 404 / missing file).
    #[error("not found: {url}")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// A key file could not be read or parsed.
    #[error("cannot load key {path}: {reason}")]
    Key {
        /// The key file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// InRelease is not signed by any of the source's keys.
    #[error("InRelease of suite {suite} at {url} is not signed by any trusted key ({keys}): {reason}")]
    BadSignature {
        /// The suite.
        suite: String,
        /// The InRelease URL.
        url: String,
        /// The key files tried.
        keys: String,
        /// Why verification failed.
        reason: String,
    },
    /// InRelease is malformed or does not describe the requested suite.
    #[error("invalid InRelease for suite {suite} at {url}: {reason}")]
    BadRelease {
        /// The suite.
        suite: String,
        /// The InRelease URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// InRelease's `Valid-Until` is in the past.
    #[error("InRelease of suite {suite} at {url} expired at {valid_until} (Valid-Until); the mirror is stale or replaying old metadata (for a snapshot mirror, set `check_valid_until: false` on the source)")]
    Expired {
        /// The suite.
        suite: String,
        /// The InRelease URL.
        url: String,
        /// The `Valid-Until` value.
        valid_until: String,
    },
    /// The mirror serves an InRelease older than the one the lock file was
    /// made from: a rollback (replay of old, validly signed metadata).
    #[error("InRelease of suite {suite} at {url} is dated {date}, older than {locked} recorded in {lock}; the mirror is serving old metadata (a rollback). Use an up-to-date mirror; to go back in time on purpose (a snapshot mirror), delete the lock file and run `distill lock` again")]
    Rollback {
        /// The suite.
        suite: String,
        /// The InRelease URL.
        url: String,
        /// `Date` of the InRelease served.
        date: String,
        /// `Date` recorded in the lock.
        locked: String,
        /// The lock file.
        lock: std::path::PathBuf,
    },
    /// A downloaded file does not match the size/SHA256 it must have.
    #[error("checksum mismatch for {what} from {url}: expected sha256 {expected} size {expected_size}, got sha256 {actual} size {actual_size}")]
    Checksum {
        /// What was downloaded (e.g. `Packages index main/binary-amd64`).
        what: String,
        /// The URL.
        url: String,
        /// Expected SHA256 (hex).
        expected: String,
        /// Actual SHA256 (hex).
        actual: String,
        /// Expected size in bytes.
        expected_size: u64,
        /// Actual size in bytes.
        actual_size: u64,
    },
    /// InRelease lists no usable Packages index for a component/architecture.
    #[error("suite {suite} has no Packages index for component {component}, architecture {arch} (is the component or architecture spelled right?)")]
    NoIndex {
        /// The suite.
        suite: String,
        /// The component.
        component: String,
        /// The architecture.
        arch: String,
    },
    /// A Packages index could not be parsed.
    #[error("invalid Packages index {what}: {reason}")]
    BadIndex {
        /// Which index.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A cache I/O error.
    #[error("cache error at {path}: {source}")]
    Cache {
        /// The cache path.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
