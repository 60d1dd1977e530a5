//! The client/server pairs the benchmark measures.

use serde::Serialize;

/// A client and the server it calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Pair {
    /// The floor: the same Redis commands with redis-rs, without clamator.
    Raw,
    /// Rust client (in this process) -> Rust server (a second process).
    RustRust,
    /// Rust client -> Rust server, on a local Redis Cluster of 3 primaries.
    RustRustCluster,
    /// Python 0.1.9 client -> Python 0.1.9 server.
    PyPy,
    /// Python 0.1.9 client -> Rust server.
    PyRust,
    /// Rust client -> Python 0.1.9 server.
    RustPy,
}

/// Which program makes the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ClientKind {
    /// The raw redis-rs client of the floor, in this process.
    Raw,
    /// `RedisRpcClient`, in this process.
    Rust,
    /// The peer's `RedisRpcClient`, in a Python process.
    Python,
}

/// Which program answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ServerKind {
    /// The raw redis-rs loop of the floor, in a second process.
    Raw,
    /// `RedisRpcServer` serving `arith`, in a second process.
    Rust,
    /// The peer's `RedisRpcServer` serving `arith`, in a Python process.
    Python,
}

impl Pair {
    /// Every pair, in the order they are measured (the floor and Rust first,
    /// so the numbers the targets compare are taken close together).
    pub(crate) const ALL: [Pair; 6] = [
        Pair::Raw,
        Pair::RustRust,
        Pair::RustRustCluster,
        Pair::PyPy,
        Pair::PyRust,
        Pair::RustPy,
    ];

    /// The name used on the command line and in the output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pair::Raw => "raw",
            Pair::RustRust => "rust-rust",
            Pair::RustRustCluster => "rust-rust-cluster",
            Pair::PyPy => "py-py",
            Pair::PyRust => "py-rust",
            Pair::RustPy => "rust-py",
        }
    }

    /// Who calls.
    pub(crate) fn client(self) -> ClientKind {
        match self {
            Pair::Raw => ClientKind::Raw,
            Pair::RustRust | Pair::RustRustCluster | Pair::RustPy => ClientKind::Rust,
            Pair::PyPy | Pair::PyRust => ClientKind::Python,
        }
    }

    /// Who answers.
    pub(crate) fn server(self) -> ServerKind {
        match self {
            Pair::Raw => ServerKind::Raw,
            Pair::RustRust | Pair::RustRustCluster | Pair::PyRust => ServerKind::Rust,
            Pair::PyPy | Pair::RustPy => ServerKind::Python,
        }
    }

    /// Whether it runs on the local Redis Cluster instead of the single Redis.
    pub(crate) fn on_cluster(self) -> bool {
        self == Pair::RustRustCluster
    }

    /// Whether measuring it needs the Python peer.
    pub(crate) fn needs_python(self) -> bool {
        self.client() == ClientKind::Python || self.server() == ServerKind::Python
    }
}

impl ClientKind {
    /// A short label for the table.
    pub(crate) fn label(self) -> &'static str {
        match self {
            ClientKind::Raw => "redis-rs",
            ClientKind::Rust => "rust",
            ClientKind::Python => "python",
        }
    }
}

impl ServerKind {
    /// A short label for the table.
    pub(crate) fn label(self) -> &'static str {
        match self {
            ServerKind::Raw => "redis-rs",
            ServerKind::Rust => "rust",
            ServerKind::Python => "python",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_clap() {
        use clap::ValueEnum;
        for p in Pair::ALL {
            assert_eq!(Pair::from_str(p.name(), false), Ok(p));
        }
        assert!(!Pair::Raw.needs_python() && !Pair::RustRust.needs_python());
        assert!(Pair::PyRust.needs_python() && Pair::RustPy.needs_python());
        assert_eq!(Pair::RustPy.client(), ClientKind::Rust);
        assert_eq!(Pair::RustPy.server(), ServerKind::Python);
    }
}
