//! What every request handler shares: the engine, queued faults and the activity counters.

use std::sync::Arc;

use crate::activity::Activity;
use crate::engine::Engine;
use crate::faults::Faults;

pub(crate) struct AppState {
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) faults: Faults,
    pub(crate) activity: Arc<Activity>,
}
