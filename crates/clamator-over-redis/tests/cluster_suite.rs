//! The single-Redis suites, run again on a Redis Cluster of 3 primaries.
//!
//! Each file below gets its contexts with `TestContext::on(crate::DEPLOYMENT)`,
//! and here `DEPLOYMENT` is the binary's shared cluster (in each file's own
//! binary, its shared Redis): the round trip and
//! notifications (`rpc.rs`), every docs/WIRE.md §4 error row (`conformance.rs`), the
//! worker pool and crash recovery (`pool.rs`), dead letters, trimming, the
//! fault tests and the lifecycle (stop, CLIENT UNBLOCK routed to the stream's
//! primary) assert the same behaviour here as on one Redis. (Tests that need
//! a server of their own, to restart or freeze it, run on one Redis in both
//! binaries.) Cluster-only behaviour (many services spread over primaries,
//! failover, resharding) is in `cluster.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clamator_test_support::context::Deployment;

/// Where every `TestContext::on(crate::DEPLOYMENT)` of the files below puts
/// its test: this binary's shared Redis Cluster.
const DEPLOYMENT: Deployment = Deployment::Cluster;

#[path = "conformance.rs"]
mod conformance;
#[path = "dead_letter.rs"]
mod dead_letter;
#[path = "dedupe.rs"]
mod dedupe;
#[path = "faults.rs"]
mod faults;
#[path = "lifecycle.rs"]
mod lifecycle;
#[path = "pool.rs"]
mod pool;
#[path = "rpc.rs"]
mod rpc;
#[path = "trim.rs"]
mod trim;

#[test]
fn the_suites_here_run_on_the_cluster() {
    let ctx = clamator_test_support::TestContext::on(DEPLOYMENT);
    assert!(ctx.is_cluster(), "{}", ctx.url());
    assert!(ctx.conn().is_cluster());
    assert_eq!(
        clamator_test_support::cluster::shared_cluster()
            .primaries()
            .len(),
        3
    );
}
