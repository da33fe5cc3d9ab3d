//! Server-sent events written by hand over a tiny_http connection, each event sent the moment
//! it is written (the guard proxy's streams, the test double's).

use std::io::Write;

/// The client's side of a stream, written by hand: tiny_http's chunked responses gather 8 KiB
/// before they send anything, which would turn a short streamed reply into one late burst.
pub struct EventWriter {
    out: Box<dyn Write + Send>,
    open: bool,
}

impl EventWriter {
    /// Answers `request` with a 200 event stream and the extra `headers`.
    pub fn start(request: tiny_http::Request, headers: &[(&str, &str)]) -> EventWriter {
        let mut out = request.into_writer();
        let mut head = String::from(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let open = out
            .write_all(head.as_bytes())
            .and_then(|_| out.flush())
            .is_ok();
        EventWriter { out, open }
    }

    /// Writes raw SSE text as one chunk, sent at once.
    pub fn raw(&mut self, text: &str) {
        if !self.open || text.is_empty() {
            return;
        }
        let chunk = format!("{:x}\r\n{text}\r\n", text.len());
        self.open = self
            .out
            .write_all(chunk.as_bytes())
            .and_then(|_| self.out.flush())
            .is_ok();
    }

    pub fn event(&mut self, data: &str) {
        self.raw(&format!("data: {data}\n\n"));
    }

    pub fn finish(mut self) {
        if self.open {
            let _ = self.out.write_all(b"0\r\n\r\n");
            let _ = self.out.flush();
        }
    }
}
