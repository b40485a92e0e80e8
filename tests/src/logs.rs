//! Log lines captured from every crate at every level, for tests that assert what an operator
//! would read.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer that keeps what the `tracing` fmt subscriber writes.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned"))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A subscriber writing every level here, without colours.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }
}

/// Runs `future` with every log line captured, on this thread (a current-thread runtime's
/// tasks included), and returns its output and the lines.
pub async fn capture_logs<F: Future>(future: F) -> (Vec<String>, F::Output) {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());
    let output = future.await;
    (captured.lines(), output)
}
