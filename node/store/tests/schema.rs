//! The schema against a real PostgreSQL (127.0.0.1:5432 as `postgres`, as
//! on the project's machines and in CI; CC_TEST_PGHOST/PGPORT/PGUSER point
//! elsewhere), in a database of its own per test.

use std::sync::atomic::{AtomicU32, Ordering};

use cc_store::Store;
use tokio_postgres::NoTls;

fn server() -> String {
    let host = std::env::var("CC_TEST_PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("CC_TEST_PGPORT").unwrap_or_else(|_| "5432".into());
    let user = std::env::var("CC_TEST_PGUSER").unwrap_or_else(|_| "postgres".into());
    format!("postgres://{user}@{host}:{port}")
}

/// A fresh database; its URL. Dropped by [`drop_database`] at the end of
/// a test that passes (kept for inspection otherwise).
async fn fresh_database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "cc_store_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (client, connection) = tokio_postgres::connect(&format!("{}/postgres", server()), NoTls)
        .await
        .expect("PostgreSQL at 127.0.0.1:5432");
    tokio::spawn(connection);
    // Two statements: neither may run inside a (multi-statement) transaction.
    client
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .await
        .unwrap();
    client
        .execute(&format!("CREATE DATABASE {name}"), &[])
        .await
        .unwrap();
    format!("{}/{name}", server())
}

async fn drop_database(url: &str) {
    let name = url.rsplit('/').next().unwrap();
    let (client, connection) = tokio_postgres::connect(&format!("{}/postgres", server()), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn migrations_apply_once_and_again_apply_nothing() {
    let url = fresh_database().await;
    let store = Store::new(&url, 2).unwrap();
    let applied = store.migrate().await.unwrap();
    assert_eq!(applied.len(), 3, "{applied:?}");
    assert_eq!(store.migrate().await.unwrap(), Vec::<String>::new());
    let client = store.client().await.unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in [
        "agents",
        "approved",
        "audit_log",
        "call_records",
        "call_tags",
        "decisions",
        "dial_refusals",
        "live_versions",
        "prompts",
        "requests",
        "service_numbers",
        "sessions",
        "unit_versions",
        "units",
        "university_calendar_versions",
        "user_roles",
        "users",
        "voicemail",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
    drop(client);
    drop_database(&url).await;
}

#[tokio::test]
async fn the_schema_refuses_what_would_break_the_rules() {
    let url = fresh_database().await;
    let store = Store::new(&url, 2).unwrap();
    store.migrate().await.unwrap();
    let client = store.client().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO units (id, name) VALUES ('library', 'Library'), ('admissions', 'Admissions');
             INSERT INTO service_numbers VALUES ('4100', 'library');
             INSERT INTO users (username, password_hash) VALUES ('maria', 'x'), ('irene', 'x');",
        )
        .await
        .unwrap();
    let refused = [
        // One number, one unit.
        "INSERT INTO service_numbers VALUES ('4100', 'admissions')",
        "INSERT INTO service_numbers VALUES ('41a0', 'admissions')",
        // A unit role has a unit; a platform role has none.
        "INSERT INTO user_roles VALUES (1, 'unit_manager', NULL)",
        "INSERT INTO user_roles VALUES (2, 'ict_directorate', 'library')",
        "INSERT INTO user_roles VALUES (1, 'owner', 'library')",
        // An unknown unit, a bad id.
        "INSERT INTO units (id, name) VALUES ('Bad Id', 'x')",
        "INSERT INTO service_numbers VALUES ('4200', 'nowhere')",
        // A MicroSIP agent has a SIP account; a desk phone has none here.
        "INSERT INTO agents (unit, id, name, endpoint, uri) VALUES ('library', 'a', 'A', 'microsip', 'sip:a@cc.local')",
        // The live version must exist.
        "INSERT INTO live_versions (unit, version) VALUES ('library', 1)",
    ];
    for statement in refused {
        assert!(
            client.batch_execute(statement).await.is_err(),
            "accepted: {statement}"
        );
    }
    client
        .batch_execute(
            "INSERT INTO user_roles VALUES (1, 'unit_manager', 'library');
             INSERT INTO user_roles VALUES (2, 'ict_directorate', NULL);
             INSERT INTO agents (unit, id, name, endpoint, uri, sip_username, sip_password)
                 VALUES ('library', 'a', 'A', 'microsip', 'sip:lib-a@cc.local', 'lib-a', 'secret');
             INSERT INTO agents (unit, id, name, endpoint, uri)
                 VALUES ('library', 'b', 'B', 'desk_phone', 'sip:2001@pbx.example.edu');",
        )
        .await
        .unwrap();
    // The same role twice is one role.
    assert!(client
        .batch_execute("INSERT INTO user_roles VALUES (2, 'ict_directorate', NULL)")
        .await
        .is_err());
    drop(client);
    drop_database(&url).await;
}

#[tokio::test]
async fn a_new_live_version_is_notified_to_listening_nodes() {
    let url = fresh_database().await;
    let store = Store::new(&url, 2).unwrap();
    store.migrate().await.unwrap();
    let (listener, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    let mut notifications = notifications_of(connection);
    listener.batch_execute("LISTEN cc_config").await.unwrap();
    let client = store.client().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO units (id, name) VALUES ('library', 'Library');
             INSERT INTO unit_versions (unit, version, yaml, document, created_by)
                 VALUES ('library', 1, 'unit: library', '{}', 'maria');
             INSERT INTO live_versions (unit, version) VALUES ('library', 1);",
        )
        .await
        .unwrap();
    let payload = tokio::time::timeout(std::time::Duration::from_secs(5), notifications.recv())
        .await
        .expect("a notification")
        .unwrap();
    assert_eq!(payload, "library");
    drop((client, listener));
    drop_database(&url).await;
}

/// The payloads of a connection's notifications, on a channel (the
/// connection is driven here).
fn notifications_of(
    mut connection: tokio_postgres::Connection<
        tokio_postgres::Socket,
        tokio_postgres::tls::NoTlsStream,
    >,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
            match message {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    let _ = sender.send(n.payload().to_string());
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    });
    receiver
}
