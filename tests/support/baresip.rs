//! A real softphone as a call-centre agent: baresip (Debian's package
//! `baresip-core`, version 1.0.0), headless. It registers with digest
//! credentials through a registrar (our Kamailio), answers every call by
//! itself, sends audio from a WAV file and records what it receives, so a
//! test can check that audio crossed the call both ways.
//!
//! baresip 1.0.0 has no file *player*: the `sndfile` audio filter writes the
//! decoded audio of each call to `received/dump-<date-time>-dec.wav` (and what
//! it sent to `…-enc.wav`); the player itself is an `aubridge` device no
//! source reads, i.e. nowhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::node::temp_dir;
use crate::ports::{free_port, free_range};

/// A running baresip; stopped when dropped.
pub struct Baresip {
    child: Option<Child>,
    pub dir: PathBuf,
    /// Its SIP port on 127.0.0.1 (UDP; the Contact it registers).
    pub sip_port: u16,
    pub user: String,
}

impl Baresip {
    /// Starts baresip as `sip:<user>@<domain>`, registering every 60 s
    /// through `registrar` (`host:port`) with `password`, sending
    /// `source_wav` in every call.
    ///
    /// `source_wav` must be 8000 Hz, mono, 16-bit (baresip's `aufile`
    /// refuses anything else for G.711) and last longer than any call of
    /// the test: at the end of the file baresip 1.0.0 hangs the call up
    /// ("audio error (0,end of file)"). `crate::prompts::write(path, name,
    /// 120_000)` makes a suitable one.
    pub fn start(
        user: &str,
        password: &str,
        domain: &str,
        registrar: &str,
        source_wav: &Path,
    ) -> Baresip {
        let dir = temp_dir("baresip");
        let received = dir.join("received");
        std::fs::create_dir_all(&received).unwrap();
        let source = source_wav
            .canonicalize()
            .unwrap_or_else(|e| panic!("the WAV for baresip {}: {e}", source_wav.display()));
        let sip_port = free_port();
        // baresip picks RTP ports at random in the range and skips busy
        // ones (checked), so sharing the area with a node is harmless.
        let (rtp_min, rtp_max) = free_range(200);

        // Only the modules needed: no UI (`stdio` wants a TTY on stdin and
        // `menu` is not needed to auto-answer), no sound card, no STUN/ICE.
        // `net_interface 127.0.0.1` is what puts 127.0.0.1 in the SDP;
        // without it baresip announces the address of eth0.
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip_port}\n\
             net_interface 127.0.0.1\n\
             call_local_timeout 120\n\
             call_max_calls 4\n\
             audio_source aufile,{source}\n\
             audio_player aubridge,nowhere\n\
             audio_alert aubridge,nowhere\n\
             audio_level no\n\
             ausrc_format s16\n\
             auplay_format s16\n\
             auenc_format s16\n\
             audec_format s16\n\
             audio_buffer 20-160\n\
             rtp_ports {rtp_min}-{rtp_max}\n\
             rtcp_mux no\n\
             jitter_buffer_delay 5-10\n\
             rtp_stats no\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module sndfile.so\n\
             module aufile.so\n\
             module aubridge.so\n\
             module_tmp account.so\n\
             snd_path {received}\n",
            source = source.display(),
            received = received.display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        // One account: the registrar is the outbound proxy (REGISTER goes
        // to sip:<domain> through it); `answermode=auto` answers at once
        // with 200; G.711 only.
        let account = format!(
            "<sip:{user}@{domain}>;auth_pass={password};outbound=\"sip:{registrar}\";\
             regint=60;answermode=auto;audio_codecs=PCMU,PCMA\n"
        );
        std::fs::write(dir.join("accounts"), account).unwrap();

        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip (Debian package baresip-core)");
        let mut baresip = Baresip {
            child: Some(child),
            dir,
            sip_port,
            user: user.to_string(),
        };
        baresip.wait_ready();
        baresip
    }

    /// Waits for "baresip is ready." (modules loaded, SIP port bound); a
    /// port taken meanwhile makes it exit (code 98) instead.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("baresip exited with {status}:\n{}", self.log());
            }
            if self.log().contains("baresip is ready.") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("baresip did not start:\n{}", self.log());
    }

    /// Its output so far (stdout and stderr; errors carry ANSI colours).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// Whether the registrar accepted its REGISTER within `within`. On a
    /// 200 baresip prints `anna@cc.local: {0/UDP/v4} 200 OK (kamailio …)
    /// [1 binding]`; a refusal prints `reg: sip:anna@cc.local: 403 …`.
    pub fn wait_registered(&self, within: Duration) -> bool {
        let prefix = format!("{}@", self.user);
        let deadline = Instant::now() + within;
        loop {
            let registered = self
                .log()
                .lines()
                .any(|l| l.contains(&prefix) && l.contains("} 200 ") && l.contains(" binding"));
            if registered {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many calls it has answered (`Call established` lines).
    pub fn established_calls(&self) -> usize {
        self.log().matches("Call established").count()
    }

    /// The samples (8000 Hz, mono) it received in all its calls so far,
    /// calls in order. Each call's file is named by the second it started
    /// in, so two calls starting in the same second share (overwrite) one.
    /// A call still in progress is read up to what is written (libsndfile
    /// keeps the header current; a torn last sample is dropped).
    pub fn received_audio(&self) -> Vec<i16> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("received"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut samples = Vec::new();
        for file in files {
            if let Ok(mut reader) = hound::WavReader::open(&file) {
                samples.extend(reader.samples::<i16>().map_while(Result::ok));
            }
        }
        samples
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let exited = |child: &mut Child, within: Duration| {
                let deadline = Instant::now() + within;
                while Instant::now() < deadline {
                    if child.try_wait().ok().flatten().is_some() {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                false
            };
            // SIGTERM: baresip hangs up its calls and un-REGISTERs
            // (answering Kamailio's challenge), then exits; the location
            // is gone. It waits for the registrar's answer, up to SIP's
            // 32 s if none comes (a registrar already stopped), so a
            // second SIGTERM after a grace makes it quit at once.
            // SAFETY: plain kill(2)s of our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            if !exited(&mut child, Duration::from_secs(3)) {
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                exited(&mut child, Duration::from_secs(1));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("baresip folder kept for inspection: {}", self.dir.display());
        }
    }
}
