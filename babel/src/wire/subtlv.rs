//! Sub-TLVs (RFC 8966 §4.4) and the Timestamp sub-TLVs of RFC 9616.
//!
//! Owns the sub-TLV layout and the mandatory bit. Which sub-TLVs a TLV may carry is the
//! caller's business: it says so with a [`SubTlvContext`]. Deciding what an unknown mandatory
//! sub-TLV does to its TLV is left to the packet walk.

use super::cursor::{Malformed, Reader, Writer};
use super::IhuTimestamps;

/// Sub-TLV type of Pad1: a single octet with no length.
pub const PAD1: u8 = 0;
/// Sub-TLV type of PadN.
pub const PADN: u8 = 1;
/// Sub-TLV type of Timestamp (RFC 9616 §3).
pub const TIMESTAMP: u8 = 3;
/// Sub-TLV types with this bit set are mandatory (RFC 8966 §4.4).
pub const MANDATORY: u8 = 0x80;

/// The TLV a sub-TLV sits in, which decides the meaning of the Timestamp sub-TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubTlvContext {
    Hello,
    Ihu,
    Other,
}

/// A sub-TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubTlv {
    Pad1,
    /// PadN with this many (zero) octets of padding.
    PadN(u8),
    /// Timestamp in a Hello: the sender's transmit time.
    HelloTimestamp(u32),
    /// Timestamp in an IHU: origin and receive times.
    IhuTimestamps(IhuTimestamps),
    /// Anything else, kept as bytes; also a Timestamp of the wrong length, which is skipped.
    Unknown {
        subtlv_type: u8,
        data: Vec<u8>,
    },
}

impl SubTlv {
    /// Parses the sub-TLVs filling `bytes`; a sub-TLV running past the end makes the whole
    /// enclosing TLV malformed.
    pub fn parse_all(bytes: &[u8], context: SubTlvContext) -> Result<Vec<SubTlv>, Malformed> {
        let mut reader = Reader::new(bytes);
        let mut out = Vec::new();
        while !reader.is_empty() {
            let subtlv_type = reader.u8()?;
            if subtlv_type == PAD1 {
                out.push(SubTlv::Pad1);
                continue;
            }
            let len = reader.u8()?;
            let data = reader.take(usize::from(len))?;
            out.push(SubTlv::parse_one(subtlv_type, data, context));
        }
        Ok(out)
    }

    fn parse_one(subtlv_type: u8, data: &[u8], context: SubTlvContext) -> SubTlv {
        let unknown = || SubTlv::Unknown {
            subtlv_type,
            data: data.to_vec(),
        };
        match (subtlv_type, context) {
            (PADN, _) => SubTlv::PadN(data.len() as u8),
            (TIMESTAMP, SubTlvContext::Hello) => match <[u8; 4]>::try_from(data) {
                Ok(t) => SubTlv::HelloTimestamp(u32::from_be_bytes(t)),
                Err(_) => unknown(),
            },
            (TIMESTAMP, SubTlvContext::Ihu) => {
                let mut reader = Reader::new(data);
                match (reader.u32(), reader.u32(), reader.is_empty()) {
                    (Ok(origin), Ok(receive), true) => {
                        SubTlv::IhuTimestamps(IhuTimestamps { origin, receive })
                    }
                    _ => unknown(),
                }
            }
            _ => unknown(),
        }
    }

    /// Whether this is a sub-TLV we do not understand but must not ignore.
    pub fn is_unknown_mandatory(&self) -> bool {
        matches!(self, SubTlv::Unknown { subtlv_type, .. } if subtlv_type & MANDATORY != 0)
    }

    /// Octets this sub-TLV takes on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            SubTlv::Pad1 => 1,
            SubTlv::PadN(n) => 2 + usize::from(*n),
            SubTlv::HelloTimestamp(_) => 2 + 4,
            SubTlv::IhuTimestamps(_) => 2 + 8,
            SubTlv::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes this sub-TLV into the first `buffer_len()` octets of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf));
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        match self {
            SubTlv::Pad1 => w.put_u8(PAD1),
            SubTlv::PadN(n) => {
                w.put_u8(PADN);
                w.put_u8(*n);
                w.put_zeros(usize::from(*n));
            }
            SubTlv::HelloTimestamp(t) => {
                w.put_u8(TIMESTAMP);
                w.put_u8(4);
                w.put_u32(*t);
            }
            SubTlv::IhuTimestamps(t) => {
                w.put_u8(TIMESTAMP);
                w.put_u8(8);
                w.put_u32(t.origin);
                w.put_u32(t.receive);
            }
            SubTlv::Unknown { subtlv_type, data } => {
                w.put_u8(*subtlv_type);
                w.put_u8(data.len() as u8);
                w.put_slice(data);
            }
        }
    }
}

/// Octets a list of sub-TLVs takes.
pub fn buffer_len_all(subtlvs: &[SubTlv]) -> usize {
    subtlvs.iter().map(SubTlv::buffer_len).sum()
}

pub(crate) fn write_all(subtlvs: &[SubTlv], w: &mut Writer<'_>) {
    for s in subtlvs {
        s.write(w);
    }
}

/// Whether any sub-TLV forces the enclosing TLV to be ignored.
pub fn has_unknown_mandatory(subtlvs: &[SubTlv]) -> bool {
    subtlvs.iter().any(SubTlv::is_unknown_mandatory)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], context: SubTlvContext, expected: Vec<SubTlv>) {
        let parsed = SubTlv::parse_all(bytes, context).expect("well-formed sub-TLVs");
        assert_eq!(parsed, expected);
        let mut out = vec![0u8; buffer_len_all(&parsed)];
        let mut w = Writer::new(&mut out);
        write_all(&parsed, &mut w);
        assert_eq!(out, bytes);
    }

    #[test]
    fn padding() {
        check(
            &[0, 1, 2, 0, 0, 0],
            SubTlvContext::Other,
            vec![SubTlv::Pad1, SubTlv::PadN(2), SubTlv::Pad1],
        );
    }

    #[test]
    fn hello_timestamp() {
        check(
            &[3, 4, 0x12, 0x34, 0x56, 0x78],
            SubTlvContext::Hello,
            vec![SubTlv::HelloTimestamp(0x1234_5678)],
        );
    }

    #[test]
    fn ihu_timestamps() {
        check(
            &[3, 8, 0, 0, 0, 1, 0, 0, 0, 2],
            SubTlvContext::Ihu,
            vec![SubTlv::IhuTimestamps(IhuTimestamps {
                origin: 1,
                receive: 2,
            })],
        );
    }

    #[test]
    fn timestamp_of_wrong_length_is_kept_as_unknown() {
        let parsed = SubTlv::parse_all(&[3, 8, 0, 0, 0, 1, 0, 0, 0, 2], SubTlvContext::Hello);
        assert_eq!(
            parsed,
            Ok(vec![SubTlv::Unknown {
                subtlv_type: 3,
                data: vec![0, 0, 0, 1, 0, 0, 0, 2]
            }])
        );
        assert!(!parsed.unwrap_or_default()[0].is_unknown_mandatory());
    }

    #[test]
    fn mandatory_bit() {
        let parsed = SubTlv::parse_all(&[0x85, 1, 9], SubTlvContext::Other).unwrap_or_default();
        assert!(has_unknown_mandatory(&parsed));
    }

    #[test]
    fn overrun_is_malformed() {
        assert_eq!(
            SubTlv::parse_all(&[1, 3, 0, 0], SubTlvContext::Other),
            Err(Malformed)
        );
        assert_eq!(
            SubTlv::parse_all(&[1], SubTlvContext::Other),
            Err(Malformed)
        );
    }
}
