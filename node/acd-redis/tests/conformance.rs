//! The behaviour suite every ACD store must pass, against Redis.
mod support;

use cc_acd_redis::{RedisStore, Target};
use support::RedisServer;

async fn store() -> (RedisServer, RedisStore) {
    let server = RedisServer::start();
    let store = RedisStore::connect(Target::Single(server.url()))
        .await
        .unwrap();
    (server, store)
}

cc_acd::conformance_suite!(store().await);

/// Agents removed from a unit leave Redis too (not only the unit's view):
/// they would otherwise stay in the index of free agents every match
/// reads, and make every script slower.
#[tokio::test]
async fn removed_agents_leave_redis() {
    use cc_acd::{AcdStore, AgentConfig, UnitConfig};
    let (server, store) = store().await;
    let config = |ids: &[&str]| UnitConfig {
        agents: ids
            .iter()
            .map(|id| AgentConfig {
                id: id.to_string(),
                wrap_up_ms: None,
            })
            .collect(),
        ..UnitConfig::default()
    };
    let many: Vec<String> = (0..50).map(|i| format!("a{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    store.configure("u", &config(&many), 1).await.unwrap();
    for agent in &many {
        store.login("u", agent, 2).await.unwrap();
    }
    let free: usize = server.query(redis::cmd("SCARD").arg("cc:{u}:available"));
    assert_eq!(free, 50);
    store
        .configure("u", &config(&["a0", "a1"]), 3)
        .await
        .unwrap();
    let free: usize = server.query(redis::cmd("SCARD").arg("cc:{u}:available"));
    let kept: usize = server.query(redis::cmd("HLEN").arg("cc:{u}:agents"));
    assert_eq!((free, kept), (2, 2));
}
