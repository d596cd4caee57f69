//! Request-response framing: one message per stream, encoded with
//! `peerfx_core::codec`, and never more than a fixed number of bytes read.
//!
//! A request-response stream carries exactly one request and one response and is
//! then closed, so no length prefix is needed: the reader takes at most
//! `LIMIT + 1` bytes and refuses the message if it got more than `LIMIT`.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use peerfx_core::codec;
use serde::{de::DeserializeOwned, Serialize};

/// A request-response codec for `Req`/`Resp`, with byte limits per direction.
pub struct Codec<Req, Resp, const REQ_LIMIT: usize, const RESP_LIMIT: usize> {
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp, const A: usize, const B: usize> Default for Codec<Req, Resp, A, B> {
    fn default() -> Self {
        Codec {
            _types: PhantomData,
        }
    }
}

impl<Req, Resp, const A: usize, const B: usize> Clone for Codec<Req, Resp, A, B> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

async fn read_limited<T, M, const LIMIT: usize>(io: &mut T) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: Serialize + DeserializeOwned,
{
    let mut buf = Vec::new();
    io.take(LIMIT as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message over the {LIMIT}-byte limit"),
        ));
    }
    codec::decode_with_limit::<M, LIMIT>(&buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

async fn write_all<T>(io: &mut T, bytes: Vec<u8>) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    io.write_all(&bytes).await?;
    io.close().await
}

impl<Req, Resp, const REQ_LIMIT: usize, const RESP_LIMIT: usize> libp2p::request_response::Codec
    for Codec<Req, Resp, REQ_LIMIT, RESP_LIMIT>
where
    Req: Serialize + DeserializeOwned + Send + 'static,
    Resp: Serialize + DeserializeOwned + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited::<T, Req, REQ_LIMIT>(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited::<T, Resp, RESP_LIMIT>(io).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_all(io, codec::encode(&req)).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_all(io, codec::encode(&res)).await
    }
}
