#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 30)
# with the nightly toolchain and cargo-fuzz, seeded from the test corpora.
# A crash fails the run and leaves its input under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}

if ! rustup toolchain list | grep -q nightly; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

# Seeds: the malformed SIP corpus, our own SDP, RTP from SIPp's pcaps, units.
mkdir -p fuzz/corpus/{sip_message,sip_stream,sdp,rtp,unit_document}
cp tests/torture/*.sip fuzz/corpus/sip_message/ 2>/dev/null || true
cp tests/torture/*.sip fuzz/corpus/sip_stream/ 2>/dev/null || true
cp units/*.yaml fuzz/corpus/unit_document/ 2>/dev/null || true
printf 'v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n' > fuzz/corpus/sdp/seed.sdp
printf '\x80\x00\x00\x01\x00\x00\x00\xa0\x01\x02\x03\x04\xff\xff\xff\xff\xfe\x80\x65\x00\x02\x00\x00\x01\x00\x01\x02\x03\x04\x05\x0a\x00\xa0' > fuzz/corpus/rtp/seed.rtp

# Cap memory and build once for all targets.
for target in sip_message sip_stream sdp rtp unit_document; do
  echo "fuzz: $target for ${seconds}s"
  (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 4)
done
