//! Running SIPp (Debian's `sip-tester`) scenarios from `tests/scenarios/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::node::temp_dir;
use crate::ports::free_port;

/// A scenario file kept in `tests/scenarios/`.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// One SIPp process.
pub struct Sipp {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
    pub media_port: u16,
}

/// How a SIPp run ended.
#[derive(Debug)]
pub struct SippResult {
    pub success: bool,
    pub messages: String,
    pub errors: String,
    pub screen: String,
}

impl SippResult {
    /// How many times a message whose first line starts with `first_line`
    /// was received.
    pub fn received(&self, first_line: &str, containing: &str) -> usize {
        self.messages
            .split("-----------------------------------------------")
            .filter(|block| block.contains("message received"))
            .filter(|block| {
                let first = block
                    .lines()
                    .skip_while(|l| !l.contains("message received"))
                    .skip(1)
                    .find(|l| !l.trim().is_empty());
                first.is_some_and(|l| l.starts_with(first_line)) && block.contains(containing)
            })
            .count()
    }
}

impl Sipp {
    /// Starts `sipp <target> -sf <scenario> <args…>` on fresh ports, with
    /// message and error logs kept.
    pub fn start(target: &str, scenario_file: &Path, args: &[&str]) -> Sipp {
        let dir = temp_dir("sipp");
        Self::start_in(dir, free_port(), target, scenario_file, args)
    }

    /// Starts SIPp with a scenario given as XML text.
    pub fn start_xml(target: &str, xml: &str, args: &[&str]) -> Sipp {
        Self::start_xml_on(free_port(), target, xml, args)
    }

    /// Starts SIPp with a scenario given as XML text, on a chosen SIP port
    /// (for a callee the node must know in advance).
    pub fn start_xml_on(port: u16, target: &str, xml: &str, args: &[&str]) -> Sipp {
        let dir = temp_dir("sipp");
        let file = dir.join("scenario.xml");
        std::fs::write(&file, xml).unwrap();
        Self::start_in(dir, port, target, &file, args)
    }

    fn start_in(
        dir: PathBuf,
        port: u16,
        target: &str,
        scenario_file: &Path,
        args: &[&str],
    ) -> Sipp {
        let media_port = crate::ports::free_ports(4);
        let child = Command::new("sipp")
            .arg(target)
            .arg("-sf")
            .arg(scenario_file)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-mp",
                &media_port.to_string(),
            ])
            .args(["-trace_msg", "-message_file"])
            .arg(dir.join("messages.log"))
            .args(["-trace_err", "-error_file"])
            .arg(dir.join("errors.log"))
            .args(["-trace_screen", "-screen_file"])
            .arg(dir.join("screen.log"))
            .args(["-nostdin", "-timeout_error", "-timeout", "60s"])
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sipp (Debian package sip-tester)");
        Sipp {
            child,
            dir,
            port,
            media_port,
        }
    }

    /// Asks SIPp to take no new call and to end once its calls are over
    /// (SIGUSR1), then waits for it like [`Sipp::wait`]. For a callee
    /// whose number of calls the test does not know in advance.
    pub fn stop(self, within: Duration) -> SippResult {
        // SAFETY: a plain kill(2) of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGUSR1) };
        self.wait(within)
    }

    /// Waits for SIPp to end (at most `within`).
    pub fn wait(mut self, within: Duration) -> SippResult {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        let screen = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("screen"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        SippResult {
            success: status.is_some_and(|s| s.success()),
            messages: read("messages.log"),
            errors: read("errors.log"),
            screen,
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The telephony platform's gateway on `port`: answers one call, talks
/// 500 ms and hangs up (what a forward or a desk phone meets).
pub fn answering_gateway(port: u16) -> Sipp {
    Sipp::start_xml_on(
        port,
        "127.0.0.1:9",
        &crate::scenarios::callee(Some(500)),
        &[
            "-key",
            "rtp_ip",
            "127.0.0.1",
            "-key",
            "rtp_port",
            "9",
            "-m",
            "1",
        ],
    )
}
