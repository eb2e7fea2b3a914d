//! Header names and values the cache sets, and the small renderers behind them: a leaf that
//! every stage of the request path (and the in-process store's prepared heads) imports.

use http::StatusCode;
use http::header::{HeaderName, HeaderValue};

/// `X-Cache: HIT | MISS | STALE | BYPASS`.
pub(crate) const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
/// RFC 9211 `Cache-Status`.
pub(crate) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
pub(crate) const HIT: HeaderValue = HeaderValue::from_static("HIT");
pub(crate) const MISS: HeaderValue = HeaderValue::from_static("MISS");
pub(crate) const STALE: HeaderValue = HeaderValue::from_static("STALE");
pub(crate) const BYPASS: HeaderValue = HeaderValue::from_static("BYPASS");
pub(crate) const ZSTD: HeaderValue = HeaderValue::from_static("zstd");
pub(crate) const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("accept-encoding");

/// Why a request went forward to the inner service: RFC 9211's `fwd` values, plus what the
/// `detail` parameter adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fwd {
    /// No entry under the key.
    UriMiss,
    /// An entry that cannot be used: invalidated, or corrupt (and deleted).
    Miss,
    /// An entry past its freshness.
    Stale,
    /// The store could not be asked.
    StoreError,
    /// The request's own `no-cache` / `max-age=0` asked for a response from the origin (when
    /// the layer honours it).
    Request,
}

impl Fwd {
    fn as_str(self) -> &'static str {
        match self {
            Self::UriMiss => "uri-miss",
            Self::Miss | Self::StoreError => "miss",
            Self::Stale => "stale",
            Self::Request => "request",
        }
    }
}

/// What a forwarded response's `Cache-Status` says about storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storing {
    /// Stored.
    Stored,
    /// Not stored (its status or directives forbid it, or the store failed).
    No,
    /// Not stored: larger than the store keeps.
    TooLarge,
}

/// `{name}; fwd={fwd}; fwd-status={status}[; stored][; collapsed][; detail=...]`.
pub(crate) fn forward_status(
    name: &str,
    fwd: Fwd,
    status: StatusCode,
    storing: Storing,
    collapsed: bool,
) -> HeaderValue {
    let mut out = ValueBuf::new();
    out.push(name.as_bytes());
    out.push(b"; fwd=");
    out.push(fwd.as_str().as_bytes());
    out.push(b"; fwd-status=");
    out.push_decimal(u64::from(status.as_u16()));
    if storing == Storing::Stored {
        out.push(b"; stored");
    }
    if collapsed {
        out.push(b"; collapsed");
    }
    match (fwd, storing) {
        (Fwd::StoreError, _) => out.push(b"; detail=store-error"),
        (_, Storing::TooLarge) => out.push(b"; detail=too-large"),
        _ => {}
    }
    out.value()
}

/// `{name}; hit; ttl={ttl}` for a fresh entry; for a stale one, RFC 9211's negative
/// `ttl=-N` (never `-0`: a just-expired entry says `ttl=0`) and a `detail`.
pub(crate) fn hit_status(name: &str, ttl: u64, stale: Option<&str>) -> HeaderValue {
    let mut out = ValueBuf::new();
    out.push(name.as_bytes());
    out.push(b"; hit; ttl=");
    if stale.is_some() && ttl > 0 {
        out.push(b"-");
    }
    out.push_decimal(ttl);
    if let Some(detail) = stale {
        out.push(b"; detail=");
        out.push(detail.as_bytes());
    }
    out.value()
}

/// A small header value assembled on the stack: one allocation, for the value itself.
struct ValueBuf {
    buf: [u8; 128],
    len: usize,
}

impl ValueBuf {
    fn new() -> Self {
        Self {
            buf: [0; 128],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&bytes[..end - self.len]);
        self.len = end;
    }

    fn push_decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.buf[..self.len])
            .unwrap_or(HeaderValue::from_static("inframind"))
    }
}

pub(crate) fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// How many numbers [`DECIMALS`] spells out.
const DECIMAL_COUNT: usize = 4096;

/// The decimal text of 0..[`DECIMAL_COUNT`], back to back, and where each one ends.
struct Decimals {
    text: [u8; decimal_text_len(DECIMAL_COUNT)],
    ends: [u16; DECIMAL_COUNT],
}

const fn decimal_text_len(count: usize) -> usize {
    let (mut len, mut n) = (0, 0);
    while n < count {
        len += if n < 10 {
            1
        } else if n < 100 {
            2
        } else if n < 1000 {
            3
        } else {
            4
        };
        n += 1;
    }
    len
}

/// Built at compile time: a header value for a small number borrows it, with no allocation
/// and no reference count to touch.
static DECIMALS: Decimals = {
    let mut table = Decimals {
        text: [0; decimal_text_len(DECIMAL_COUNT)],
        ends: [0; DECIMAL_COUNT],
    };
    let (mut n, mut end) = (0, 0);
    while n < DECIMAL_COUNT {
        let mut digits = [0u8; 4];
        let (mut len, mut rest) = (0, n);
        loop {
            digits[len] = b'0' + (rest % 10) as u8;
            len += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        while len > 0 {
            len -= 1;
            table.text[end] = digits[len];
            end += 1;
        }
        table.ends[n] = end as u16;
        n += 1;
    }
    table
};

/// A header value for a number: borrowed from [`DECIMALS`] when small, so serving it allocates
/// nothing and shares nothing.
pub(crate) fn small_number(n: u64) -> HeaderValue {
    let Some(i) = usize::try_from(n).ok().filter(|&i| i < DECIMAL_COUNT) else {
        return HeaderValue::from(n);
    };
    let start = match i {
        0 => 0,
        _ => usize::from(DECIMALS.ends[i - 1]),
    };
    let text: &'static [u8] = &DECIMALS.text[start..usize::from(DECIMALS.ends[i])];
    match std::str::from_utf8(text) {
        Ok(text) => HeaderValue::from_static(text),
        Err(_) => HeaderValue::from(n),
    }
}

pub(crate) fn etag_header(etag: &[u8; 16], zstd: bool) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = ValueBuf::new();
    out.push(b"\"");
    for byte in etag {
        out.push(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
    }
    if zstd {
        out.push(b"-zstd");
    }
    out.push(b"\"");
    out.value()
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the form
/// RFC 9110 requires senders to use); `None` for anything else, which the cache then ignores.
pub(crate) fn http_date(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?;
    let rest = s.get(5..)?; // "Sun, "
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: u64 = clock.next()?.parse().ok()?;
    let minute: u64 = clock.next()?.parse().ok()?;
    let second: u64 = clock.next()?.parse().ok()?;
    if parts.next()? != "GMT"
        || year < 1970
        || day == 0
        || day > 31
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for years from 1970.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_numbers_spell_themselves() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1000,
            4095,
            4096,
            123_456,
            u64::MAX,
        ] {
            assert_eq!(small_number(n), HeaderValue::from(n), "{n}");
        }
    }

    #[test]
    fn imf_fixdates_parse() {
        assert_eq!(http_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            http_date(b"Tue, 01 Dec 2026 10:00:00 GMT"),
            Some(1_796_119_200)
        );
        assert_eq!(http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(http_date(b"garbage"), None);
    }

    #[test]
    fn stale_status_never_says_minus_zero() {
        assert_eq!(hit_status("c", 0, Some("x")), "c; hit; ttl=0; detail=x");
        assert_eq!(hit_status("c", 3, Some("x")), "c; hit; ttl=-3; detail=x");
        assert_eq!(
            forward_status("c", Fwd::StoreError, StatusCode::OK, Storing::No, false),
            "c; fwd=miss; fwd-status=200; detail=store-error"
        );
    }
}
