//! `clamator top` against a throwaway redis-server with an `arith` worker in
//! the test process and a client calling it: the JSON lines (`--json`), a
//! Redis that goes away and comes back, and the terminal screen driven as a
//! person would, in a tmux session (keys sent, the screen read back).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clamator_arith::{AddParams, ArithClient, ArithContract, ArithHandler};
use clamator_over_redis::{ConnectOptions, RedisRpcClient, RedisRpcServer, ServerOptions};
use clamator_test_support::{RedisServer, unique_prefix};
use serde_json::Value;

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(30);

/// A throwaway Redis, a unique prefix, an `arith` worker and a client calling
/// `arith.add` in a loop until dropped.
struct Fixture {
    redis: RedisServer,
    prefix: String,
    rt: tokio::runtime::Runtime,
    server: Option<RedisRpcServer>,
    calling: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
}

impl Fixture {
    fn start() -> Fixture {
        let redis = RedisServer::start();
        let prefix = unique_prefix();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let conn = ConnectOptions::new(&prefix, &redis.url()).unwrap();
        let server = rt
            .block_on(async {
                tokio::time::timeout(
                    WAIT,
                    RedisRpcServer::builder(conn.clone())
                        .options(ServerOptions::default().instance_id("t1"))
                        .register(ArithContract, ArithHandler::new("t1"))
                        .unwrap()
                        .start(),
                )
                .await
            })
            .unwrap()
            .unwrap();
        let calling = Arc::new(AtomicBool::new(true));
        let calls = Arc::new(AtomicU64::new(0));
        let (on, n) = (calling.clone(), calls.clone());
        rt.spawn(async move {
            // Keeps calling across a Redis restart: a failed connect or call is retried.
            while on.load(Ordering::Relaxed) {
                let Ok(client) = RedisRpcClient::connect(conn.clone()).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let arith = ArithClient::new(&client);
                while on.load(Ordering::Relaxed) {
                    if arith.add(AddParams { a: 1.0, b: 2.0 }).await.is_err() {
                        break;
                    }
                    n.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                client.close().await;
            }
        });
        Fixture {
            redis,
            prefix,
            rt,
            server: Some(server),
            calling,
            calls,
        }
    }

    /// Waits until the client made `n` calls (so the stream is busy).
    fn await_calls(&self, n: u64) {
        let deadline = Instant::now() + WAIT;
        while self.calls.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "no {n} calls within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `clamator --redis-url .. --key-prefix .. top <args>`, stdout piped.
    fn top(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_clamator"))
            .env_remove("REDIS_URL")
            .env_remove("CLAMATOR_KEY_PREFIX")
            .args([
                "--redis-url",
                &self.redis.url(),
                "--key-prefix",
                &self.prefix,
            ])
            .arg("top")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.calling.store(false, Ordering::Relaxed);
        if let Some(server) = self.server.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(WAIT, server.stop()).await });
        }
    }
}

/// A child process killed when dropped (a failed assertion must not leave it running).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child's stdout, line by line, as JSON, on a channel.
fn json_lines(child: &mut Child) -> mpsc::Receiver<Value> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if tx.send(value).is_err() {
                return;
            }
        }
    });
    rx
}

/// The `arith` entry of a sample.
fn arith(sample: &Value) -> Option<&Value> {
    sample["services"]
        .as_array()?
        .iter()
        .find(|s| s["service"] == "arith")
}

#[test]
fn json_samples_show_the_service_and_its_rate() {
    let f = Fixture::start();
    f.await_calls(5);
    let started = Instant::now();
    let out = f
        .top(&["--json", "--count", "3", "--interval-ms", "300"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(started.elapsed() < WAIT);
    let samples: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(samples.len(), 3, "{samples:#?}");
    for s in &samples {
        assert!(s["timestamp"].as_str().unwrap().ends_with('Z'), "{s}");
        let a = arith(s).unwrap_or_else(|| panic!("no arith in {s}"));
        assert!(a["pending"].is_u64(), "{a}");
        assert!(a["lag"].is_u64(), "{a}");
        assert!(a["entries_added"].as_u64().unwrap() > 0, "{a}");
        assert_eq!(a["dead_letters"], 0, "{a}");
        let consumers = a["consumers"].as_array().unwrap();
        assert_eq!(consumers.len(), 1, "{a}");
        assert_eq!(consumers[0]["name"], "arith:t1");
        assert!(consumers[0]["idle_ms"].is_u64());
        assert!(s["reply_streams"]["total"].as_u64().unwrap() >= 1, "{s}");
        assert!(s["reply_streams"]["idle"].is_u64(), "{s}");
    }
    // No rate before there are two samples; then the calls show.
    assert!(arith(&samples[0]).unwrap()["calls_per_sec"].is_null());
    assert!(samples[0]["elapsed_ms"].is_null());
    let later: Vec<f64> = samples[1..]
        .iter()
        .map(|s| arith(s).unwrap()["calls_per_sec"].as_f64().unwrap())
        .collect();
    assert!(later.iter().any(|&r| r > 0.0), "{samples:#?}");
    assert!(
        samples[2]["elapsed_ms"].as_u64().unwrap() >= 200,
        "{samples:#?}"
    );
}

#[test]
fn json_mode_reports_redis_going_away_and_carries_on() {
    let mut f = Fixture::start();
    f.await_calls(1);
    let mut top = Killed(f.top(&["--json", "--interval-ms", "200"]));
    let lines = json_lines(&mut top.0);
    let next = |what: &str| {
        lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no JSON line while waiting for {what}: {e}"))
    };
    let first = next("a sample");
    assert!(arith(&first).is_some(), "{first}");

    f.redis.kill();
    let error = loop {
        let line = next("an error line");
        if line.get("error").is_some() {
            break line;
        }
    };
    let text = error["error"].as_str().unwrap();
    assert!(text.contains("Redis"), "{error}");
    assert!(error["timestamp"].is_string(), "{error}");
    assert!(top.0.try_wait().unwrap().is_none(), "top exited: {error}");

    // Back, empty (no persistence): the worker recreates its group and top shows it again.
    f.redis.restart();
    loop {
        let line = next("a sample with arith after the restart");
        if line.get("error").is_none() && arith(&line).is_some() {
            break;
        }
    }
    assert!(top.0.try_wait().unwrap().is_none());
}

/// A tmux server of its own (`tmux -L <socket>`) and a scratch directory,
/// both gone when dropped.
struct Tmux {
    socket: String,
    session: String,
    dir: std::path::PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    /// Runs a tmux command; its stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    fn send(&self, key: &str) {
        self.run(&["send-keys", "-t", &self.session, key]);
    }

    /// Polls the screen until `done` holds for it (at most [`WAIT`]); the screen.
    fn until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen did not show {what} within {WAIT:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pane(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", &self.session, format])
            .trim()
            .to_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .cmd()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn the_screen_shows_the_service_sorts_and_quits_restoring_the_terminal() {
    let version = Command::new("tmux").arg("-V").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "this test drives `clamator top` in a terminal and needs tmux on PATH \
         (Debian/Ubuntu: apt-get install tmux; .ci/run installs it): {version:?}"
    );
    let f = Fixture::start();
    f.await_calls(5);
    let unique = format!("clamator-top-{}-{}", std::process::id(), f.prefix);
    let tmux = Tmux {
        socket: unique.clone(),
        dir: std::env::temp_dir().join(&unique),
        session: unique,
    };
    std::fs::create_dir_all(&tmux.dir).unwrap();
    // After top, the shell notes how it exited and the terminal's modes (in
    // files: the pane's first lines may scroll away when it dies), then
    // waits for Enter (a dead pane hides the cursor: check it before).
    let status = tmux.dir.join("status");
    let modes = tmux.dir.join("stty");
    let script = format!(
        "'{bin}' --redis-url '{url}' --key-prefix '{prefix}' top; echo $? > '{status}'; \
         stty -a > '{modes}.tmp'; mv '{modes}.tmp' '{modes}'; read _",
        bin = env!("CARGO_BIN_EXE_clamator"),
        url = f.redis.url(),
        prefix = f.prefix,
        status = status.display(),
        modes = modes.display(),
    );
    tmux.run(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        &tmux.session,
        "-x",
        "120",
        "-y",
        "30",
        "sh",
        "-c",
        &script,
        ";",
        "set-option",
        "-t",
        &tmux.session,
        "remain-on-exit",
        "on",
    ]);

    let screen = tmux.until("the header and the arith row sorted by name", |s| {
        s.contains("clamator top")
            && s.lines().any(|l| l.starts_with("SERVICE*"))
            && s.lines().any(|l| l.starts_with("arith "))
    });
    assert!(screen.contains("q quit  s sort (by name)"), "{screen}");
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "1",
        "top uses the alternate screen"
    );

    tmux.send("s");
    let screen = tmux.until("the sort moved to calls/s", |s| {
        s.contains("CALLS/S*") && s.contains("s sort (by calls/s)")
    });
    assert!(!screen.contains("SERVICE*"), "{screen}");
    // A later sample shows arith's calls/s (the client keeps calling).
    let screen = tmux.until("a nonzero calls/s for arith", |s| {
        s.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.first() == Some(&"arith")
                && cells
                    .get(1)
                    .is_some_and(|c| c.parse::<f64>().is_ok_and(|r| r > 0.0))
        })
    });
    eprintln!("the screen:\n{screen}");

    tmux.send("q");
    let deadline = Instant::now() + WAIT;
    while !modes.exists() {
        assert!(
            Instant::now() < deadline,
            "top did not exit on q:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "0");
    let modes = std::fs::read_to_string(&modes).unwrap();
    let flags: Vec<&str> = modes.split([' ', ';', '\n']).collect();
    assert!(
        flags.contains(&"icanon") && flags.contains(&"echo"),
        "raw mode was not undone: {modes}"
    );
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(
        tmux.pane("#{cursor_flag}"),
        "1",
        "the cursor is still hidden"
    );
    let screen = tmux.screen();
    assert!(
        !screen.contains("CALLS/S"),
        "top's screen is left: {screen}"
    );

    // And the pane's process ends: nothing of top is left running.
    tmux.send("Enter");
    while tmux.pane("#{pane_dead}") != "1" {
        assert!(Instant::now() < deadline, "the pane did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}
