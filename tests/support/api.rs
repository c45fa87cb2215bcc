//! A client of the governance API (HTTP/1.0 over loopback, JSON), and a
//! PostgreSQL database of its own for a test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

/// The PostgreSQL server of the tests (trust authentication), as a URL
/// without database.
pub fn server_url() -> String {
    let host = std::env::var("CC_TEST_PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("CC_TEST_PGPORT").unwrap_or_else(|_| "5432".into());
    let user = std::env::var("CC_TEST_PGUSER").unwrap_or_else(|_| "postgres".into());
    format!("postgres://{user}@{host}:{port}")
}

fn psql(sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(format!("{}/postgres", server_url()))
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .map_err(|e| format!("psql (Debian package postgresql-client): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// A database of its own, dropped with it (kept if the test panicked).
pub struct Database {
    pub name: String,
    pub url: String,
}

impl Database {
    pub fn create() -> Database {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "cc_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        psql(&format!("CREATE DATABASE {name}")).expect("creating a test database");
        Database {
            url: format!("{}/{name}", server_url()),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = psql(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// One request: `(status, JSON body or the text as a JSON string)`.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> (u16, Value) {
    let (status, body) = request_bytes(port, method, path, token, body);
    let body = String::from_utf8_lossy(&body);
    let value = serde_json::from_str(&body).unwrap_or_else(|_| Value::String(body.to_string()));
    (status, value)
}

/// One request: `(status, the body's bytes)`, for audio.
pub fn request_bytes(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let (content_type, bytes) = body.unwrap_or(("application/json", b""));
    head.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    ));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(bytes).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |at| at + 4);
    let status = String::from_utf8_lossy(&response[..head_end])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response[head_end..].to_vec())
}

/// A JSON request.
pub fn json(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let bytes = body.to_string();
    request(
        port,
        method,
        path,
        token,
        Some(("application/json", bytes.as_bytes())),
    )
}
