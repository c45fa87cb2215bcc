//! Call records: one JSON object per line, written off the call path.
//!
//! Calls hand their record to a bounded channel; one task appends them to
//! the file. A full channel (the disk stalled) drops the record and counts it
//! in `cc_records_dropped_total` rather than stalling calls.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// What one call leaves behind.
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    /// The caller leg's Call-ID.
    pub call_id: String,
    pub node: String,
    pub unit: String,
    /// The service number dialled.
    pub number: String,
    /// The caller's From URI.
    pub caller: String,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The flow steps entered, in order.
    pub path: Vec<String>,
    pub queue: Option<String>,
    /// Time in queue, in milliseconds.
    pub queue_wait_ms: Option<u64>,
    pub agent: Option<String>,
    /// The forward target, when the call was forwarded.
    pub target: Option<String>,
    pub outcome: String,
    pub tags: Vec<String>,
    /// Who ended it: caller, node, agent, target, cancel, rtp_timeout
    /// (dead media), max_duration, no_ack (the caller never ACKed our 200).
    pub ended_by: Option<String>,
    /// The stored voicemail, when one was left.
    pub voicemail: Option<String>,
    /// The SIP status the caller got when the call was refused.
    pub sip_status: Option<u16>,
    /// The class of a forward target the unit is not approved to dial
    /// (the call went on to the step's failure branch instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_refused: Option<String>,
}

#[derive(Clone)]
pub struct RecordSink {
    records: mpsc::Sender<CallRecord>,
    metrics: Arc<Metrics>,
}

impl RecordSink {
    pub fn write(&self, record: CallRecord) {
        if self.records.try_send(record).is_err() {
            self.metrics.records_dropped.inc();
        }
    }
}

pub fn start(path: PathBuf, metrics: Arc<Metrics>) -> anyhow::Result<RecordSink> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let (records, mut receiver) = mpsc::channel::<CallRecord>(8192);
    let sink = RecordSink {
        records,
        metrics: Arc::clone(&metrics),
    };
    tokio::spawn(async move {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await;
        let mut file = match file {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open the call records file");
                return;
            }
        };
        while let Some(record) = receiver.recv().await {
            let mut batch = Vec::with_capacity(512);
            let mut count = 0u64;
            let mut push = |r: &CallRecord| {
                if serde_json::to_writer(&mut batch, r).is_ok() {
                    batch.push(b'\n');
                    count += 1;
                }
            };
            push(&record);
            while let Ok(more) = receiver.try_recv() {
                push(&more);
            }
            if let Err(e) = file.write_all(&batch).await {
                tracing::error!(error = %e, records = count, "writing call records");
                metrics.records_dropped.inc_by(count);
            }
            let _ = file.flush().await;
        }
    });
    Ok(sink)
}
