//! A TLS server stream tuned for bulk receiving: one socket read of up to
//! [`RAW_BUF`] bytes feeds rustls many records at once (rustls' own `read_tls`
//! reads at most 4 KiB from a socket per call, i.e. one syscall per 4 KiB), and
//! each `read` returns as much decrypted plaintext as fits.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use rustls::ServerConnection;

/// Ciphertext read from the socket per syscall, at most.
const RAW_BUF: usize = 1 << 20;

/// A handshaken TLS connection over a blocking socket.
pub struct BulkTls {
    conn: ServerConnection,
    sock: TcpStream,
    raw: Vec<u8>,
    start: usize,
    end: usize,
}

impl BulkTls {
    /// Wraps a connection whose handshake is complete.
    pub fn new(conn: ServerConnection, sock: TcpStream) -> Self {
        BulkTls {
            conn,
            sock,
            raw: vec![0u8; RAW_BUF],
            start: 0,
            end: 0,
        }
    }

    /// Sends close_notify and shuts the socket down.
    pub fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ignored = self.flush();
        let _ignored = self.sock.shutdown(std::net::Shutdown::Both);
    }

    /// Hands buffered ciphertext to rustls and decrypts it; false if none is left.
    fn feed(&mut self) -> std::io::Result<bool> {
        if self.start == self.end {
            return Ok(false);
        }
        let mut rd = &self.raw[self.start..self.end];
        let n = self.conn.read_tls(&mut rd)?;
        self.start += n;
        self.conn
            .process_new_packets()
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
        Ok(true)
    }
}

impl Read for BulkTls {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut got = 0;
        loop {
            while got < out.len() {
                match self.conn.reader().read(&mut out[got..]) {
                    Ok(0) => return Ok(got), // close_notify received
                    Ok(n) => got += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if !self.feed()? {
                            break;
                        }
                    }
                    Err(e) if got > 0 => {
                        tracing::debug!(error = %e, "TLS read ends");
                        return Ok(got);
                    }
                    Err(e) => return Err(e),
                }
            }
            if got > 0 {
                return Ok(got);
            }
            let n = self.sock.read(&mut self.raw)?;
            (self.start, self.end) = (0, n);
            if n == 0 {
                // EOF: let rustls see it (close_notify seen = Ok(0), else an error).
                self.conn.read_tls(&mut &[][..])?;
                return match self.conn.reader().read(out) {
                    Ok(n) => Ok(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
                    Err(e) => Err(e),
                };
            }
        }
    }
}

impl Write for BulkTls {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.conn.writer().write(buf)?;
        self.flush()?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }
}
