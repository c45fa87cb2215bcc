//! Cutting SIP messages out of a TCP byte stream (RFC 3261 §18.3).
//!
//! On a stream the Content-Length header is mandatory: it is the only way to
//! know where a message ends. As in mini-redis, an incomplete message is a
//! normal state ("read more"), not an error.

/// What the framer found in the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One whole message.
    Message(Vec<u8>),
    /// A CRLF keep-alive ping (RFC 5626 §4.4.1).
    Keepalive,
}

/// Why a stream cannot be framed any further; the connection must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Headers longer than the limit without a blank line.
    #[error("header section over {0} bytes")]
    HeadersTooLong(usize),
    /// No usable Content-Length on a stream.
    #[error("missing or malformed Content-Length on a stream")]
    BadContentLength,
    /// A body over the limit.
    #[error("body of {0} bytes is over the limit")]
    BodyTooLong(usize),
}

/// Accumulates stream bytes and yields whole messages.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buffer: Vec<u8>,
}

const MAX_HEADERS: usize = 16 * 1024;
const MAX_BODY: usize = 48 * 1024;

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> Self {
        StreamFramer::default()
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes waiting for the rest of their message.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next whole message, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        // Keep-alives: a double CRLF ping, or single CRLFs between messages.
        let leading = self
            .buffer
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if leading > 0 {
            let ping = self.buffer.starts_with(b"\r\n\r\n");
            if leading == self.buffer.len() && !ping {
                return Ok(None);
            }
            self.buffer
                .drain(..leading.min(if ping { 4 } else { leading }));
            if ping {
                return Ok(Some(Frame::Keepalive));
            }
        }
        let Some(head_end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.buffer.len() > MAX_HEADERS {
                return Err(FramingError::HeadersTooLong(MAX_HEADERS));
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]);
        let mut length: Option<usize> = None;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
                let value = value.trim();
                if !value.bytes().all(|b| b.is_ascii_digit()) || value.is_empty() {
                    return Err(FramingError::BadContentLength);
                }
                let parsed = value
                    .parse::<usize>()
                    .map_err(|_| FramingError::BadContentLength)?;
                if length.is_some_and(|l| l != parsed) {
                    return Err(FramingError::BadContentLength);
                }
                length = Some(parsed);
            }
        }
        let length = length.ok_or(FramingError::BadContentLength)?;
        if length > MAX_BODY {
            return Err(FramingError::BodyTooLong(length));
        }
        let total = head_end + 4 + length;
        if self.buffer.len() < total {
            return Ok(None);
        }
        let message: Vec<u8> = self.buffer.drain(..total).collect();
        Ok(Some(Frame::Message(message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\nabcd";

    #[test]
    fn a_message_split_anywhere_comes_out_whole() {
        for split in 0..MSG.len() {
            let mut framer = StreamFramer::new();
            framer.extend(&MSG[..split]);
            assert_eq!(framer.next_frame(), Ok(None), "split at {split}");
            framer.extend(&MSG[split..]);
            assert_eq!(framer.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
            assert_eq!(framer.next_frame(), Ok(None));
        }
    }

    #[test]
    fn back_to_back_messages_and_pings() {
        let mut framer = StreamFramer::new();
        framer.extend(MSG);
        framer.extend(b"\r\n\r\n");
        framer.extend(MSG);
        assert!(matches!(framer.next_frame(), Ok(Some(Frame::Message(_)))));
        assert_eq!(framer.next_frame(), Ok(Some(Frame::Keepalive)));
        assert!(matches!(framer.next_frame(), Ok(Some(Frame::Message(_)))));
    }

    #[test]
    fn a_stream_message_without_content_length_closes_the_stream() {
        let mut framer = StreamFramer::new();
        framer.extend(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(framer.next_frame(), Err(FramingError::BadContentLength));
    }
}
