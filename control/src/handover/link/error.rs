//! Why a delivery link could not connect or went down.

use std::io;
use std::mem::Discriminant;

use crate::handover::HandoverError;

/// Why a connection attempt failed or a session ended. The texts are what the
/// audit trail's `delivery_disconnect` records carry.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    /// The destination's address did not resolve.
    #[error("resolve {address}: {source}")]
    Resolve {
        /// `host:port` as configured.
        address: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The destination's address resolved to nothing.
    #[error("resolve {0}: no address")]
    NoAddress(String),
    /// TCP connect failed or timed out.
    #[error("connect: {0}")]
    Connect(#[source] io::Error),
    /// A socket option or clone failed.
    #[error("socket: {0}")]
    Socket(#[source] io::Error),
    /// The TLS client could not be set up.
    #[error("tls: {0}")]
    TlsSetup(#[source] rustls::Error),
    /// The TLS handshake failed on the socket.
    #[error("handshake: {0}")]
    Handshake(#[source] io::Error),
    /// The server refused the handshake (its alert).
    #[error("handshake: {0}")]
    HandshakeRefused(#[source] rustls::Error),
    /// The server closed right after the handshake: it refused our certificate.
    #[error("handshake: server closed the connection (client certificate refused?)")]
    CertificateRefused,
    /// The receive thread could not be started.
    #[error("thread: {0}")]
    Thread(#[source] io::Error),
    /// The peer closed the TCP connection.
    #[error("peer closed the connection")]
    PeerClosed,
    /// Reading from the peer failed.
    #[error("read: {0}")]
    Read(#[source] io::Error),
    /// The peer's TLS records could not be taken in.
    #[error("tls read: {0}")]
    TlsRead(#[source] io::Error),
    /// The peer's TLS records are invalid, or it sent an alert.
    #[error("tls: {0}")]
    Tls(#[source] rustls::Error),
    /// The peer sent close_notify.
    #[error("peer closed the TLS session")]
    TlsClosed,
    /// Writing to the peer failed or timed out.
    #[error("write: {0}")]
    Write(#[source] io::Error),
    /// rustls refused plaintext.
    #[error("tls write: {0}")]
    TlsWrite(#[source] io::Error),
    /// The peer answered nothing for three keepalive periods.
    #[error("keepalive not answered")]
    KeepaliveUnanswered,
    /// The destination's settings changed: reconnect with the new ones.
    #[error("destination reconfigured")]
    Reconfigured,
    /// The spool could not be read or trimmed.
    #[error("spool: {0}")]
    Spool(#[source] HandoverError),
}

/// What makes two failures "the same" for reporting: the kind of failure and,
/// where the OS said why, its error kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cause(Discriminant<LinkError>, Option<io::ErrorKind>);

impl LinkError {
    /// See [`Cause`].
    pub(crate) fn cause(&self) -> Cause {
        let kind = match self {
            LinkError::Resolve { source: e, .. }
            | LinkError::Connect(e)
            | LinkError::Socket(e)
            | LinkError::Handshake(e)
            | LinkError::Thread(e)
            | LinkError::Read(e)
            | LinkError::TlsRead(e)
            | LinkError::Write(e)
            | LinkError::TlsWrite(e) => Some(e.kind()),
            _ => None,
        };
        Cause(std::mem::discriminant(self), kind)
    }
}
