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
