//! Sub-TLVs (RFC 8966 §4.4) and the Timestamp sub-TLVs of RFC 9616.

/// A sub-TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubTlv {
    Pad1,
}
