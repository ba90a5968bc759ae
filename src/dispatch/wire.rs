//! The socket under an SMTP session, watched and coalesced. Writes are held in a buffer and
//! handed to the socket in one go when the client turns to read the reply (or shuts down):
//! SMTP always reads a reply after writing, so a command, or a message and its final dot, leave
//! in one write instead of a large one followed by a 5-byte one that waits for the server's
//! delayed ACK. The probe sees whether that hand-over failed and whether it completed: the
//! client reads only once every byte is with the kernel, so "reading began and no write
//! failed" is exactly "the final dot was fully written", and only then may a lost connection
//! have delivered the message.
//!
//! The message data itself does not go through lettre's transparency encoder, which copies the
//! message byte by byte (a tenth of the sender's time on a 48 KB message): the session stages
//! it, already dot-stuffed by [`dot_stuff`], on the probe, asks lettre for an empty message,
//! and the stream puts the staged bytes before the final dot lettre then writes. Only where
//! this stream is above any encryption (plain SMTP, implicit TLS): after STARTTLS it is below
//! lettre's TLS layer, and staged bytes would leave unencrypted inside the TLS session.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Past this many held bytes, a write hands them to the socket before taking more: a large
/// message goes out in chunks of this size, its last chunk and the final dot together.
const COALESCE_LIMIT: usize = 256 * 1024;

/// What happened on the socket since the last [`Probe::mark`].
#[derive(Debug, Default)]
pub struct Probe {
    write_failed: AtomicBool,
    reading: AtomicBool,
    /// Message data to go out before the next bytes written (see [`Probe::stage`]).
    staged: Mutex<Vec<u8>>,
}

impl Probe {
    /// Starts watching a new exchange (the message after DATA).
    pub fn mark(&self) {
        self.write_failed.store(false, Ordering::SeqCst);
        self.reading.store(false, Ordering::SeqCst);
    }

    /// Holds message data, dot-stuffed, to be written before whatever is written next: the
    /// final dot of an empty message that lettre writes after a DATA accepted.
    pub fn stage(&self, data: Vec<u8>) {
        *self.staged.lock().unwrap_or_else(|e| e.into_inner()) = data;
    }

    fn take_staged(&self) -> Vec<u8> {
        std::mem::take(&mut *self.staged.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Every byte written since the mark was handed to the socket, and the client went on to
    /// read the reply: the final dot has left.
    pub fn is_fully_written(&self) -> bool {
        self.reading.load(Ordering::SeqCst) && !self.write_failed.load(Ordering::SeqCst)
    }
}

/// A stream that holds writes until the next read or shutdown, and reports reads and failed
/// writes to its [`Probe`]. `poll_flush` hands nothing over by itself: the read that follows
/// every SMTP write does.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    probe: Arc<Probe>,
    peer: io::Result<SocketAddr>,
    /// Bytes written and not yet handed to the socket, from `held_from` on.
    held: Vec<u8>,
    held_from: usize,
}

impl<S> Watched<S> {
    pub fn new(inner: S, probe: Arc<Probe>, peer: io::Result<SocketAddr>) -> Self {
        Self {
            inner,
            probe,
            peer,
            held: Vec::new(),
            held_from: 0,
        }
    }

    fn note<T>(&self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(_)) = &result {
            self.probe.write_failed.store(true, Ordering::SeqCst);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> Watched<S> {
    /// Hands every held byte to the socket, then flushes it (a TLS layer below sends its
    /// records then). A failure is a failed write for the probe.
    fn poll_hand_over(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.held_from < self.held.len() {
            let written = Pin::new(&mut self.inner).poll_write(cx, &self.held[self.held_from..]);
            match ready!(self.note(written)) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "socket closed for writing");
                    return self.note(Poll::Ready(Err(e)));
                }
                Ok(n) => self.held_from += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.held.clear();
        self.held_from = 0;
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        self.note(flushed)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_hand_over(cx))?;
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
        let staged = self.probe.take_staged();
        if !staged.is_empty() {
            if self.held.is_empty() {
                self.held = staged;
            } else {
                self.held.extend_from_slice(&staged);
            }
        }
        if self.held.len() >= COALESCE_LIMIT {
            ready!(self.poll_hand_over(cx))?;
        }
        let room = COALESCE_LIMIT - self.held.len();
        let taken = buf.len().min(room);
        self.held.extend_from_slice(&buf[..taken]);
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_hand_over(cx))?;
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.note(result)
    }
}

/// SMTP transparency (RFC 5321, 4.5.2): a dot at the start of a line is doubled, so that no
/// line of the message reads as the final dot. Lines end with CRLF; the data is copied once,
/// with room for the final dot.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 512 + 8);
    let mut from = 0;
    if message.first() == Some(&b'.') {
        out.push(b'.');
    }
    for at in memchr::memmem::find_iter(message, b"\r\n.") {
        out.extend_from_slice(&message[from..at + 3]);
        out.push(b'.');
        from = at + 3;
    }
    out.extend_from_slice(&message[from..]);
    out
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

    fn watched<S>(inner: S) -> (Watched<S>, Arc<Probe>) {
        let probe = Arc::new(Probe::default());
        let peer = Ok(([127, 0, 0, 1], 25).into());
        (Watched::new(inner, probe.clone(), peer), probe)
    }

    /// A server that records the size of every write it is handed and always has a reply.
    #[derive(Debug, Default)]
    struct Recorder {
        writes: Vec<usize>,
    }

    impl AsyncRead for Recorder {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            buf.put_slice(b"250 ok\r\n");
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(buf.len());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_write_to_a_closed_peer_is_not_fully_written() {
        let (client, server) = tokio::io::duplex(16);
        let (mut watched, probe) = watched(client);
        probe.mark();
        drop(server);
        // Held until the reply is awaited: the failure shows when the bytes are handed over.
        watched.write_all(b"Subject: x\r\n").await.unwrap();
        watched.flush().await.unwrap();
        let mut reply = [0u8; 4];
        assert!(watched.read(&mut reply).await.is_err());
        assert!(!probe.is_fully_written());
    }

    #[tokio::test]
    async fn written_then_read_is_fully_written() {
        let (client, mut server) = tokio::io::duplex(64);
        let (mut watched, probe) = watched(client);
        probe.mark();
        watched.write_all(b"x\r\n.\r\n").await.unwrap();
        assert!(!probe.is_fully_written(), "no reply awaited yet");
        server.write_all(b"250 ok\r\n").await.unwrap();
        let mut reply = [0u8; 8];
        watched.read_exact(&mut reply).await.unwrap();
        assert!(probe.is_fully_written());
        let mut received = [0u8; 6];
        server.read_exact(&mut received).await.unwrap();
        assert_eq!(&received, b"x\r\n.\r\n");
    }

    #[tokio::test]
    async fn a_message_and_its_final_dot_leave_in_one_write() {
        let (mut watched, probe) = watched(Recorder::default());
        probe.mark();
        let message = vec![b'a'; 50_000];
        // As lettre does it: the message, a flush, the dot, a flush, then the reply.
        watched.write_all(&message).await.unwrap();
        watched.flush().await.unwrap();
        watched.write_all(b"\r\n.\r\n").await.unwrap();
        watched.flush().await.unwrap();
        assert!(
            watched.inner.writes.is_empty(),
            "nothing leaves before the reply is awaited"
        );
        let mut reply = [0u8; 8];
        watched.read_exact(&mut reply).await.unwrap();
        assert_eq!(watched.inner.writes, vec![50_005]);
        assert!(probe.is_fully_written());
    }

    #[test]
    fn dots_at_the_start_of_lines_are_doubled_and_nothing_else_changes() {
        assert_eq!(dot_stuff(b"a\r\nb\r\n"), b"a\r\nb\r\n");
        assert_eq!(dot_stuff(b".x"), b"..x");
        assert_eq!(dot_stuff(b"a\r\n.\r\nb"), b"a\r\n..\r\nb");
        assert_eq!(dot_stuff(b"a\r\n..b\r\n.c"), b"a\r\n...b\r\n..c");
        // A dot after a bare LF or mid-line is not at the start of an SMTP line.
        assert_eq!(dot_stuff(b"a\n.b a.b"), b"a\n.b a.b");
        assert_eq!(dot_stuff(b""), b"");
    }

    #[tokio::test]
    async fn staged_data_leaves_before_the_final_dot_in_the_same_write() {
        let (mut watched, probe) = watched(Recorder::default());
        probe.mark();
        probe.stage(dot_stuff(b"Subject: x\r\n\r\n.\r\n"));
        // What lettre writes for an empty message: the final dot alone.
        watched.write_all(b"\r\n.\r\n").await.unwrap();
        assert_eq!(watched.held, b"Subject: x\r\n\r\n..\r\n\r\n.\r\n");
        let mut reply = [0u8; 8];
        watched.read_exact(&mut reply).await.unwrap();
        assert_eq!(watched.inner.writes, vec![23]);
        assert!(probe.is_fully_written());
    }

    #[tokio::test]
    async fn a_large_message_leaves_in_chunks_its_end_with_the_dot() {
        let (mut watched, _) = watched(Recorder::default());
        watched.write_all(&vec![b'a'; 600_000]).await.unwrap();
        watched.write_all(b"\r\n.\r\n").await.unwrap();
        let mut reply = [0u8; 8];
        watched.read_exact(&mut reply).await.unwrap();
        let last = 600_005 - 2 * COALESCE_LIMIT;
        assert_eq!(
            watched.inner.writes,
            vec![COALESCE_LIMIT, COALESCE_LIMIT, last]
        );
    }

    #[tokio::test]
    async fn a_hand_over_that_cannot_finish_is_not_fully_written() {
        // The server reads nothing: the bytes never all leave, so no reply is awaited yet.
        let (client, _server) = tokio::io::duplex(1024);
        let (mut watched, probe) = watched(client);
        probe.mark();
        watched.write_all(&[b'a'; 4096]).await.unwrap();
        let mut reply = [0u8; 8];
        let read = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            watched.read(&mut reply),
        )
        .await;
        assert!(read.is_err(), "still handing over");
        assert!(!probe.is_fully_written());
    }
}
