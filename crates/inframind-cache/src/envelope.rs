//! The versioned binary envelope a cached response is stored in.
//!
//! Layout of version 1 (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `IMC` and the version byte `1` |
//! | 1 | flags (bit 0: body is zstd-compressed; other bits must be zero) |
//! | 2 | HTTP status |
//! | 8 | stored at, milliseconds since the Unix epoch |
//! | 8 | time to live, milliseconds |
//! | 8 | stale-while-revalidate window, milliseconds |
//! | 8 | stale-if-error window, milliseconds |
//! | 16 | ETag: the first 16 bytes of the blake3 hash of the uncompressed body |
//! | 1 + 8n | namespace generations the entry was computed under |
//! | 2 + … | headers: count, then for each a `u16` name length, name, `u32` value length, value |
//! | 8 | uncompressed body length |
//! | 8 + … | stored body length, then the body |
//!
//! Anything that does not parse exactly (wrong magic, unknown version or flag, truncated data,
//! invalid header names or values, trailing bytes) is a [`DecodeError`], never a panic. The
//! cache treats such a value as a miss and deletes it.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

const MAGIC: &[u8; 3] = b"IMC";
/// The envelope version this crate writes.
pub const VERSION: u8 = 1;
const FLAG_COMPRESSED: u8 = 1;
/// Largest uncompressed body length a decoder accepts (1 GiB), so a corrupted length cannot
/// make the cache allocate without bound when it decompresses.
pub const MAX_PLAIN_LEN: u64 = 1 << 30;
const MAX_GENERATIONS: usize = 64;

/// A cached response as stored: status, headers, body and the timing that governs reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The response status.
    pub status: StatusCode,
    /// The stored response headers (hop-by-hop headers and `Content-Length` are not stored).
    pub headers: HeaderMap,
    /// The body as stored: zstd frames when `compressed`, else the plain bytes.
    pub body: Bytes,
    /// Whether `body` is zstd-compressed.
    pub compressed: bool,
    /// The length of the uncompressed body.
    pub plain_len: u64,
    /// When the entry was stored, in milliseconds since the Unix epoch.
    pub stored_at_ms: u64,
    /// How long the entry is fresh, in milliseconds.
    pub ttl_ms: u64,
    /// How long after expiry a stale entry may be served while it is refreshed, in milliseconds.
    pub stale_while_revalidate_ms: u64,
    /// How long after expiry a stale entry may be served when the service fails, in
    /// milliseconds.
    pub stale_if_error_ms: u64,
    /// The first 16 bytes of the blake3 hash of the uncompressed body.
    pub etag: [u8; 16],
    /// The generations of the key's namespaces when the response was computed.
    pub generations: Vec<u64>,
}

/// Why bytes under a cache key are not a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The value ends before the envelope does.
    #[error("envelope truncated")]
    Truncated,
    /// The value does not start with the envelope's magic bytes.
    #[error("not an inframind-cache envelope")]
    BadMagic,
    /// The envelope was written by a version this crate does not read.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// Unknown flag bits are set.
    #[error("unknown envelope flags {0:#04x}")]
    UnknownFlags(u8),
    /// The status code is outside 100..=999.
    #[error("invalid status code {0}")]
    InvalidStatus(u16),
    /// A header name or value is not valid HTTP.
    #[error("invalid stored header")]
    InvalidHeader,
    /// Too many generations, or lengths that contradict each other.
    #[error("inconsistent envelope lengths")]
    BadLength,
    /// Bytes follow the end of the envelope.
    #[error("trailing bytes after the envelope")]
    TrailingBytes,
}

impl Envelope {
    /// The number of bytes [`encode`](Self::encode) produces.
    pub fn encoded_len(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| 2 + name.as_str().len() + 4 + value.len())
            .sum();
        4 + 1
            + 2
            + 8 * 4
            + 16
            + 1
            + 8 * self.generations.len()
            + 2
            + headers
            + 8
            + 8
            + self.body.len()
    }

    /// Serialises the envelope.
    ///
    /// At most 64 generations and 65 535 headers are written; the cache never builds more.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        out.put_u8(if self.compressed { FLAG_COMPRESSED } else { 0 });
        out.put_u16(self.status.as_u16());
        out.put_u64(self.stored_at_ms);
        out.put_u64(self.ttl_ms);
        out.put_u64(self.stale_while_revalidate_ms);
        out.put_u64(self.stale_if_error_ms);
        out.put_slice(&self.etag);
        let generations = &self.generations[..self.generations.len().min(MAX_GENERATIONS)];
        out.put_u8(generations.len() as u8);
        for generation in generations {
            out.put_u64(*generation);
        }
        let count = self.headers.len().min(usize::from(u16::MAX));
        out.put_u16(count as u16);
        for (name, value) in self.headers.iter().take(count) {
            out.put_u16(name.as_str().len() as u16);
            out.put_slice(name.as_str().as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value.as_bytes());
        }
        out.put_u64(self.plain_len);
        out.put_u64(self.body.len() as u64);
        out.put_slice(&self.body);
        out.freeze()
    }

    /// Parses an envelope. Header values and the body share `bytes`' buffer (no copy).
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for anything that is not exactly one valid envelope.
    pub fn decode(bytes: &Bytes) -> Result<Self, DecodeError> {
        // Without expected generations, a decoded envelope is always `Some`.
        Self::decode_inner(bytes, None).and_then(|decoded| decoded.ok_or(DecodeError::BadLength))
    }

    /// Decodes an envelope computed under `expected` generations: `Ok(None)` when it was
    /// computed under others (an invalidated entry). The returned envelope's `generations` are
    /// left empty, which spares an allocation on the hit path.
    pub(crate) fn decode_expecting(
        bytes: &Bytes,
        expected: &[u64],
    ) -> Result<Option<Self>, DecodeError> {
        Self::decode_inner(bytes, Some(expected))
    }

    fn decode_inner(bytes: &Bytes, expected: Option<&[u64]>) -> Result<Option<Self>, DecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(3)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let flags = r.u8()?;
        if flags & !FLAG_COMPRESSED != 0 {
            return Err(DecodeError::UnknownFlags(flags));
        }
        let raw_status = r.u16()?;
        let status =
            StatusCode::from_u16(raw_status).map_err(|_| DecodeError::InvalidStatus(raw_status))?;
        let stored_at_ms = r.u64()?;
        let ttl_ms = r.u64()?;
        let stale_while_revalidate_ms = r.u64()?;
        let stale_if_error_ms = r.u64()?;
        let mut etag = [0; 16];
        etag.copy_from_slice(r.take(16)?);
        let generation_count = usize::from(r.u8()?);
        if generation_count > MAX_GENERATIONS {
            return Err(DecodeError::BadLength);
        }
        let mut generations = Vec::new();
        match expected {
            None => {
                generations.reserve_exact(generation_count);
                for _ in 0..generation_count {
                    generations.push(r.u64()?);
                }
            }
            Some(expected) => {
                if expected.len() != generation_count {
                    return Ok(None);
                }
                for want in expected {
                    if r.u64()? != *want {
                        return Ok(None);
                    }
                }
            }
        }
        let header_count = usize::from(r.u16()?);
        // Room for the headers the cache adds when it serves the entry (Age, X-Cache,
        // Cache-Status and one more), so they do not regrow the map. (A map of up to six
        // entries keeps its allocation under a kilobyte, which malloc serves fastest.)
        let mut headers = HeaderMap::with_capacity(header_count.min(64) + 4);
        for _ in 0..header_count {
            let name_len = usize::from(r.u16()?);
            let name = HeaderName::from_bytes(r.take(name_len)?)
                .map_err(|_| DecodeError::InvalidHeader)?;
            let value_len = r.u32()? as usize;
            let value = r.slice(value_len)?;
            let value =
                HeaderValue::from_maybe_shared(value).map_err(|_| DecodeError::InvalidHeader)?;
            headers.append(name, value);
        }
        let plain_len = r.u64()?;
        let body_len = r.u64()?;
        let body_len = usize::try_from(body_len).map_err(|_| DecodeError::Truncated)?;
        let body = r.slice(body_len)?;
        if r.pos != bytes.len() {
            return Err(DecodeError::TrailingBytes);
        }
        let compressed = flags & FLAG_COMPRESSED != 0;
        if plain_len > MAX_PLAIN_LEN || (!compressed && plain_len != body.len() as u64) {
            return Err(DecodeError::BadLength);
        }
        Ok(Some(Self {
            status,
            headers,
            body,
            compressed,
            plain_len,
            stored_at_ms,
            ttl_ms,
            stale_while_revalidate_ms,
            stale_if_error_ms,
            etag,
            generations,
        }))
    }

    /// The uncompressed body: the stored bytes, or their decompression.
    ///
    /// # Errors
    ///
    /// When the stored zstd data is corrupt or does not decompress to `plain_len` bytes.
    pub fn plain_body(&self) -> Result<Bytes, DecodeError> {
        if !self.compressed {
            return Ok(self.body.clone());
        }
        let plain = decompress(&self.body, self.plain_len as usize)?;
        if plain.len() as u64 != self.plain_len {
            return Err(DecodeError::BadLength);
        }
        Ok(Bytes::from(plain))
    }
}

thread_local! {
    // zstd contexts are costly to set up (a compression context at level 3 allocates about a
    // megabyte); each thread keeps one of each.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

fn decompress(data: &[u8], len: usize) -> Result<Vec<u8>, DecodeError> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Decompressor::new().ok();
        }
        match slot.as_mut() {
            Some(decompressor) => decompressor.decompress(data, len),
            None => zstd::bulk::decompress(data, len),
        }
        .map_err(|_| DecodeError::BadLength)
    })
}

/// zstd-compresses `data` at `level` with this thread's reusable context.
pub(crate) fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = zstd::bulk::Compressor::new(level).ok().map(|mut c| {
                // Frames carry their content checksum (XXH64), which zstd checks as it
                // decompresses: a compressed body read back from a store needs no blake3.
                let _ = c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true));
                (level, c)
            });
        }
        match slot.as_mut() {
            Some((_, compressor)) => compressor.compress(data),
            None => zstd::bulk::compress(data, level),
        }
    })
}

/// Whether a zstd body is one frame that carries its content checksum (bit 2 of the frame
/// header descriptor), so that decompressing it checks its content.
pub(crate) fn zstd_checksummed(body: &[u8]) -> bool {
    body.len() > 4 && body[..4] == [0x28, 0xb5, 0x2f, 0xfd] && body[4] & 0b100 != 0
}

/// The ETag bytes for a body ([`Envelope::etag`]): the first 16 bytes of its blake3 hash. A
/// value read from a store whose body does not hash to its ETag is corrupt.
pub fn etag_of(body: &[u8]) -> [u8; 16] {
    let hash = blake3::hash(body);
    let mut etag = [0; 16];
    etag.copy_from_slice(&hash.as_bytes()[..16]);
    etag
}

struct Reader<'a> {
    bytes: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn slice(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(n)?;
        Ok(self.bytes.slice(start..self.pos))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let mut b = [0; 2];
        b.copy_from_slice(self.take(2)?);
        Ok(u16::from_be_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut b = [0; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header_name() -> impl Strategy<Value = HeaderName> {
        "[a-z][a-z0-9-]{0,20}".prop_map(|s| HeaderName::from_bytes(s.as_bytes()).unwrap())
    }

    fn header_value() -> impl Strategy<Value = HeaderValue> {
        proptest::collection::vec(0x20u8..0x7f, 0..40)
            .prop_map(|v| HeaderValue::from_bytes(&v).unwrap())
    }

    prop_compose! {
        fn envelope()(
            status in 100u16..=999,
            headers in proptest::collection::vec((header_name(), header_value()), 0..8),
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            compress in any::<bool>(),
            stored_at_ms in any::<u64>(),
            ttl_ms in any::<u64>(),
            swr in any::<u64>(),
            sie in any::<u64>(),
            generations in proptest::collection::vec(any::<u64>(), 0..6),
        ) -> Envelope {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.append(name, value);
            }
            let plain_len = body.len() as u64;
            let etag = etag_of(&body);
            let (body, compressed) = if compress {
                (Bytes::from(zstd::bulk::compress(&body, 1).unwrap()), true)
            } else {
                (Bytes::from(body), false)
            };
            Envelope {
                status: StatusCode::from_u16(status).unwrap(),
                headers: map,
                body,
                compressed,
                plain_len,
                stored_at_ms,
                ttl_ms,
                stale_while_revalidate_ms: swr,
                stale_if_error_ms: sie,
                etag,
                generations,
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips(envelope in envelope()) {
            let bytes = envelope.encode();
            prop_assert_eq!(bytes.len(), envelope.encoded_len());
            let decoded = Envelope::decode(&bytes).unwrap();
            prop_assert_eq!(&decoded, &envelope);
            let plain = decoded.plain_body().unwrap();
            prop_assert_eq!(etag_of(&plain), envelope.etag);
        }

        #[test]
        fn every_truncation_is_an_error(envelope in envelope(), cut in any::<prop::sample::Index>()) {
            let bytes = envelope.encode();
            let cut = cut.index(bytes.len());
            prop_assert!(Envelope::decode(&bytes.slice(..cut)).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let bytes = Bytes::from(bytes);
            if let Ok(envelope) = Envelope::decode(&bytes) {
                let _ = envelope.plain_body();
            }
        }

        #[test]
        fn flipped_bytes_never_panic(envelope in envelope(), at in any::<prop::sample::Index>(), xor in 1u8..) {
            let mut bytes = envelope.encode().to_vec();
            let at = at.index(bytes.len());
            bytes[at] ^= xor;
            if let Ok(envelope) = Envelope::decode(&Bytes::from(bytes)) {
                let _ = envelope.plain_body();
            }
        }
    }

    #[test]
    fn compressed_bodies_carry_a_checksum_zstd_verifies() {
        let plain = br#"{"items":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}"#.repeat(20);
        let mut packed = compress(&plain, 3).unwrap();
        assert!(zstd_checksummed(&packed));
        assert_eq!(decompress(&packed, plain.len()).unwrap(), plain);
        let last = packed.len() - 1;
        packed[last] ^= 1; // the checksum itself
        assert!(decompress(&packed, plain.len()).is_err());
        assert!(!zstd_checksummed(&zstd::bulk::compress(&plain, 3).unwrap()));
    }

    #[test]
    fn rejects_foreign_bytes_and_trailing_data() {
        assert_eq!(
            Envelope::decode(&Bytes::from_static(b"{\"json\": true}")),
            Err(DecodeError::BadMagic)
        );
        assert_eq!(
            Envelope::decode(&Bytes::from_static(b"IMC\x09")),
            Err(DecodeError::UnsupportedVersion(9))
        );
        let envelope = Envelope {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"hi"),
            compressed: false,
            plain_len: 2,
            stored_at_ms: 1,
            ttl_ms: 2,
            stale_while_revalidate_ms: 0,
            stale_if_error_ms: 0,
            etag: etag_of(b"hi"),
            generations: vec![3],
        };
        let mut bytes = envelope.encode().to_vec();
        bytes.push(0);
        assert_eq!(
            Envelope::decode(&Bytes::from(bytes)),
            Err(DecodeError::TrailingBytes)
        );
    }
}
