//! Content-Encoding as servers really send it: gzip (one member or several), zlib-wrapped
//! deflate, raw deflate (RFC 1951 without the zlib header, as some servers send for
//! `deflate`), and bodies labelled gzip or deflate that are not compressed at all. The
//! decoding is flate2's; here is only which decoder a body gets and the cap, which stops the
//! output as soon as it passes the limit (a small body cannot become a large one).
//! Checksums are not relied on: a damaged body is the feed parser's business, which keeps
//! what is intact.

use std::io::Read;

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
        Some("gzip" | "x-gzip") if body.starts_with(&[0x1f, 0x8b]) => {
            read_capped(flate2::read::MultiGzDecoder::new(&body[..]), cap)
        }
        // zlib-wrapped as the standard says, else raw, else a body never compressed.
        Some("deflate") => {
            if has_zlib_header(&body) {
                match read_capped(flate2::read::ZlibDecoder::new(&body[..]), cap) {
                    Err(InflateError::Corrupt) => {}
                    done => return done,
                }
            }
            match read_capped(flate2::read::DeflateDecoder::new(&body[..]), cap) {
                Err(InflateError::Corrupt) => Ok(body),
                done => done,
            }
        }
        _ => Ok(body),
    }
}

/// Reads at most one byte past the cap, so a bomb stops there.
fn read_capped(reader: impl Read, cap: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    reader
        .take((cap as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| {
            tracing::debug!("compressed body not readable: {e}");
            InflateError::Corrupt
        })?;
    if out.len() > cap {
        return Err(InflateError::TooLarge(cap));
    }
    Ok(out)
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
                let out = decode_body(raw(&data, level), Some("deflate"), usize::MAX / 2);
                assert!(out.unwrap() == data, "{len} bytes at level {level}");
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
        let data = gzip(&sample(20_000));
        for cut in [12, data.len() / 2] {
            assert_eq!(
                decode_body(data[..cut].to_vec(), Some("gzip"), usize::MAX / 2),
                Err(InflateError::Corrupt),
                "cut at {cut}"
            );
        }
        let mut flipped = data.clone();
        for i in (10..flipped.len()).step_by(97) {
            flipped[i] ^= 0x5a;
            let _ = decode_body(flipped.clone(), Some("gzip"), 1 << 20);
            let _ = decode_body(flipped[10..].to_vec(), Some("deflate"), 1 << 20);
        }
    }
}
