//! The socket under an SMTP session, watched: whether a write failed, and whether the client
//! has begun waiting for a reply. lettre writes the whole message and its final dot before it
//! reads the answer, so "reading began and no write failed" is exactly "the final dot was
//! fully written": only then may a lost connection have delivered the message.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What happened on the socket since the last [`Probe::mark`].
#[derive(Debug, Default)]
pub struct Probe {
    write_failed: AtomicBool,
    reading: AtomicBool,
}

impl Probe {
    /// Starts watching a new exchange (the message after DATA).
    pub fn mark(&self) {
        self.write_failed.store(false, Ordering::SeqCst);
        self.reading.store(false, Ordering::SeqCst);
    }

    /// Every byte handed to the socket since the mark was accepted, and the client went on
    /// to read the reply: the final dot has left.
    pub fn is_fully_written(&self) -> bool {
        self.reading.load(Ordering::SeqCst) && !self.write_failed.load(Ordering::SeqCst)
    }
}

/// A stream that reports reads and failed writes to its [`Probe`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    probe: Arc<Probe>,
    peer: io::Result<SocketAddr>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, probe: Arc<Probe>, peer: io::Result<SocketAddr>) -> Self {
        Self { inner, probe, peer }
    }

    fn note<T>(&self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(_)) = &result {
            self.probe.write_failed.store(true, Ordering::SeqCst);
        }
        result
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.probe.reading.store(true, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.note(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.note(result)
    }
}

impl<S> AsyncTokioStream for Watched<S>
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin + std::fmt::Debug,
{
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.peer {
            Ok(addr) => Ok(*addr),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_to_a_closed_peer_is_not_fully_written() {
        let (client, server) = tokio::io::duplex(16);
        let probe = Arc::new(Probe::default());
        let mut watched = Watched::new(client, probe.clone(), Ok(([127, 0, 0, 1], 25).into()));
        probe.mark();
        drop(server);
        assert!(watched.write_all(b"Subject: x\r\n").await.is_err());
        let mut reply = [0u8; 4];
        let _ = watched.read(&mut reply).await;
        assert!(!probe.is_fully_written());
    }

    #[tokio::test]
    async fn written_then_read_is_fully_written() {
        let (client, mut server) = tokio::io::duplex(64);
        let probe = Arc::new(Probe::default());
        let mut watched = Watched::new(client, probe.clone(), Ok(([127, 0, 0, 1], 25).into()));
        probe.mark();
        watched.write_all(b"x\r\n.\r\n").await.unwrap();
        assert!(!probe.is_fully_written(), "no reply awaited yet");
        server.write_all(b"250 ok\r\n").await.unwrap();
        let mut reply = [0u8; 8];
        watched.read_exact(&mut reply).await.unwrap();
        assert!(probe.is_fully_written());
    }
}
