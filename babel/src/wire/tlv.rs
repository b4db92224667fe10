//! TLVs as they sit in the bytes (RFC 8966 §4.6).

/// TLV types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlvType {
    Pad1 = 0,
}

/// One TLV as encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlvRepr {
    Pad1,
}
