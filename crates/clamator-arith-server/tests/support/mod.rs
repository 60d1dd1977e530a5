//! What the arith-server tests share: the binary started with extra flags
//! (killed when the test ends) and a plain HTTP GET.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Bound on every wait of these tests.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Kills the server when the test ends, however it ends.
pub(crate) struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `arith-server` on `url` under `prefix` with `extra` arguments and
/// waits for its READY line.
pub(crate) fn start_server(url: &str, prefix: &str, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arith-server"))
        .args(["--redis-url", url, "--key-prefix", prefix])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("arith-server starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim() == "READY" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(WAIT).expect("arith-server printed READY");
    server
}

/// `GET <path>` on 127.0.0.1:`port` over a plain TCP connection: the
/// response's head and body.
pub(crate) fn http_get(port: u16, path: &str) -> (String, String) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    conn.set_read_timeout(Some(WAIT)).expect("a read timeout");
    let head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).expect("sends the request");
    let mut response = String::new();
    conn.read_to_string(&mut response)
        .expect("reads the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    (head.to_owned(), body.to_owned())
}
