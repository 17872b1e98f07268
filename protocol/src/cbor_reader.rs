//! A reader of deterministic CBOR that allocates nothing: it walks the bytes in place, checks every
//! head is the shortest form with a definite length, and checks each length and count against the
//! bytes that remain *before* anyone allocates for it. Used where peers push bulk data (sync
//! responses) and where only one field of a record is needed quickly (its author).

use crate::cbor::CborError;

/// A position in a byte slice holding deterministic CBOR.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Major types.
pub const UINT: u8 = 0;
/// Byte string.
pub const BYTES: u8 = 2;
/// Text string.
pub const TEXT: u8 = 3;
/// Array.
pub const ARRAY: u8 = 4;
/// Map.
pub const MAP: u8 = 5;

fn malformed(what: &str) -> CborError {
    CborError::Malformed(what.to_owned())
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// `Ok` if every byte was read.
    pub fn finish(&self) -> Result<(), CborError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(CborError::TrailingBytes(n)),
        }
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| malformed("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], CborError> {
        let n = usize::try_from(n).map_err(|_| malformed("length beyond the input"))?;
        if n > self.remaining() {
            return Err(malformed("length beyond the input"));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The next head: major type and argument. Refuses non-shortest arguments, indefinite lengths,
    /// and the reserved additional-information values.
    pub fn head(&mut self) -> Result<(u8, u64), CborError> {
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => {
                let v = u64::from(self.byte()?);
                if v < 24 {
                    return Err(CborError::NotDeterministic);
                }
                v
            }
            25..=27 => {
                let width = 1usize << (info - 24);
                let raw = self.take(width as u64)?;
                let mut v = 0u64;
                for b in raw {
                    v = (v << 8) | u64::from(*b);
                }
                let shortest = match width {
                    2 => v > 0xff,
                    4 => v > 0xffff,
                    _ => v > 0xffff_ffff,
                };
                if !shortest {
                    return Err(CborError::NotDeterministic);
                }
                v
            }
            31 => return Err(CborError::NotDeterministic),
            _ => return Err(malformed("reserved additional information")),
        };
        Ok((major, arg))
    }

    /// The next item must be of major type `major`: its argument.
    pub fn expect(&mut self, major: u8, what: &'static str) -> Result<u64, CborError> {
        match self.head()? {
            (m, arg) if m == major => Ok(arg),
            _ => Err(malformed(what)),
        }
    }

    /// An array header; the count is checked against `max` and against the bytes left (every item
    /// takes at least one byte), so a caller may allocate for it.
    pub fn array(&mut self, max: usize) -> Result<usize, CborError> {
        let n = self.expect(ARRAY, "expected an array")?;
        let n = usize::try_from(n).map_err(|_| malformed("array longer than allowed"))?;
        if n > max || n > self.remaining() {
            return Err(malformed("array longer than allowed"));
        }
        Ok(n)
    }

    /// An unsigned integer.
    pub fn uint(&mut self) -> Result<u64, CborError> {
        self.expect(UINT, "expected an unsigned integer")
    }

    /// A byte string of at most `max` bytes, borrowed.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], CborError> {
        let n = self.expect(BYTES, "expected a byte string")?;
        if n > max as u64 {
            return Err(malformed("byte string longer than allowed"));
        }
        self.take(n)
    }

    /// The `n` bytes of a string whose head was already read with [`Reader::head`].
    pub fn bytes_after_head(&mut self, n: u64) -> Result<&'a [u8], CborError> {
        self.take(n)
    }

    /// A text string, borrowed (not checked for UTF-8: callers compare bytes).
    pub fn text_bytes(&mut self) -> Result<&'a [u8], CborError> {
        let n = self.expect(TEXT, "expected a text string")?;
        self.take(n)
    }

    /// Skips one item of the subset (integers, strings, arrays, maps, tags, simple values), at most
    /// `depth` levels deep.
    pub fn skip(&mut self, depth: usize) -> Result<(), CborError> {
        if depth == 0 {
            return Err(malformed("nested too deep"));
        }
        let (major, arg) = self.head()?;
        match major {
            0 | 1 | 7 => Ok(()),
            2 | 3 => self.take(arg).map(drop),
            4 => (0..arg).try_for_each(|_| self.skip(depth - 1)),
            5 => (0..arg).try_for_each(|_| {
                self.skip(depth - 1)?;
                self.skip(depth - 1)
            }),
            _ => self.skip(depth - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_must_be_shortest_and_definite() {
        assert_eq!(Reader::new(&[0x17]).uint(), Ok(23));
        assert_eq!(Reader::new(&[0x18, 0x18]).uint(), Ok(24));
        assert_eq!(
            Reader::new(&[0x18, 0x17]).uint(),
            Err(CborError::NotDeterministic)
        );
        assert_eq!(
            Reader::new(&[0x19, 0x00, 0xff]).uint(),
            Err(CborError::NotDeterministic)
        );
        assert_eq!(
            Reader::new(&[0x9f]).array(8),
            Err(CborError::NotDeterministic)
        );
        assert!(Reader::new(&[0x1c]).uint().is_err());
        assert!(Reader::new(&[0x19, 0x01]).uint().is_err(), "truncated");
    }

    #[test]
    fn counts_and_lengths_are_checked_before_use() {
        // An array announcing 2^32 items in a few bytes.
        assert!(
            Reader::new(&[0x9a, 0xff, 0xff, 0xff, 0xff])
                .array(usize::MAX)
                .is_err()
        );
        assert!(Reader::new(&[0x83, 0, 0, 0]).array(2).is_err());
        assert_eq!(Reader::new(&[0x83, 0, 0, 0]).array(3), Ok(3));
        // A byte string announcing more than the input holds, or more than allowed.
        assert!(Reader::new(&[0x5a, 0, 1, 0, 0]).bytes(usize::MAX).is_err());
        assert!(Reader::new(&[0x43, 1, 2, 3]).bytes(2).is_err());
        assert_eq!(Reader::new(&[0x43, 1, 2, 3]).bytes(3), Ok(&[1u8, 2, 3][..]));
    }

    #[test]
    fn skip_walks_nested_items() {
        // {"a": [1, h'ff'], "b": "x"} then 7
        let bytes = [
            0xa2, 0x61, b'a', 0x82, 0x01, 0x41, 0xff, 0x61, b'b', 0x61, b'x', 0x07,
        ];
        let mut r = Reader::new(&bytes);
        r.skip(4).unwrap();
        assert_eq!(r.uint(), Ok(7));
        r.finish().unwrap();
        assert!(Reader::new(&[0x81, 0x81, 0x81, 0x00]).skip(2).is_err());
    }
}
