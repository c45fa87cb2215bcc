//! Redis servers of a test's own: one, or a primary with a replica and a
//! Sentinel, on free loopback ports; killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::node::temp_dir;
use crate::ports::free_port;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl RedisServer {
    /// A Redis with an append-only file, so a restart keeps its state.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A free port can be taken by another process (a parallel test's
    /// outgoing connection) before redis-server binds it: then another
    /// port is tried.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir: temp_dir("redis"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start (five ports tried)");
    }

    /// Starts redis-server on `self.port`; false if it exited or did not
    /// answer within 10 s.
    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes"])
            .args(&self.extra)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.cli(&["PING"]).is_some_and(|r| r.trim() == "PONG") {
                return true;
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if exited {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs redis-cli against this server.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills and starts it again on the same port, with the same files.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..5 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("redis-server did not start again on {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Sentinel watching `primary` as `mymaster`.
pub struct Sentinel {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Sentinel {
    pub fn start(primary: &RedisServer) -> Sentinel {
        let port = free_port();
        let dir = temp_dir("sentinel");
        let config = dir.join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n\
                 sentinel parallel-syncs mymaster 1\n",
                primary.port
            ),
        )
        .unwrap();
        let child = Command::new("redis-sentinel")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-sentinel (Debian package redis-sentinel)");
        let sentinel = Sentinel { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = Command::new("redis-cli")
                .args([
                    "-p",
                    &port.to_string(),
                    "SENTINEL",
                    "get-master-addr-by-name",
                    "mymaster",
                ])
                .output();
            if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("127.0.0.1")) {
                return sentinel;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-sentinel did not start");
    }

    /// The port of the primary the sentinel currently names.
    pub fn primary_port(&self) -> Option<u16> {
        let out = Command::new("redis-cli")
            .args([
                "-p",
                &self.port.to_string(),
                "SENTINEL",
                "get-master-addr-by-name",
                "mymaster",
            ])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three primaries on loopback, slots spread by
/// `redis-cli --cluster create`.
pub struct RedisCluster {
    pub servers: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let servers: Vec<RedisServer> = (0..3)
            .map(|_| {
                // The bus port is given: port + 10000 may not exist.
                let bus = free_port().to_string();
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus,
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let addresses: Vec<String> = servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli (Debian package redis-tools)");
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { servers };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ready = cluster.servers.iter().all(|s| {
                s.cli(&["CLUSTER", "INFO"])
                    .is_some_and(|i| i.contains("cluster_state:ok"))
            });
            if ready {
                return cluster;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the Redis Cluster did not come up");
    }

    /// The `CC__REDIS__CLUSTER` value: every primary's address.
    pub fn addresses(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// How many keys matching `pattern` each primary holds.
    pub fn keys_per_server(&self, pattern: &str) -> Vec<usize> {
        self.servers
            .iter()
            .map(|s| {
                s.cli(&["KEYS", pattern]).map_or(0, |out| {
                    out.lines().filter(|l| !l.trim().is_empty()).count()
                })
            })
            .collect()
    }
}
