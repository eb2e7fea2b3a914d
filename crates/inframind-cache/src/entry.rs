//! [`Cached`]: a decoded entry, as the stages of the request path pass it around.

use bytes::Bytes;

use crate::envelope::Envelope;

/// A decoded entry, with its uncompressed body when the client needs it.
#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) envelope: Envelope,
    /// Always present unless the body is compressed and the client takes zstd.
    pub(crate) plain: Option<Bytes>,
}
