//! `max_parallel` across a whole run: one pool of slots shared by the top
//! level, inline lists and sub-workflows. A node holds a slot while it runs;
//! a node that only waits for nested nodes (condition, loop, parallel,
//! workflow, recursive) gives its slot back first, so nesting cannot
//! deadlock.

use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of a run (none to take when `max_parallel` is unbounded).
#[derive(Debug, Clone)]
pub struct Slots(Option<Arc<Semaphore>>);

impl Slots {
    /// `max` slots; `usize::MAX` for no bound.
    pub fn new(max: usize) -> Self {
        Slots(
            (max != usize::MAX).then(|| Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)))),
        )
    }

    /// A slot if one is free now.
    pub fn try_take(&self) -> Option<Slot> {
        match &self.0 {
            None => Some(Slot::default()),
            Some(semaphore) => semaphore
                .clone()
                .try_acquire_owned()
                .ok()
                .map(Slot::holding),
        }
    }

    /// A slot, once one is free.
    pub async fn take(&self) -> Slot {
        match &self.0 {
            None => Slot::default(),
            Some(semaphore) => match semaphore.clone().acquire_owned().await {
                Ok(permit) => Slot::holding(permit),
                Err(_) => Slot::default(),
            },
        }
    }
}

/// A running node's slot: freed when dropped, or earlier with
/// [`Slot::release`].
#[derive(Debug, Default)]
pub struct Slot(Mutex<Option<OwnedSemaphorePermit>>);

impl Slot {
    fn holding(permit: OwnedSemaphorePermit) -> Self {
        Slot(Mutex::new(Some(permit)))
    }

    /// Gives the slot back (for a node that now only waits).
    pub fn release(&self) {
        self.0.lock().expect("slot").take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_bound_and_come_back() {
        let slots = Slots::new(1);
        let first = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        first.release();
        assert!(slots.try_take().is_some());
        assert!(Slots::new(usize::MAX).try_take().is_some());
    }
}
