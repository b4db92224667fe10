//! Packs [`Message`]s into Babel packets no larger than a given size, emitting Router-Id and Next
//! Hop TLVs where they change and compressing prefixes where that saves octets.

use super::Message;

/// Builds packets from messages. Compression state is per packet, as the RFC requires.
#[derive(Debug)]
pub struct Encoder {
    max_len: usize,
    packets: Vec<Vec<u8>>,
}

impl Encoder {
    /// `max_len` is the largest Babel packet (header included) to produce, i.e. the link MTU
    /// minus IPv6 and UDP headers.
    pub fn new(max_len: usize) -> Encoder {
        Encoder {
            max_len,
            packets: Vec::new(),
        }
    }

    /// Appends one message, starting a new packet when it does not fit in the current one.
    pub fn push(&mut self, message: &Message) {
        let _ = (message, self.max_len);
        todo!("wire encoder")
    }

    /// Whether nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The finished packets, each a complete Babel packet (header, body).
    pub fn finish(self) -> Vec<Vec<u8>> {
        self.packets
    }
}
