//! SIPp scenarios for the tests, built from parts: a caller (UAC) that
//! announces its RTP at a test endpoint, does something after the ACK
//! (waits, sends RFC 4733 digits or audio from pcaps shipped with SIPp),
//! and ends by hanging up itself or by answering the node's BYE; and a
//! callee (UAS) standing in for an agent's phone or a forward target.

/// A pcap shipped with Debian's sip-tester: RFC 2833 packets of one digit.
pub fn dtmf_pcap(digit: char) -> String {
    let name = match digit {
        '*' => "star".to_string(),
        '#' => "pound".to_string(),
        d => d.to_string(),
    };
    format!("/usr/share/sip-tester/dtmf_2833_{name}.pcap")
}

/// Seven seconds of A-law speech-like audio shipped with sip-tester.
pub const AUDIO_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// What the caller announces: PCMU or PCMA, with telephone-event 101.
#[derive(Clone, Copy)]
pub enum Codec {
    Pcmu,
    Pcma,
}

/// A step of the caller after its ACK.
pub enum Then {
    Pause(u32),
    PlayPcap(String),
}

/// How the caller's call ends.
pub enum Ending {
    /// The caller sends BYE after the steps.
    CallerHangsUp,
    /// The node sends BYE; the caller answers 200.
    NodeHangsUp,
}

fn media_lines(codec: Codec) -> &'static str {
    match codec {
        Codec::Pcmu => "m=audio [rtp_port] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000",
        Codec::Pcma => "m=audio [rtp_port] RTP/AVP 8 101\n      a=rtpmap:8 PCMA/8000",
    }
}

const CALLER_HEADERS: &str = r#"From: "Caller [call_number]" <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"#;

/// A caller dialling `[service]`, with RTP announced at `[rtp_ip]:[rtp_port]`
/// (keys given on the SIPp command line).
pub fn caller(codec: Codec, then: &[Then], ending: Ending) -> String {
    caller_acking_after(codec, 0, then, ending)
}

/// A caller that waits `ack_delay` ms before acknowledging the 200 (to see
/// the node retransmit it).
pub fn caller_acking_after(codec: Codec, ack_delay: u32, then: &[Then], ending: Ending) -> String {
    let ack_pause = if ack_delay > 0 {
        format!("  <pause milliseconds=\"{ack_delay}\"/>\n")
    } else {
        String::new()
    };
    let mut steps = String::new();
    for step in then {
        match step {
            Then::Pause(ms) => steps.push_str(&format!("  <pause milliseconds=\"{ms}\"/>\n")),
            Then::PlayPcap(path) => steps.push_str(&format!(
                "  <nop><action><exec play_pcap_audio=\"{path}\"/></action></nop>\n"
            )),
        }
    }
    let end = match ending {
        Ending::CallerHangsUp => format!(
            r#"  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {CALLER_HEADERS}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"#
        ),
        Ending::NodeHangsUp => r#"  <recv request="BYE" timeout="30000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"#
        .to_string(),
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {CALLER_HEADERS}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [rtp_ip]
      t=0 0
      {media}
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
{ack_pause}  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {CALLER_HEADERS}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
{steps}{end}</scenario>
"#,
        media = media_lines(codec)
    )
}

/// A callee (an agent's phone, a forward target): rings, answers with RTP
/// at `[rtp_ip]:[rtp_port]`, then either waits for the node's BYE, or hangs
/// up itself after `hang_up_after` ms.
pub fn callee(hang_up_after: Option<u32>) -> String {
    let end = match hang_up_after {
        None => r#"  <recv request="BYE" timeout="30000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"#
        .to_string(),
        Some(ms) => format!(
            r#"  <pause milliseconds="{ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to];tag=[pid]SIPpTag01[call_number]
      To: [$from]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
"#
        ),
    };
    // SIPp refuses variables that are set and never used, so the dialog's
    // parts are captured only when the callee sends its own BYE.
    let recv_invite = if hang_up_after.is_some() {
        r#"  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>
    </action>
  </recv>"#
    } else {
        r#"  <recv request="INVITE" crlf="true" rrs="true"/>"#
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="callee">
{recv_invite}
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="200"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=callee 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [rtp_ip]
      t=0 0
      m=audio [rtp_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
{end}</scenario>
"#
    )
}

/// A callee that rings and never answers, until the node cancels (§9.2):
/// 200 to the CANCEL, 487 to the INVITE, then the ACK.
pub fn callee_cancelled() -> String {
    r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="callee cancelled">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <recv request="CANCEL" timeout="30000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: 1 INVITE
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"#
    .to_string()
}

/// A caller that cancels its INVITE once it rings: expects 200 for the
/// CANCEL and 487 for the INVITE, and ACKs the 487.
pub fn caller_cancels() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller cancels">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {CALLER_HEADERS}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <send retrans="500">
    <![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
      {CALLER_HEADERS}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-6]
      {CALLER_HEADERS}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#
    )
}

/// A callee that is busy: 486 to the INVITE, then the ACK.
pub fn callee_busy() -> String {
    r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="callee busy">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"#
    .to_string()
}

/// A caller behind a proxy: its INVITE carries `Record-Route` naming the
/// proxy at 127.0.0.1:`proxy_port`, and it expects the same Record-Route in
/// the 200. It does not hang up: the node's BYE must go to the proxy.
pub fn caller_behind_proxy(proxy_port: u16) -> String {
    caller(Codec::Pcmu, &[Then::Pause(3000)], Ending::CallerHangsUp)
        .replace(
            "      Max-Forwards: 70\n      Content-Type: application/sdp",
            &format!("      Record-Route: <sip:127.0.0.1:{proxy_port};lr;ftag=[pid]>\n      Max-Forwards: 70\n      Content-Type: application/sdp"),
        )
        .replace(
            r#"<recv response="200" rtd="true" rrs="true"/>"#,
            &format!(
                r#"<recv response="200" rtd="true" rrs="true">
    <action>
      <ereg regexp="127.0.0.1:{proxy_port};lr" search_in="hdr" header="Record-Route:" check_it="true" assign_to="rr"/>
      <log message="record-route [$rr]"/>
    </action>
  </recv>"#
            ),
        )
        .split("  <send retrans=\"500\">\n    <![CDATA[\n      BYE")
        .next()
        .unwrap()
        .to_string()
        + "</scenario>\n"
}

/// The proxy of [`caller_behind_proxy`]: it gets the node's BYE, which must
/// name it in a Route header and carry the caller's Contact as Request-URI.
pub fn proxy_gets_bye() -> String {
    r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="proxy gets the BYE">
  <recv request="BYE" timeout="30000">
    <action>
      <ereg regexp=";lr" search_in="hdr" header="Route:" check_it="true" assign_to="route"/>
      <ereg regexp="^BYE sip:caller@" search_in="msg" check_it="true" assign_to="ruri"/>
      <log message="route [$route] ruri [$ruri]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#
    .to_string()
}

fn reinvite(cseq: u32, direction: &str) -> String {
    format!(
        r#"  <send retrans="500">
    <![CDATA[
      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {CALLER_HEADERS}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 {cseq} IN IP4 [local_ip]
      s=-
      c=IN IP4 [rtp_ip]
      t=0 0
      m=audio [rtp_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a={direction}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a=(recvonly|sendrecv)" search_in="body" check_it="true" assign_to="answer"/>
      <log message="answer [$answer]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {CALLER_HEADERS}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"#
    )
}

/// A caller that puts the call on hold (`a=sendonly`) after `before` ms,
/// resumes after `held` ms, and hangs up `after` ms later.
pub fn caller_holds(before: u32, held: u32, after: u32) -> String {
    let call = caller(Codec::Pcmu, &[Then::Pause(before)], Ending::CallerHangsUp);
    let (head, tail) = call
        .split_once("  <send retrans=\"500\">\n    <![CDATA[\n      BYE")
        .unwrap();
    format!(
        "{head}{}  <pause milliseconds=\"{held}\"/>\n{}  <pause milliseconds=\"{after}\"/>\n  <send retrans=\"500\">\n    <![CDATA[\n      BYE{}",
        reinvite(2, "sendonly"),
        reinvite(3, "sendrecv"),
        tail.replace("CSeq: 2 BYE", "CSeq: 4 BYE")
    )
}

/// An agent's phone registering `user` in `domain` with its Contact at
/// 127.0.0.1:`contact_port`, answering the digest challenge with SIPp's
/// `-au`/`-ap` credentials; `accepted` says whether 200 or a second 401
/// (a wrong password) ends the scenario.
pub fn register(user: &str, domain: &str, contact_port: u16, accepted: bool) -> String {
    let last = if accepted {
        r#"<recv response="200"/>"#
    } else {
        r#"<recv response="401"/>"#
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@{domain}>;tag=[pid]REG[call_number]
      To: <sip:{user}@{domain}>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:{user}@127.0.0.1:{contact_port}>
      Expires: 600
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@{domain}>;tag=[pid]REG[call_number]
      To: <sip:{user}@{domain}>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:{user}@127.0.0.1:{contact_port}>
      [authentication]
      Expires: 600
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  {last}
</scenario>
"#
    )
}

/// An INVITE from `from` (a SIP URI) that must be refused with `status`,
/// then acknowledged.
pub fn refused_caller(from: &str, status: u16) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="refused caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <{from}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="{status}"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <{from}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#
    )
}

/// The phone of every agent of a test (they all register with this SIPp's
/// port as Contact): answers each offered call after `ring_ms`, sends RTP
/// nowhere in particular (`[rtp_ip]:[rtp_port]`), and talks `talk_ms`
/// before hanging up through the route set, unless the other side hangs
/// up first (a caller leaving, or Kamailio ending the call of a dead
/// node). The ACK may never come when the node dies in between.
pub fn agent_phone(ring_ms: u32, talk_ms: u32) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="agent phone">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="{ring_ms}"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [rtp_ip]
      t=0 0
      m=audio [rtp_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv request="ACK" crlf="true" optional="true"/>
  <recv request="BYE" timeout="{talk_ms}" ontimeout="hang_up"/>
  <send next="done">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="hang_up"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to];tag=[pid]SIPpTag01[call_number]
      To: [$from]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <label id="done"/>
</scenario>
"#
    )
}
