//! A `cc-node` process for one test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::{free_port, free_range};

/// What a test's node serves.
pub struct NodeOptions {
    /// `(file name, YAML)` of each unit; `{uas_port}`-style placeholders are
    /// the test's business.
    pub units: Vec<(String, String)>,
    /// `(unit, prompt name, file, milliseconds)` of each test prompt.
    pub prompts: Vec<(String, String, u32)>,
    /// Extra `CC__…` settings.
    pub env: Vec<(String, String)>,
}

/// A running node; killed when dropped.
pub struct Node {
    child: Child,
    pub dir: PathBuf,
    pub sip_port: u16,
    pub http_port: u16,
}

/// The node binary the test command built (debug, or release for load tests).
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("CC_NODE_BIN") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target"));
    let debug = target.join("debug/cc-node");
    if !debug.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "cc-node", "--bin", "cc-node"])
            .current_dir(&root)
            .status()
            .expect("building cc-node");
        assert!(status.success(), "cc-node did not build");
    }
    debug
}

/// A fresh folder under the system temp dir.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cc-test-{label}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ (free_port() as u128)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Node {
    pub fn start(label: &str, options: NodeOptions) -> Node {
        let dir = temp_dir(label);
        let units = dir.join("units");
        std::fs::create_dir_all(&units).unwrap();
        for (file, yaml) in &options.units {
            std::fs::write(units.join(file), yaml).unwrap();
        }
        for (unit, name, millis) in &options.prompts {
            let folder = units.join("prompts").join(unit);
            std::fs::create_dir_all(&folder).unwrap();
            crate::prompts::write(&folder.join(format!("{name}.wav")), name, *millis);
        }
        // A port chosen free may be taken before the node binds it (tests
        // run in parallel): then the node is started again on others.
        for attempt in 1.. {
            let sip_port = free_port();
            let http_port = free_port();
            let (rtp_min, rtp_max) = free_range(400);
            let log = std::fs::File::create(dir.join("node.log")).unwrap();
            let mut command = Command::new(binary());
            command
                .env("CC__NODE__NAME", label)
                .env("CC__SIP__LISTEN", format!("127.0.0.1:{sip_port}"))
                .env("CC__HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
                .env("CC__MEDIA__PORT_MIN", rtp_min.to_string())
                .env("CC__MEDIA__PORT_MAX", rtp_max.to_string())
                .env("CC__PATHS__UNITS", &units)
                .env("CC__PATHS__RECORDS", dir.join("records.jsonl"))
                .env("CC__PATHS__VOICEMAIL", dir.join("voicemail"))
                .env("CC__LOG__LEVEL", "debug")
                .stdout(Stdio::null())
                .stderr(log);
            for (key, value) in &options.env {
                command.env(key, value);
            }
            let child = command.spawn().expect("starting cc-node");
            let mut node = Node {
                child,
                dir: dir.clone(),
                sip_port,
                http_port,
            };
            match node.wait_ready() {
                Ok(()) => return node,
                Err(log) if attempt < 5 && log.contains("Address already in use") => {
                    // Not Drop: it would remove the folder the next
                    // attempt uses.
                    let _ = node.child.kill();
                    let _ = node.child.wait();
                    std::mem::forget(node);
                    continue;
                }
                Err(log) => panic!("cc-node did not start:\n{log}"),
            }
        }
        unreachable!()
    }

    /// Ok once `/health` answers; the log if the node exits first or
    /// takes too long.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}:\n{}", self.log()));
            }
            if self.http_get("/health").is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("not ready after 20 s:\n{}", self.log()))
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    /// GET on the node's HTTP port: `(status, body)`.
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        self.http("GET", path)
    }

    /// POST without a body on the node's HTTP port.
    pub fn http_post(&self, path: &str) -> Option<(u16, String)> {
        self.http("POST", path)
    }

    fn http(&self, method: &str, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        Some((status, body))
    }

    /// The value of a metric series (the line starting with `series`), or 0.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.http_get("/metrics").unwrap_or_default();
        body.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The call records written so far.
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("records.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until `count` records are written.
    pub fn wait_records(&self, count: usize, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let records = self.records();
            if records.len() >= count || Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for a metric to reach a value.
    pub fn wait_metric(&self, series: &str, value: f64, within: Duration) -> f64 {
        let deadline = Instant::now() + within;
        loop {
            let current = self.metric(series);
            if current == value || Instant::now() > deadline {
                return current;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the node at once (SIGKILL): no drain, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a datagram to the node's SIP port.
    pub fn send_udp(&self, from: &std::net::UdpSocket, bytes: &[u8]) {
        from.send_to(bytes, ("127.0.0.1", self.sip_port)).unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("node folder kept for inspection: {}", self.dir.display());
        }
    }
}
