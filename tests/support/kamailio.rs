//! Kamailio (Debian's package) in front of a test's nodes, with the
//! project's own `kamailio/kamailio.cfg`, a local override of its own
//! (ports, dispatcher list, database, trunk) and a PostgreSQL database of
//! its own for subscribers and registrations; stopped and dropped with it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::node::temp_dir;
use crate::ports::free_port;

/// The ports a Kamailio will use, chosen before the nodes start (they
/// need its address as their outbound proxy).
#[derive(Clone, Copy, Debug)]
pub struct KamailioPorts {
    pub sip: u16,
    pub http: u16,
    /// Where the stand-in for the university's telephony platform sends
    /// calls from (trusted without digest).
    pub trunk: u16,
    /// Where that platform's gateway takes the nodes' calls to desk phones.
    pub gateway: u16,
}

impl KamailioPorts {
    pub fn choose() -> KamailioPorts {
        KamailioPorts {
            sip: free_port(),
            http: free_port(),
            trunk: free_port(),
            gateway: free_port(),
        }
    }

    /// `127.0.0.1:<sip>`.
    pub fn sip_addr(&self) -> String {
        format!("127.0.0.1:{}", self.sip)
    }
}

/// The domain agents register in.
pub const DOMAIN: &str = "cc.local";

pub struct Kamailio {
    child: Option<Child>,
    pub ports: KamailioPorts,
    pub dir: PathBuf,
    database: String,
    /// Whether the database is the test's own (dropped with it).
    owns_database: bool,
}

/// The PostgreSQL the tests use (trust authentication), as psql options.
fn pg_args() -> Vec<String> {
    let host = std::env::var("CC_TEST_PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("CC_TEST_PGPORT").unwrap_or_else(|_| "5432".into());
    let user = std::env::var("CC_TEST_PGUSER").unwrap_or_else(|_| "postgres".into());
    vec!["-h".into(), host, "-p".into(), port, "-U".into(), user]
}

fn psql(database: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("psql")
        .args(pg_args())
        .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-qAt"])
        .args(args)
        .output()
        .map_err(|e| format!("psql (Debian package postgresql-client): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

impl Kamailio {
    /// Starts Kamailio on `ports`, dispatching to the nodes at `nodes`
    /// (their SIP ports on loopback), all active from the start.
    pub fn start(ports: KamailioPorts, nodes: &[u16]) -> Kamailio {
        static DATABASES: AtomicU32 = AtomicU32::new(0);
        let database = format!(
            "cc_kam_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        psql(
            "postgres",
            &["-c", &format!("DROP DATABASE IF EXISTS {database}")],
        )
        .unwrap();
        psql("postgres", &["-c", &format!("CREATE DATABASE {database}")])
            .expect("creating the registrar's database");
        for schema in [
            "standard-create.sql",
            "auth_db-create.sql",
            "usrloc-create.sql",
        ] {
            psql(
                &database,
                &["-f", &format!("/usr/share/kamailio/postgres/{schema}")],
            )
            .expect("the Kamailio schema (Debian package kamailio-postgres-modules)");
        }
        Kamailio::start_on(ports, nodes, &database, true)
    }

    /// Starts Kamailio on an existing database that has its tables (the
    /// platform's, whose migrations create them); kept when it stops
    /// unless `owned`.
    pub fn start_on(ports: KamailioPorts, nodes: &[u16], database: &str, owned: bool) -> Kamailio {
        let database = database.to_string();
        let dir = temp_dir("kamailio");
        std::fs::copy(
            repository().join("kamailio/kamailio.cfg"),
            dir.join("kamailio.cfg"),
        )
        .unwrap();
        let pg: Vec<String> = pg_args();
        let local = format!(
            "#!substdef \"!SIP_ADDR!127.0.0.1:{sip}!g\"\n\
             #!substdef \"!HTTP_ADDR!127.0.0.1:{http}!g\"\n\
             #!define HTTP_PORT {http}\n\
             #!define SIP_DOMAIN \"{DOMAIN}\"\n\
             #!substdef \"!RUNDIR!{run}!g\"\n\
             #!substdef \"!DSLIST!{run}/dispatcher.list!g\"\n\
             #!define DBURL \"postgres://{user}@{host}:{port}/{database}\"\n\
             #!define TRUNK_IP \"127.0.0.1\"\n\
             #!define TRUNK_PORT {trunk}\n\
             #!define TRUNK_GW \"sip:127.0.0.1:{gateway}\"\n\
             #!define LOG_LEVEL 3\n\
             #!define PIKE_DENSITY 100000\n\
             #!define PING_INTERVAL 1\n\
             #!define WITH_DEBUG_ROUTES\n",
            sip = ports.sip,
            http = ports.http,
            run = dir.display(),
            user = pg[5],
            host = pg[1],
            port = pg[3],
            trunk = ports.trunk,
            gateway = ports.gateway,
        );
        std::fs::write(dir.join("kamailio-local.cfg"), local).unwrap();
        let list: String = nodes
            .iter()
            .enumerate()
            .map(|(i, port)| format!("1 sip:127.0.0.1:{port} 0 0 duid=node{i}\n"))
            .collect();
        std::fs::write(dir.join("dispatcher.list"), list).unwrap();
        let mut kamailio = Kamailio {
            child: None,
            ports,
            dir,
            database,
            owns_database: owned,
        };
        kamailio.spawn();
        kamailio
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("kamailio.log")).unwrap();
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(self.dir.join("kamailio.cfg"))
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-Y"])
            .arg(&self.dir)
            .arg("-P")
            .arg(self.dir.join("kamailio.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("kamailio (Debian package kamailio)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.http_get("/metrics").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("kamailio did not start:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }

    /// An agent's digest credentials, as provisioning writes them.
    pub fn add_subscriber(&self, user: &str, password: &str) {
        psql(
            &self.database,
            &[
                "-c",
                &format!(
                    "INSERT INTO subscriber (username, domain, password) VALUES ('{user}', '{DOMAIN}', '{password}')"
                ),
            ],
        )
        .unwrap();
    }

    /// Users with a registration in the location table.
    pub fn registered(&self) -> Vec<String> {
        psql(
            &self.database,
            &["-c", "SELECT username FROM location ORDER BY username"],
        )
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// One HTTP exchange on Kamailio's HTTP listener. Kamailio keeps the
    /// connection open after its answer, so the body is read by its
    /// Content-Length.
    fn http(&self, method: &str, path: &str, body: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.ports.http)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut received = Vec::new();
        let mut buffer = [0u8; 16384];
        loop {
            let n = stream.read(&mut buffer).ok()?;
            if n == 0 {
                return None;
            }
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if rest.len() >= length {
                    return Some(rest[..length].to_string());
                }
            }
        }
    }

    fn http_get(&self, path: &str) -> Option<String> {
        self.http("GET", path, "")
    }

    /// The sum of the Prometheus series whose line starts with `series`.
    pub fn metric(&self, series: &str) -> f64 {
        self.http_get("/metrics")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .sum()
    }

    /// A JSON-RPC call on /RPC.
    pub fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let body =
            serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": 1 })
                .to_string();
        let answer = self.http("POST", "/RPC", &body).unwrap_or_default();
        serde_json::from_str(&answer).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: Kamailio stops its children and closes its database
            // connections, so the database can be dropped.
            // SAFETY: a plain kill(2) of our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.owns_database {
            let _ = psql(
                "postgres",
                &[
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
                ],
            );
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "kamailio folder kept for inspection: {}",
                self.dir.display()
            );
        }
    }
}
