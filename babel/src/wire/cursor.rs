//! Bounds-checked, big-endian reading and writing over byte slices.
//!
//! This is the only wire module that indexes raw buffers, so that nothing else can panic on short
//! input: a [`Reader`] returns [`Malformed`] instead of reading past its end, and a [`Writer`]
//! silently stops at the end of its buffer (callers size buffers with `buffer_len()`).

/// A TLV or sub-TLV that does not match the layout of its type. The enclosing TLV is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Reads fields front to back.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.bytes.len() {
            return Err(Malformed);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        self.take(N)?.try_into().map_err(|_| Malformed)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Malformed> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Everything not read yet (sub-TLVs, usually).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Writes fields front to back; writes that do not fit are dropped rather than panicking.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn put_slice(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    pub(crate) fn put_u8(&mut self, v: u8) {
        self.put_slice(&[v]);
    }

    pub(crate) fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }

    pub(crate) fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }

    pub(crate) fn put_zeros(&mut self, n: usize) {
        for _ in 0..n {
            self.put_u8(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_stops_at_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16(), Err(Malformed));
        assert_eq!(r.u8(), Ok(3));
        assert!(r.is_empty());
    }

    #[test]
    fn writer_drops_overflow() {
        let mut buf = [0u8; 3];
        let mut w = Writer::new(&mut buf);
        w.put_u16(0xABCD);
        w.put_u16(0x1234);
        assert_eq!(buf, [0xAB, 0xCD, 0]);
    }
}
