//! Framing of every zkinfer message: a bounded, length-prefixed JSON header plus raw body bytes.
//!
//! | bytes | content |
//! |---|---|
//! | 4 | `n`, big-endian: length of everything after it (at most the codec's limit) |
//! | 4 | `h`, big-endian: length of the JSON header |
//! | `h` | the header, JSON |
//! | `n − 4 − h` | the body (a result, a blob), raw |
//!
//! A frame over the limit is refused from its length prefix, before anything is allocated for it;
//! a malformed one is an `InvalidData` error on that stream only.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use libp2p::StreamProtocol;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A message that travels as a JSON header plus a raw body.
pub trait Wire: Sized + Send + 'static {
    /// The JSON part.
    type Header: Serialize + DeserializeOwned;
    /// Splits the message into its header and body.
    fn into_parts(self) -> (Self::Header, Vec<u8>);
    /// Rebuilds the message; `Err` names what is inconsistent.
    fn from_parts(header: Self::Header, body: Vec<u8>) -> Result<Self, String>;
}

/// Encodes a message into one frame, refusing one over `limit` bytes.
pub fn encode<M: Wire>(message: M, limit: usize) -> io::Result<Vec<u8>> {
    let (header, body) = message.into_parts();
    let header = serde_json::to_vec(&header).map_err(|e| invalid(format!("header encoding: {e}")))?;
    let total = 4 + header.len() + body.len();
    let limit = limit.min(u32::MAX as usize);
    if total > limit {
        return Err(invalid(format!("message of {total} bytes exceeds the {limit}-byte limit")));
    }
    let mut frame = Vec::with_capacity(4 + total);
    // Both fit in u32: `header.len() < total <= limit <= u32::MAX`.
    frame.extend_from_slice(&(total as u32).to_be_bytes());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Decodes the bytes after the length prefix.
pub fn decode<M: Wire>(content: Vec<u8>) -> io::Result<M> {
    if content.len() < 4 {
        return Err(invalid(format!("frame of {} bytes has no header length", content.len())));
    }
    let header_len = u32::from_be_bytes([content[0], content[1], content[2], content[3]]) as usize;
    let Some(header_end) = 4usize.checked_add(header_len).filter(|end| *end <= content.len()) else {
        return Err(invalid(format!("header length {header_len} exceeds the {}-byte frame", content.len())));
    };
    let header: M::Header =
        serde_json::from_slice(&content[4..header_end]).map_err(|e| invalid(format!("bad header: {e}")))?;
    let body = content[header_end..].to_vec();
    M::from_parts(header, body).map_err(invalid)
}

/// Reads one frame of at most `limit` bytes.
pub async fn read_frame<M: Wire, T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<M> {
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len > limit {
        return Err(invalid(format!("message of {len} bytes exceeds the {limit}-byte limit")));
    }
    let mut content = Vec::with_capacity(len.min(1 << 16));
    io.take(len as u64).read_to_end(&mut content).await?;
    if content.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("message ended after {} of {len} bytes", content.len()),
        ));
    }
    decode(content)
}

/// Writes one frame of at most `limit` bytes.
pub async fn write_frame<M: Wire, T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    message: M,
    limit: usize,
) -> io::Result<()> {
    let frame = encode(message, limit)?;
    io.write_all(&frame).await?;
    io.flush().await
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A request-response codec for one request and one response type, with size limits.
pub struct FrameCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> FrameCodec<Req, Resp> {
    /// A codec refusing requests over `max_request` and responses over `max_response` bytes.
    pub fn new(max_request: usize, max_response: usize) -> Self {
        Self { max_request, max_response, _types: PhantomData }
    }
}

impl<Req, Resp> Clone for FrameCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.max_request, self.max_response)
    }
}

impl<Req: Wire, Resp: Wire> request_response::Codec for FrameCodec<Req, Resp> {
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, req, self.max_request).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: Resp) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, res, self.max_response).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Note {
        title: String,
        body: Vec<u8>,
    }

    impl Wire for Note {
        type Header = String;
        fn into_parts(self) -> (String, Vec<u8>) {
            (self.title, self.body)
        }
        fn from_parts(title: String, body: Vec<u8>) -> Result<Self, String> {
            Ok(Self { title, body })
        }
    }

    fn note() -> Note {
        Note { title: "t".into(), body: vec![1, 2, 3] }
    }

    fn read(bytes: &[u8], limit: usize) -> io::Result<Note> {
        futures::executor::block_on(read_frame(&mut futures::io::Cursor::new(bytes.to_vec()), limit))
    }

    #[test]
    fn round_trips() {
        let frame = encode(note(), 100).unwrap();
        assert_eq!(read(&frame, 100).unwrap(), note());
    }

    #[test]
    fn refuses_oversized_frames_on_both_sides() {
        let frame = encode(note(), 100).unwrap();
        let err = read(&frame, 8).unwrap_err();
        assert!(err.to_string().contains("exceeds the 8-byte limit"), "{err}");
        assert!(encode(note(), 8).is_err());
        // A huge claimed length is refused before any allocation.
        let err = read(&[0xff, 0xff, 0xff, 0xff], 1 << 20).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn refuses_garbage() {
        // Truncated body.
        let frame = encode(note(), 100).unwrap();
        assert_eq!(read(&frame[..frame.len() - 1], 100).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        // Header length past the frame.
        let bad = [0, 0, 0, 4, 0, 0, 0, 9];
        assert!(read(&bad, 100).unwrap_err().to_string().contains("header length 9"));
        // Header that is not JSON.
        let bad = [0, 0, 0, 6, 0, 0, 0, 2, b'{', b'x'];
        assert!(read(&bad, 100).unwrap_err().to_string().contains("bad header"));
        // Frame shorter than the header length field.
        let bad = [0, 0, 0, 2, 0, 0];
        assert!(read(&bad, 100).unwrap_err().to_string().contains("no header length"));
    }
}
