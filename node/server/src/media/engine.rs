//! The pacer thread: every paced RTP stream of the node, sent on schedule.
//!
//! One OS thread holds every call leg that is playing a prompt or music on
//! hold, in one [`Pacer`] heap, and sleeps until the next frame is due (or a
//! command arrives). This replaces a timer per call: with thousands of calls
//! the node wakes once per due frame batch instead of once per stream, and an
//! OS thread sleeping on a deadline keeps packets within a fraction of a
//! millisecond of their schedule, where tokio's timer wheel rounds to 1 ms.
//!
//! Call tasks talk to it with [`MediaCommand`]s and hear back through each
//! leg's `done` channel when a playback ends by itself.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_media::pacer::Pacer;
use cc_media::player::Player;
use cc_media::rtp::{RtpSender, MAX_PACKET};
use cc_media::{Law, SAMPLES_PER_FRAME};

use crate::metrics::Metrics;

/// Identifies a call leg's outgoing stream.
pub type LegId = u64;

/// A playback that ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackDone {
    pub leg: LegId,
    pub token: u64,
}

/// What a call task asks of the pacer thread.
pub enum MediaCommand {
    /// A leg starts: where and how to send.
    Open {
        leg: LegId,
        socket: Arc<UdpSocket>,
        destination: Option<SocketAddr>,
        law: Law,
        payload_type: u8,
        sender: RtpSender,
        done: tokio::sync::mpsc::UnboundedSender<PlaybackDone>,
    },
    /// Play encoded audio (in the leg's law); `PlaybackDone` follows unless looping.
    Play {
        leg: LegId,
        items: Vec<Arc<[u8]>>,
        looping: bool,
        token: u64,
    },
    /// Stop playing (no `PlaybackDone`).
    Stop { leg: LegId },
    /// Send elsewhere (latching, a new SDP), or nowhere (`None`).
    Destination {
        leg: LegId,
        destination: Option<SocketAddr>,
    },
    /// Keep time but send nothing (the peer holds the call).
    Mute { leg: LegId, muted: bool },
    /// The leg is gone.
    Close { leg: LegId },
}

struct Leg {
    socket: Arc<UdpSocket>,
    destination: Option<SocketAddr>,
    law: Law,
    payload_type: u8,
    sender: RtpSender,
    playing: Option<(Player, u64)>,
    muted: bool,
    last_frame: Option<Instant>,
    done: tokio::sync::mpsc::UnboundedSender<PlaybackDone>,
}

/// The handle call tasks hold.
#[derive(Clone)]
pub struct MediaEngine {
    commands: Sender<MediaCommand>,
}

impl MediaEngine {
    /// Starts the pacer thread, at raised priority if `realtime` and the
    /// process is allowed to.
    pub fn start(metrics: Arc<Metrics>, realtime: bool) -> MediaEngine {
        let (commands, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("cc-pacer".into())
            .spawn(move || {
                if realtime {
                    let priority = raise_priority();
                    tracing::info!(priority, "pacer thread started");
                }
                run(receiver, metrics)
            })
            .expect("spawning the pacer thread");
        MediaEngine { commands }
    }

    pub fn send(&self, command: MediaCommand) {
        let _ = self.commands.send(command);
    }
}

/// Raises the calling thread's scheduling priority as far as allowed, the
/// way media servers do (FreeSWITCH `-rp`, Asterisk `-p`): SCHED_FIFO 10,
/// else nice -10, else nothing. The pacer sleeps between deadlines and does
/// bounded work per wake-up, so a real-time priority cannot starve the
/// machine. Unsafe: two libc calls with valid arguments on the calling thread.
#[allow(unsafe_code)]
fn raise_priority() -> &'static str {
    // SAFETY: `param` outlives the call; pid 0 and `gettid` name this thread.
    unsafe {
        let param = libc::sched_param { sched_priority: 10 };
        if libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 {
            return "SCHED_FIFO 10";
        }
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, thread, -10) == 0 {
            return "nice -10";
        }
    }
    "normal (no permission to raise it)"
}

/// Late by more than this counts as off schedule.
const LATE: Duration = Duration::from_millis(5);

fn run(commands: Receiver<MediaCommand>, metrics: Arc<Metrics>) {
    let mut legs: HashMap<LegId, Leg> = HashMap::new();
    let mut pacer: Pacer<LegId> = Pacer::new();
    let mut packet = [0u8; MAX_PACKET];
    let mut frame = [0u8; SAMPLES_PER_FRAME];
    loop {
        let wait = pacer
            .next_deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(1));
        match commands.recv_timeout(wait) {
            Ok(command) => {
                apply(command, &mut legs, &mut pacer);
                while let Ok(command) = commands.try_recv() {
                    apply(command, &mut legs, &mut pacer);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while let Some(due) = pacer.poll(now) {
            let Some(leg) = legs.get_mut(&due.key) else {
                pacer.remove(due.key);
                continue;
            };
            if due.skipped > 0 {
                leg.sender.skip(due.skipped * SAMPLES_PER_FRAME as u32);
            }
            let Some((player, token)) = leg.playing.as_mut() else {
                pacer.remove(due.key);
                continue;
            };
            if !player.next_frame(&mut frame) {
                let _ = leg.done.send(PlaybackDone {
                    leg: due.key,
                    token: *token,
                });
                leg.playing = None;
                pacer.remove(due.key);
                continue;
            }
            leg.last_frame = Some(due.scheduled);
            let length = leg.sender.write(
                leg.payload_type,
                &frame,
                SAMPLES_PER_FRAME as u32,
                &mut packet,
            );
            if let (false, Some(destination)) = (leg.muted, leg.destination) {
                if leg.socket.send_to(&packet[..length], destination).is_ok() {
                    metrics.rtp_out.inc();
                    let lateness = Instant::now().saturating_duration_since(due.scheduled);
                    metrics.rtp_send_lateness.observe(lateness.as_secs_f64());
                    if lateness > LATE {
                        metrics.rtp_late.inc();
                    }
                }
            }
        }
    }
}

fn apply(command: MediaCommand, legs: &mut HashMap<LegId, Leg>, pacer: &mut Pacer<LegId>) {
    match command {
        MediaCommand::Open {
            leg,
            socket,
            destination,
            law,
            payload_type,
            sender,
            done,
        } => {
            legs.insert(
                leg,
                Leg {
                    socket,
                    destination,
                    law,
                    payload_type,
                    sender,
                    playing: None,
                    muted: false,
                    last_frame: None,
                    done,
                },
            );
        }
        MediaCommand::Play {
            leg: id,
            items,
            looping,
            token,
        } => {
            let Some(leg) = legs.get_mut(&id) else { return };
            let now = Instant::now();
            // Time passed since the last frame goes into the timestamp, and
            // a new talkspurt starts with the marker bit (RFC 3551 §4.1).
            if let Some(last) = leg.last_frame {
                let gap = now.saturating_duration_since(last + cc_media::FRAME_DURATION);
                let frames = (gap.as_micros() / cc_media::FRAME_DURATION.as_micros()) as u32;
                leg.sender.skip(frames * SAMPLES_PER_FRAME as u32);
            }
            leg.sender.start_talkspurt();
            leg.playing = Some((Player::new(items, looping, leg.law), token));
            pacer.insert(id, now);
        }
        MediaCommand::Stop { leg } => {
            if let Some(l) = legs.get_mut(&leg) {
                l.playing = None;
            }
            pacer.remove(leg);
        }
        MediaCommand::Destination { leg, destination } => {
            if let Some(l) = legs.get_mut(&leg) {
                l.destination = destination;
            }
        }
        MediaCommand::Mute { leg, muted } => {
            if let Some(l) = legs.get_mut(&leg) {
                l.muted = muted;
            }
        }
        MediaCommand::Close { leg } => {
            legs.remove(&leg);
            pacer.remove(leg);
        }
    }
}
