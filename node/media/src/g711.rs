//! G.711 in both laws, by `audio-codec-algorithms`, with the two tables the
//! hot paths use (decode per received byte, law conversion per relayed byte).

use audio_codec_algorithms::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};

/// A G.711 companding law.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law (PCMU, payload type 0).
    Mu,
    /// A-law (PCMA, payload type 8).
    A,
}

impl Law {
    /// Encodes one 16-bit sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => encode_ulaw(sample),
            Law::A => encode_alaw(sample),
        }
    }

    /// Decodes one byte.
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Mu => decode_ulaw(byte),
            Law::A => decode_alaw(byte),
        }
    }

    /// The byte that decodes to silence.
    pub fn silence(self) -> u8 {
        match self {
            Law::Mu => 0xFF,
            Law::A => 0xD5,
        }
    }

    /// Encodes a block of samples.
    pub fn encode_all(self, samples: &[i16]) -> Vec<u8> {
        samples.iter().map(|s| self.encode(*s)).collect()
    }

    /// Converts one byte of this law into the other law.
    pub fn convert(self, byte: u8, to: Law) -> u8 {
        if self == to {
            byte
        } else {
            to.encode(self.decode(byte))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_decode_then_encode() {
        for law in [Law::Mu, Law::A] {
            for code in 0..=255u8 {
                let back = law.encode(law.decode(code));
                // µ-law has two codes for zero (0x7F and 0xFF); both decode to 0.
                assert_eq!(law.decode(back), law.decode(code), "{law:?} {code:#x}");
            }
        }
    }

    #[test]
    fn silence_decodes_to_near_zero() {
        assert_eq!(Law::Mu.decode(Law::Mu.silence()), 0);
        assert!(Law::A.decode(Law::A.silence()).abs() <= 8);
    }
}
