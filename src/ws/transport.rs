//! The WebSocket wire: frames read from and written to the upgraded TCP stream on buffers
//! that exist only while bytes are in flight, so an idle connection holds none (the memory
//! per idle socket, bar B4 in BENCHMARKS.md), and frames queued together leave in one write
//! (the group fan-out, bar B3 there).

use std::io;
use std::time::Duration;

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

/// Bytes queued before a writer must wait for the client to take them.
const FLUSH_AT: usize = 64 * 1024;
/// Room made in the read buffer for each read.
const READ_CHUNK: usize = 4096;
/// How long a closing connection waits for the client's answer to its close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// A complete message from the client (continuations joined).
#[derive(Debug)]
pub enum Incoming {
    Text(String),
    Binary,
    Ping(Bytes),
    Pong,
    Close,
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the stream (or it broke).
    Gone,
    /// A frame over the size limit.
    TooBig,
    /// Anything else that breaks RFC 6455.
    Protocol,
}

impl From<ProtocolError> for ReadError {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::Overflow => ReadError::TooBig,
            ProtocolError::Io(_) => ReadError::Gone,
            _ => ReadError::Protocol,
        }
    }
}

/// The server side of one WebSocket connection.
pub struct Socket {
    io: TcpStream,
    read: BytesMut,
    write: BytesMut,
    /// A fragmented message being assembled: its first opcode and the bytes so far.
    partial: Option<(OpCode, BytesMut)>,
    max_message: usize,
}

impl Socket {
    /// Take over `io` after the handshake; `read` holds whatever the client sent after it.
    pub fn new(io: TcpStream, read: BytesMut, max_message: usize) -> Self {
        let read = if read.is_empty() { BytesMut::new() } else { BytesMut::from(&read[..]) };
        Self { io, read, write: BytesMut::new(), partial: None, max_message }
    }

    /// Wait until the client may have sent something. Cancel-safe.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// The next complete message, reading what the socket has without waiting;
    /// `Ok(None)` when no complete message is there yet.
    pub fn try_next(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            if let Some(message) = self.parse()? {
                return Ok(Some(message));
            }
            self.read.reserve(READ_CHUNK);
            match self.io.try_read_buf(&mut self.read) {
                Ok(0) => return Err(ReadError::Gone),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.read.is_empty() {
                        // Nothing pending: give the memory back while the client is quiet.
                        self.read = BytesMut::new();
                    }
                    return Ok(None);
                }
                Err(_) => return Err(ReadError::Gone),
            }
        }
    }

    fn parse(&mut self) -> Result<Option<Incoming>, ReadError> {
        while let Some((fin, op, payload)) = Parser::parse(&mut self.read, true, self.max_message)?
        {
            let payload = payload.unwrap_or_default();
            let whole = match (op, self.partial.take()) {
                (OpCode::Continue, None) => return Err(ReadError::Protocol),
                (OpCode::Continue, Some((first, mut so_far))) => {
                    if so_far.len() + payload.len() > self.max_message {
                        return Err(ReadError::TooBig);
                    }
                    so_far.extend_from_slice(&payload);
                    if !fin {
                        self.partial = Some((first, so_far));
                        continue;
                    }
                    (first, so_far)
                }
                (OpCode::Ping, partial) => {
                    self.partial = partial;
                    return Ok(Some(Incoming::Ping(payload.freeze())));
                }
                (OpCode::Pong, partial) => {
                    self.partial = partial;
                    return Ok(Some(Incoming::Pong));
                }
                (OpCode::Close, _) => return Ok(Some(Incoming::Close)),
                (OpCode::Text | OpCode::Binary, Some(_)) => return Err(ReadError::Protocol),
                (OpCode::Text | OpCode::Binary, None) if !fin => {
                    self.partial = Some((op, payload));
                    continue;
                }
                (OpCode::Text | OpCode::Binary, None) => (op, payload),
                (OpCode::Bad, _) => return Err(ReadError::Protocol),
            };
            return match whole {
                (OpCode::Text, bytes) => String::from_utf8(bytes.to_vec())
                    .map(|t| Some(Incoming::Text(t)))
                    .map_err(|_| ReadError::Protocol),
                _ => Ok(Some(Incoming::Binary)),
            };
        }
        Ok(None)
    }

    /// Queue a text frame; waits for the client only when a lot is queued already.
    pub async fn text(&mut self, text: &str) -> io::Result<()> {
        Parser::write_message(&mut self.write, text, OpCode::Text, true, false);
        if self.write.len() >= FLUSH_AT { self.flush().await } else { Ok(()) }
    }

    /// Queue a ping or a pong.
    pub fn control(&mut self, op: OpCode, payload: &[u8]) {
        Parser::write_message(&mut self.write, payload, op, true, false);
    }

    /// Whether frames are queued but not yet written.
    pub fn has_queued(&self) -> bool {
        !self.write.is_empty()
    }

    /// Write everything queued. Not cancel-safe in the sense that a cancelled flush may have
    /// written part of the queue, but what is left stays queued in order.
    pub async fn flush(&mut self) -> io::Result<()> {
        while !self.write.is_empty() {
            match self.io.try_write(&self.write) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    let _ = self.write.split_to(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.io.writable().await?,
                Err(e) => return Err(e),
            }
        }
        // Nothing in flight: hold no buffer.
        self.write = BytesMut::new();
        Ok(())
    }

    /// Send a close frame after what is queued, then wait (briefly) for the client to close.
    pub async fn close(mut self, (code, description): (u16, String)) {
        let reason = CloseReason { code: CloseCode::from(code), description: Some(description) };
        Parser::write_close(&mut self.write, Some(reason), false);
        let linger = async {
            self.flush().await?;
            // Half-close, then drain until the client closes too: closing with unread input
            // would reset the connection and could destroy the close frame in flight.
            let (mut read, mut write) = self.io.split();
            tokio::io::AsyncWriteExt::shutdown(&mut write).await?;
            let mut sink = [0u8; 512];
            while tokio::io::AsyncReadExt::read(&mut read, &mut sink).await? > 0 {}
            io::Result::Ok(())
        };
        let _ = tokio::time::timeout(CLOSE_LINGER, linger).await;
    }
}
