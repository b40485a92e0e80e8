//! The delivery records: each sweeper child appends a line `<unix nanos>\t<message id>` per send
//! to a file of its own, written through to the kernel on every send so that it survives a
//! SIGKILL; the parent counts and reads them back.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use outbox_runtime::Message;
use outbox_runtime::transport::{Producer, ProducerError};

/// A producer that appends `<unix nanos>\t<id>` per message to a file, written through on
/// every send, so that the record survives the process being killed.
pub(super) struct FileProducer {
    pub(super) file: Mutex<std::fs::File>,
}

impl Producer for FileProducer {
    async fn send(&self, message: &Message) -> Result<(), ProducerError> {
        let line = format!("{}\t{}\n", unix_nanos(SystemTime::now()), message.id());
        let mut file = self.file.lock().expect("not poisoned");
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|err| ProducerError::new(message, format!("recording the send: {err}")))
    }
}

pub(in crate::chaos) fn unix_nanos(at: SystemTime) -> u128 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

pub(in crate::chaos) fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
        .unwrap_or(0)
}

/// The complete lines of a record file (a process killed mid-write leaves at most a partial
/// last line, which never reached the transport's caller as sent).
pub(super) fn read_records(path: &Path) -> Vec<(u128, String)> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let (at, id) = line.split_once('\t')?;
            Some((at.parse().ok()?, id.to_owned()))
        })
        .collect()
}
