//! Content-Encoding as servers really send it: gzip, zlib-wrapped deflate, raw deflate (RFC
//! 1951 without the zlib header, as some servers send for `deflate`), and bodies labelled
//! gzip or deflate that are not compressed at all. The decoder follows zlib's `puff.c`: one
//! pass over the input, no recursion, and it stops as soon as the output passes the cap.
//! Checksums (gzip CRC-32, zlib Adler-32) are not verified: a damaged body is the feed
//! parser's business, which keeps what is intact.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    #[error("flux compressé invalide")]
    Corrupt,
    #[error("plus de {0} octets une fois décompressé")]
    TooLarge(usize),
}

/// The body as the feed parser should read it, given the response's Content-Encoding, never
/// more than `cap` bytes. Encodings other than gzip and deflate are left as they are.
pub fn decode_body(
    body: Vec<u8>,
    content_encoding: Option<&str>,
    cap: usize,
) -> Result<Vec<u8>, InflateError> {
    let encoding = content_encoding.map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        Some("gzip" | "x-gzip") if body.starts_with(&[0x1f, 0x8b]) => gunzip(&body, cap),
        // zlib-wrapped as the standard says, else raw, else a body never compressed.
        Some("deflate") => {
            let starts = [has_zlib_header(&body).then_some(2), Some(0)];
            for start in starts.into_iter().flatten() {
                match inflate(&body[start..], cap) {
                    Ok((out, _)) => return Ok(out),
                    Err(InflateError::TooLarge(n)) => return Err(InflateError::TooLarge(n)),
                    Err(InflateError::Corrupt) => {}
                }
            }
            Ok(body)
        }
        _ => Ok(body),
    }
}

/// A zlib header (RFC 1950): deflate method, a window of at most 32 KiB, no preset
/// dictionary, and the check bits right. No uncompressed feed starts like this: its first
/// byte is `<`, `{`, a byte order mark or white space.
fn has_zlib_header(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && flg & 0x20 == 0
                && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Every member of a gzip file (RFC 1952), one after the other.
fn gunzip(body: &[u8], cap: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let mut rest = body;
    while rest.starts_with(&[0x1f, 0x8b]) {
        let start = gzip_header_len(rest).ok_or(InflateError::Corrupt)?;
        let (member, used) = inflate(&rest[start..], cap - out.len())?;
        out.extend_from_slice(&member);
        // The CRC-32 and size trailer; a missing one ends the body.
        rest = rest.get(start + used + 8..).unwrap_or_default();
    }
    Ok(out)
}

fn gzip_header_len(data: &[u8]) -> Option<usize> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    let (method, flags) = (*data.get(2)?, *data.get(3)?);
    if method != 8 {
        return None;
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = u16::from_le_bytes([*data.get(at)?, *data.get(at + 1)?]);
        at += 2 + usize::from(len);
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            at += data.get(at..)?.iter().position(|b| *b == 0)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    (at <= data.len()).then_some(at)
}

const MAX_BITS: usize = 15;
const MAX_LENGTH_CODES: usize = 286;
const MAX_DISTANCE_CODES: usize = 30;
const FIXED_LENGTH_CODES: usize = 288;

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order in which code length code lengths are sent.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Decompresses one raw deflate stream (RFC 1951) into at most `cap` bytes: (the bytes, the
/// input bytes the stream used).
pub fn inflate(input: &[u8], cap: usize) -> Result<(Vec<u8>, usize), InflateError> {
    let mut s = State {
        input,
        pos: 0,
        bit_buf: 0,
        bit_count: 0,
        out: Vec::new(),
        cap,
    };
    loop {
        let last = s.bits(1)? == 1;
        match s.bits(2)? {
            0 => s.stored()?,
            1 => s.fixed()?,
            2 => s.dynamic()?,
            _ => return Err(InflateError::Corrupt),
        }
        if last {
            return Ok((s.out, s.pos));
        }
    }
}

struct State<'a> {
    input: &'a [u8],
    /// Input bytes read so far (whole bytes; unused bits of the last one wait in `bit_buf`).
    pos: usize,
    bit_buf: u32,
    bit_count: u32,
    out: Vec<u8>,
    cap: usize,
}

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    count: [u16; MAX_BITS + 1],
    symbol: Vec<u16>,
}

impl Huffman {
    /// Builds the code from each symbol's code length. Ok(true) when the code is complete,
    /// Ok(false) when it is incomplete, Err when it is over-subscribed.
    fn new(lengths: &[u8]) -> Result<(Self, bool), InflateError> {
        let mut count = [0u16; MAX_BITS + 1];
        for &len in lengths {
            count[usize::from(len)] += 1;
        }
        let mut left: i32 = 1;
        for &n in &count[1..] {
            left = left * 2 - i32::from(n);
            if left < 0 {
                return Err(InflateError::Corrupt);
            }
        }
        let mut offsets = [0usize; MAX_BITS + 1];
        for len in 1..MAX_BITS {
            offsets[len + 1] = offsets[len] + usize::from(count[len]);
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (sym, &len) in lengths.iter().enumerate() {
            if len != 0 {
                let len = usize::from(len);
                symbol[offsets[len]] = sym as u16;
                offsets[len] += 1;
            }
        }
        Ok((Huffman { count, symbol }, left == 0))
    }
}

impl State<'_> {
    fn bits(&mut self, need: u32) -> Result<u32, InflateError> {
        let mut value = u64::from(self.bit_buf);
        while self.bit_count < need {
            let byte = *self.input.get(self.pos).ok_or(InflateError::Corrupt)?;
            self.pos += 1;
            value |= u64::from(byte) << self.bit_count;
            self.bit_count += 8;
        }
        self.bit_buf = (value >> need) as u32;
        self.bit_count -= need;
        Ok((value & ((1u64 << need) - 1)) as u32)
    }

    fn push(&mut self, bytes: usize) -> Result<(), InflateError> {
        if self.out.len() + bytes > self.cap {
            return Err(InflateError::TooLarge(self.cap));
        }
        Ok(())
    }

    fn stored(&mut self) -> Result<(), InflateError> {
        // The rest of the current byte is padding.
        self.bit_buf = 0;
        self.bit_count = 0;
        let header = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or(InflateError::Corrupt)?;
        let len = u16::from_le_bytes([header[0], header[1]]);
        if u16::from_le_bytes([header[2], header[3]]) != !len {
            return Err(InflateError::Corrupt);
        }
        self.pos += 4;
        let len = usize::from(len);
        let block = self
            .input
            .get(self.pos..self.pos + len)
            .ok_or(InflateError::Corrupt)?;
        self.push(len)?;
        self.out.extend_from_slice(block);
        self.pos += len;
        Ok(())
    }

    fn decode(&mut self, code: &Huffman) -> Result<u16, InflateError> {
        let (mut value, mut first, mut index) = (0i32, 0i32, 0i32);
        for &count in &code.count[1..] {
            value |= self.bits(1)? as i32;
            let count = i32::from(count);
            if value - count < first {
                return Ok(code.symbol[(index + value - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            value <<= 1;
        }
        Err(InflateError::Corrupt)
    }

    fn codes(&mut self, lengths: &Huffman, distances: &Huffman) -> Result<(), InflateError> {
        loop {
            let symbol = usize::from(self.decode(lengths)?);
            match symbol {
                0..=255 => {
                    self.push(1)?;
                    self.out.push(symbol as u8);
                }
                256 => return Ok(()),
                _ => {
                    let symbol = symbol - 257;
                    if symbol >= LENGTH_BASE.len() {
                        return Err(InflateError::Corrupt);
                    }
                    let len = usize::from(LENGTH_BASE[symbol])
                        + self.bits(u32::from(LENGTH_EXTRA[symbol]))? as usize;
                    let symbol = usize::from(self.decode(distances)?);
                    if symbol >= DISTANCE_BASE.len() {
                        return Err(InflateError::Corrupt);
                    }
                    let distance = usize::from(DISTANCE_BASE[symbol])
                        + self.bits(u32::from(DISTANCE_EXTRA[symbol]))? as usize;
                    if distance > self.out.len() {
                        return Err(InflateError::Corrupt);
                    }
                    self.push(len)?;
                    // Byte by byte: the copy may overlap what it writes.
                    for _ in 0..len {
                        let byte = self.out[self.out.len() - distance];
                        self.out.push(byte);
                    }
                }
            }
        }
    }

    fn fixed(&mut self) -> Result<(), InflateError> {
        let mut lengths = [0u8; FIXED_LENGTH_CODES];
        for (symbol, len) in lengths.iter_mut().enumerate() {
            *len = match symbol {
                0..=143 => 8,
                144..=255 => 9,
                256..=279 => 7,
                _ => 8,
            };
        }
        let (lengths, _) = Huffman::new(&lengths)?;
        let (distances, _) = Huffman::new(&[5u8; MAX_DISTANCE_CODES])?;
        self.codes(&lengths, &distances)
    }

    fn dynamic(&mut self) -> Result<(), InflateError> {
        let length_codes = self.bits(5)? as usize + 257;
        let distance_codes = self.bits(5)? as usize + 1;
        let code_length_codes = self.bits(4)? as usize + 4;
        if length_codes > MAX_LENGTH_CODES || distance_codes > MAX_DISTANCE_CODES {
            return Err(InflateError::Corrupt);
        }
        let mut lengths = [0u8; MAX_LENGTH_CODES + MAX_DISTANCE_CODES];
        for &at in &CODE_LENGTH_ORDER[..code_length_codes] {
            lengths[at] = self.bits(3)? as u8;
        }
        let (code_lengths, complete) = Huffman::new(&lengths[..19])?;
        if !complete {
            return Err(InflateError::Corrupt);
        }
        let total = length_codes + distance_codes;
        let mut index = 0;
        while index < total {
            let symbol = self.decode(&code_lengths)?;
            if symbol < 16 {
                lengths[index] = symbol as u8;
                index += 1;
                continue;
            }
            let (len, repeat) = match symbol {
                16 => {
                    let previous = *index
                        .checked_sub(1)
                        .and_then(|i| lengths.get(i))
                        .ok_or(InflateError::Corrupt)?;
                    (previous, 3 + self.bits(2)? as usize)
                }
                17 => (0, 3 + self.bits(3)? as usize),
                _ => (0, 11 + self.bits(7)? as usize),
            };
            if index + repeat > total {
                return Err(InflateError::Corrupt);
            }
            lengths[index..index + repeat].fill(len);
            index += repeat;
        }
        if lengths[256] == 0 {
            return Err(InflateError::Corrupt);
        }
        // Incomplete codes are allowed only when they have a single code of length one.
        let (length_code, complete) = Huffman::new(&lengths[..length_codes])?;
        if !complete
            && usize::from(length_code.count[1]) + usize::from(length_code.count[0]) != length_codes
        {
            return Err(InflateError::Corrupt);
        }
        let (distance_code, complete) = Huffman::new(&lengths[length_codes..total])?;
        if !complete
            && usize::from(distance_code.count[1]) + usize::from(distance_code.count[0])
                != distance_codes
        {
            return Err(InflateError::Corrupt);
        }
        self.codes(&length_code, &distance_code)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Text with repeats near and far, and bytes of every value: literals, matches, all three
    /// block kinds once compressed.
    fn sample(len: usize) -> Vec<u8> {
        let mut seed = 0x2545_f491_u32;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            match seed % 4 {
                0 => out.extend_from_slice("<item><title>Coopération</title></item>".as_bytes()),
                1 => out.push((seed >> 8) as u8),
                2 => {
                    let back = (seed >> 8) as usize % out.len().max(1);
                    let from = out.len() - back;
                    let chunk: Vec<u8> = out[from..].iter().take(40).copied().collect();
                    out.extend_from_slice(&chunk);
                }
                _ => out.extend_from_slice(b"     "),
            }
        }
        out.truncate(len);
        out
    }

    fn raw(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn stored_fixed_and_dynamic_blocks_decode_to_what_was_compressed() {
        for len in [0, 1, 100, 70_000, 300_000] {
            let data = sample(len);
            // Level 0 gives stored blocks, 1 mostly fixed ones, 9 dynamic ones.
            for level in [0, 1, 6, 9] {
                let (out, used) = inflate(&raw(&data, level), usize::MAX).unwrap();
                assert_eq!(out, data, "{len} bytes at level {level}");
                assert_eq!(used, raw(&data, level).len());
            }
        }
    }

    #[test]
    fn each_encoding_is_read_and_uncompressed_bodies_are_kept_as_they_are() {
        let feed = sample(50_000);
        for (body, encoding) in [
            (gzip(&feed), "gzip"),
            (gzip(&feed), "x-gzip"),
            (zlib(&feed), "deflate"),
            (raw(&feed, 6), "Deflate"),
            (feed.clone(), "gzip"),
            (feed.clone(), "deflate"),
            (feed.clone(), "identity"),
        ] {
            let out = decode_body(body, Some(encoding), usize::MAX).unwrap();
            assert!(out == feed, "{encoding}");
        }
        let rss = b"<?xml version=\"1.0\"?><rss version=\"2.0\"/>".to_vec();
        for encoding in ["gzip", "deflate"] {
            assert_eq!(decode_body(rss.clone(), Some(encoding), 1000).unwrap(), rss);
        }
        let mut two = gzip(b"<rss>");
        two.extend(gzip(b"</rss>"));
        assert_eq!(decode_body(two, Some("gzip"), 100).unwrap(), b"<rss></rss>");
    }

    #[test]
    fn the_cap_holds_after_decompression() {
        let bomb = gzip(&vec![b' '; 4 * 1024 * 1024]);
        assert!(bomb.len() < 10_000);
        assert_eq!(
            decode_body(bomb, Some("gzip"), 100_000),
            Err(InflateError::TooLarge(100_000))
        );
        let raw_bomb = raw(&vec![b' '; 1024 * 1024], 9);
        assert_eq!(
            decode_body(raw_bomb, Some("deflate"), 1000),
            Err(InflateError::TooLarge(1000))
        );
        let exact = sample(5000);
        assert_eq!(
            decode_body(gzip(&exact), Some("gzip"), 5000).unwrap(),
            exact
        );
    }

    #[test]
    fn damaged_streams_are_errors_not_panics() {
        let data = raw(&sample(20_000), 9);
        for cut in [1, 2, 10, data.len() / 2, data.len() - 1] {
            assert!(inflate(&data[..cut], usize::MAX).is_err(), "cut at {cut}");
        }
        let mut flipped = data.clone();
        for i in (0..flipped.len()).step_by(97) {
            flipped[i] ^= 0x5a;
            let _ = inflate(&flipped, 1 << 20);
        }
        let mut seed = 0x9e37_79b9_u32;
        for len in 0..2000 {
            let noise: Vec<u8> = (0..len % 300)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let _ = inflate(&noise, 1 << 16);
        }
        assert_eq!(
            decode_body(gzip(b"<rss/>")[..12].to_vec(), Some("gzip"), 100),
            Err(InflateError::Corrupt)
        );
    }
}
