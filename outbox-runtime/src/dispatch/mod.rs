//! Getting committed messages out: the [`Postbox`] (commit, then send at once), the handler
//! runner `#[transactional_handler]` expands to, the [`Sweeper`] (sends what was left
//! outstanding), and the one dispatcher both relays send and mark through.

pub(crate) mod dispatcher;
pub(crate) mod handler;
pub(crate) mod marker;
pub(crate) mod postbox;
pub(crate) mod sweeper;

pub use handler::{HandlerReport, HandlerRun, Outcome, capture_reports};
pub use postbox::{ClearMode, ClearReport, MarkMode, Postbox};
pub use sweeper::{SweepReport, Sweeper, SweeperConfig};
