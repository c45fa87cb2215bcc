//! What every task of the node shares: settings, units, metrics and the
//! handles of the SIP driver, the pacer thread, the ACD and the record
//! writer. Built once at start and passed around as `Arc<Node>`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cc_sip::ids::IdGenerator;

use crate::acd::Acd;
use crate::call::FeatureCodes;
use crate::media::engine::MediaEngine;
use crate::media::ports::PortPool;
use crate::metrics::Metrics;
use crate::records::RecordSink;
use crate::settings::Settings;
use crate::sip::SipHandle;
use crate::units::Directory;

pub struct Node {
    pub settings: Settings,
    /// How dial targets are classified (Spain's plan by default).
    pub plan: cc_numbering::NumberingPlan,
    /// The units served; replaced whole when the configuration reloads
    /// (a call keeps the unit it started with).
    directory: arc_swap::ArcSwap<Directory>,
    pub metrics: Arc<Metrics>,
    pub media: MediaEngine,
    pub ports: Arc<PortPool>,
    pub sip: SipHandle,
    pub acd: Arc<Acd>,
    pub features: FeatureCodes,
    pub records: RecordSink,
    pub started: Instant,
    draining: AtomicBool,
    active_calls: AtomicUsize,
    ids: Mutex<IdGenerator>,
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: Settings,
        directory: Directory,
        metrics: Arc<Metrics>,
        media: MediaEngine,
        ports: Arc<PortPool>,
        sip: SipHandle,
        acd: Arc<Acd>,
        records: RecordSink,
        seed: u64,
    ) -> Node {
        let features = FeatureCodes::new(&settings.acd);
        Node {
            plan: settings
                .numbering
                .plan()
                .unwrap_or_else(|e| panic!("checked at start: {e}")),
            settings,
            directory: arc_swap::ArcSwap::from_pointee(directory),
            metrics,
            media,
            ports,
            sip,
            features,
            acd,
            records,
            started: Instant::now(),
            draining: AtomicBool::new(false),
            active_calls: AtomicUsize::new(0),
            ids: Mutex::new(IdGenerator::new(seed)),
        }
    }

    /// The units served now.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.load_full()
    }

    /// Serves `directory` from now on: its queues are configured in the
    /// ACD and its series registered first.
    pub async fn replace_directory(&self, directory: Directory) {
        for runtime in directory.units() {
            let queues: Vec<String> = runtime.unit.document.queues.keys().cloned().collect();
            self.metrics.register_unit(runtime.id(), &queues);
        }
        self.acd.reconfigure(&directory).await;
        self.directory.store(Arc::new(directory));
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::Relaxed);
        self.metrics.draining.set(i64::from(draining));
    }

    pub fn active_calls(&self) -> usize {
        self.active_calls.load(Ordering::Relaxed)
    }

    pub fn call_started(&self) {
        self.active_calls.fetch_add(1, Ordering::Relaxed);
        self.metrics.calls_total_active.inc();
    }

    pub fn call_ended(&self) {
        self.active_calls.fetch_sub(1, Ordering::Relaxed);
        self.metrics.calls_total_active.dec();
    }

    /// A fresh tag.
    pub fn tag(&self) -> String {
        self.ids.lock().map(|mut ids| ids.tag()).unwrap_or_default()
    }

    /// A fresh Call-ID.
    pub fn call_id(&self) -> String {
        let host = self.settings.sip_host();
        self.ids
            .lock()
            .map(|mut ids| ids.call_id(&host))
            .unwrap_or_default()
    }

    /// Random bits (SSRCs, RTP sequence starts, SDP session ids).
    pub fn random(&self) -> u64 {
        self.ids
            .lock()
            .map(|mut ids| ids.next_u64())
            .unwrap_or_default()
    }
}
