//! # cc-node: the call-center node
//!
//! The async shell around the pure cores (`cc-sip`, `cc-media`, `cc-flow`,
//! `cc-acd`). Its tasks, each with one job:
//!
//! ```text
//!  UDP/TCP sockets ──► sip::driver (owns the Endpoint) ──► call tasks (one per call)
//!                         ▲ commands                          │  │  │
//!                         └───────────────────────────────────┘  │  └─► acd task (queues)
//!                   media::engine (pacer thread) ◄── play/stop ──┘
//!                   records (JSON lines), http (/health, /metrics, drain)
//! ```
//!
//! [`run`] starts them all from [`Settings`](settings::Settings) and serves
//! until `shutdown` resolves.

pub mod acd;
pub mod call;
pub mod http;
pub mod live_config;
pub mod media;
pub mod metrics;
pub mod node;
pub mod records;
pub mod settings;
pub mod sip;
pub mod spool;
pub mod units;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use cc_sip::{Endpoint, EndpointConfig, TimerConfig};

use crate::media::engine::MediaEngine;
use crate::media::ports::PortPool;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::settings::Settings;
use crate::sip::transport::{self, Transports};
use crate::sip::SipHandle;
use crate::units::Directory;

/// Capacity of the SIP driver's input channel.
const SIP_INPUTS: usize = 16_384;

/// Runs a node until `shutdown` resolves; then refuses new calls and waits
/// (up to `limits.max_call_s`, or a second signal) for calls to end.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    settings
        .numbering
        .plan()
        .map_err(|e| anyhow::anyhow!("numbering.plan_file: {e}"))?;
    // Units from PostgreSQL (with a cache) or from the units folder.
    let store = if settings.store.url.is_empty() {
        None
    } else {
        Some(
            cc_store::Store::new(&settings.store.url, settings.store.max_connections)
                .map_err(|e| anyhow::anyhow!("store.url: {e}"))?,
        )
    };
    let directory = match &store {
        Some(store) => live_config::initial(store, &settings.paths.config_cache)
            .await
            .map_err(|e| anyhow::anyhow!("the configuration cache: {e}"))?,
        None => Directory::load(&settings.paths.units)
            .map_err(|e| anyhow::anyhow!("units not loaded:\n{e}"))?,
    };
    let metrics = Arc::new(Metrics::new(&settings.node.name));
    for runtime in directory.units() {
        let queues: Vec<String> = runtime.unit.document.queues.keys().cloned().collect();
        metrics.register_unit(runtime.id(), &queues);
    }
    let udp = Arc::new(
        tokio::net::UdpSocket::bind(settings.sip.listen)
            .await
            .with_context(|| format!("binding SIP UDP {}", settings.sip.listen))?,
    );
    let tcp = tokio::net::TcpListener::bind(settings.sip.listen)
        .await
        .with_context(|| format!("binding SIP TCP {}", settings.sip.listen))?;
    let http = tokio::net::TcpListener::bind(settings.http.listen)
        .await
        .with_context(|| format!("binding HTTP {}", settings.http.listen))?;

    let (sip_inputs, sip_receiver) = tokio::sync::mpsc::channel(SIP_INPUTS);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        ^ u64::from(std::process::id()).rotate_left(32);
    let endpoint = Endpoint::new(EndpointConfig {
        timers: TimerConfig {
            t1: Duration::from_millis(settings.sip.t1_ms),
            ..TimerConfig::default()
        },
        via_host: settings.sip_host(),
        udp_port: settings.sip.listen.port(),
        tcp_port: settings.sip.listen.port(),
        server_name: format!("cc-node/{}", env!("CARGO_PKG_VERSION")),
        seed,
        ..EndpointConfig::default()
    });
    let ports = PortPool::new(
        settings.media.ip,
        settings.media.port_min,
        settings.media.port_max,
        metrics.rtp_ports_in_use.clone(),
    );
    let media = MediaEngine::start(Arc::clone(&metrics), settings.media.realtime_pacer);
    let acd_store = match settings.acd.store.as_str() {
        "redis" => {
            let target = settings.redis.target();
            let redis = cc_acd_redis::RedisStore::connect(target.clone())
                .await
                .map_err(|e| anyhow::anyhow!("the ACD store at {target:?}: {e}"))?;
            acd::Store::Redis(Arc::new(redis))
        }
        _ => acd::Store::Memory(cc_acd::MemoryStore::new()),
    };
    // Offers travel to a node by its incarnation, so that a node restarted
    // under the same name is not taken for its dead predecessor.
    let node_id = format!("{}-{:06x}", settings.node.name, seed & 0xFF_FFFF);
    let acd = acd::Acd::start(
        &node_id,
        acd_store,
        &directory,
        Arc::clone(&metrics),
        settings.redis.node_ttl_ms,
    )
    .await
    .map_err(|e| anyhow::anyhow!("the ACD store: {e}"))?;
    let records = records::start(settings.paths.records.clone(), Arc::clone(&metrics))?;
    let node = Arc::new(Node::new(
        settings.clone(),
        directory,
        Arc::clone(&metrics),
        media,
        ports,
        SipHandle::new(sip_inputs.clone()),
        acd,
        records,
        seed.rotate_left(17),
    ));

    tokio::spawn(transport::udp_receiver(
        Arc::clone(&udp),
        sip_inputs.clone(),
        Arc::clone(&metrics),
    ));
    tokio::spawn(transport::tcp_acceptor(tcp, sip_inputs.clone()));
    let transports = Transports::new(Arc::clone(&udp), sip_inputs.clone());
    tokio::spawn(sip::driver::run(
        Arc::clone(&node),
        endpoint,
        transports,
        sip_receiver,
    ));
    if let Some(store) = &store {
        tokio::spawn(spool::run(
            store.clone(),
            settings.paths.records.clone(),
            settings.paths.voicemail.clone(),
            Arc::clone(&metrics),
        ));
        tokio::spawn(live_config::follow(
            Arc::clone(&node),
            store.clone(),
            settings.paths.config_cache.clone(),
        ));
        if !settings.api.listen.is_empty() {
            let listener = tokio::net::TcpListener::bind(&settings.api.listen)
                .await
                .with_context(|| format!("binding the API {}", settings.api.listen))?;
            let mut state = cc_api::AppState::new(store.clone(), node.plan.clone());
            state.sip_server = settings.api.sip_server.clone();
            state.sip_domain = settings.api.sip_domain.clone();
            state.live = Some(Arc::new(http::LiveAcd(Arc::clone(&node))));
            let (api, _) = cc_api::router(state);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, api).await {
                    tracing::error!(error = %e, "API server stopped");
                }
            });
        }
    }
    let app = http::router(Arc::clone(&node));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(
        sip = %settings.sip.listen,
        http = %settings.http.listen,
        units = node.directory().units().len(),
        "node {} ready",
        settings.node.name
    );

    shutdown.await;
    node.set_draining(true);
    tracing::info!(
        active_calls = node.active_calls(),
        "draining: no new calls; waiting for calls to end"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(settings.limits.max_call_s);
    while node.active_calls() > 0 && tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
