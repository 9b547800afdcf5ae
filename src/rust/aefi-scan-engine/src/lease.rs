//! Lending an open instrument link to a scan and getting it back on every exit path.
//!
//! docs/decisions/0006-port-lease.md: the owner of a link (the Python `ArcusController` object the move
//! plugin holds) keeps it in a [`Shared`] slot; a scan [`Shared::lend`]s it and receives a
//! [`Lent`] guard that derefs to the link. Dropping the guard puts the link back, so completion,
//! abort, error, early return and even a panic unwinding the scan thread all return it. While
//! lent, [`Shared::with`] refuses with [`LeaseError::Lent`] naming the borrower.
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a shared link cannot be used right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// A scan (or another borrower) has the link.
    #[error("the link is lent to {borrower}")]
    Lent {
        /// Who has it.
        borrower: String,
    },
    /// The link was closed by its owner.
    #[error("the link is closed")]
    Closed,
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    borrower: Option<String>,
}

/// An owned link that can be lent. Cloning shares the same slot.
#[derive(Debug)]
pub struct Shared<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self { slot: Arc::clone(&self.slot) }
    }
}

fn lock<T>(m: &Mutex<Slot<T>>) -> MutexGuard<'_, Slot<T>> {
    // A panic while holding the lock cannot leave the slot half-updated (every update is one
    // assignment), so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T> Shared<T> {
    /// Wraps an open link.
    pub fn new(value: T) -> Self {
        Self { slot: Arc::new(Mutex::new(Slot { value: Some(value), borrower: None })) }
    }

    /// Runs `f` on the link if it is home.
    ///
    /// # Errors
    /// [`LeaseError::Lent`] while a borrower has it, [`LeaseError::Closed`] after [`Shared::close`].
    ///
    /// ```
    /// use aefi_scan_engine::lease::{Shared, LeaseError};
    /// let link = Shared::new(41);
    /// assert_eq!(link.with(|v| { *v += 1; *v }), Ok(42));
    /// let lent = link.lend("flyscan").unwrap();
    /// assert_eq!(link.with(|v| *v), Err(LeaseError::Lent { borrower: "flyscan".into() }));
    /// drop(lent);
    /// assert_eq!(link.with(|v| *v), Ok(42));
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, LeaseError> {
        let mut slot = lock(&self.slot);
        if let Some(borrower) = &slot.borrower {
            return Err(LeaseError::Lent { borrower: borrower.clone() });
        }
        slot.value.as_mut().map(f).ok_or(LeaseError::Closed)
    }

    /// Takes the link out for `borrower`; it comes back when the guard is dropped.
    ///
    /// # Errors
    /// [`LeaseError::Lent`] if already lent, [`LeaseError::Closed`] if closed.
    pub fn lend(&self, borrower: &str) -> Result<Lent<T>, LeaseError> {
        let mut slot = lock(&self.slot);
        if let Some(b) = &slot.borrower {
            return Err(LeaseError::Lent { borrower: b.clone() });
        }
        let value = slot.value.take().ok_or(LeaseError::Closed)?;
        slot.borrower = Some(borrower.to_string());
        Ok(Lent { value: Some(value), home: Arc::clone(&self.slot) })
    }

    /// The current borrower, if the link is lent.
    pub fn borrower(&self) -> Option<String> {
        lock(&self.slot).borrower.clone()
    }

    /// Whether the link is home and open.
    pub fn is_open(&self) -> bool {
        let slot = lock(&self.slot);
        slot.value.is_some() || slot.borrower.is_some()
    }

    /// Closes the link (drops it) if it is home.
    ///
    /// # Errors
    /// [`LeaseError::Lent`] while lent: a lent link is closed by nobody but its borrower's return.
    pub fn close(&self) -> Result<(), LeaseError> {
        let mut slot = lock(&self.slot);
        if let Some(borrower) = &slot.borrower {
            return Err(LeaseError::Lent { borrower: borrower.clone() });
        }
        slot.value = None;
        Ok(())
    }
}

/// A lent link; derefs to it and returns it to its [`Shared`] slot when dropped.
#[derive(Debug)]
pub struct Lent<T> {
    value: Option<T>,
    home: Arc<Mutex<Slot<T>>>,
}

impl<T> Deref for Lent<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Invariant: `value` is Some from construction until drop.
        self.value.as_ref().unwrap_or_else(|| unreachable!("Lent holds its value until dropped"))
    }
}

impl<T> DerefMut for Lent<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().unwrap_or_else(|| unreachable!("Lent holds its value until dropped"))
    }
}

impl<T> Drop for Lent<T> {
    fn drop(&mut self) {
        let mut slot = lock(&self.home);
        slot.value = self.value.take();
        slot.borrower = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returned_when_borrower_thread_panics() {
        let link = Shared::new(String::from("port"));
        let lent = link.lend("scan").unwrap();
        let h = std::thread::spawn(move || {
            let _l = lent;
            panic!("fault in the scan thread");
        });
        assert!(h.join().is_err());
        assert_eq!(link.borrower(), None);
        assert_eq!(link.with(|s| s.clone()).unwrap(), "port");
    }

    #[test]
    fn second_lend_and_close_refused_while_lent() {
        let link = Shared::new(1u8);
        let _lent = link.lend("scan A").unwrap();
        assert_eq!(link.lend("scan B").unwrap_err(), LeaseError::Lent { borrower: "scan A".into() });
        assert!(link.close().is_err());
        assert!(link.is_open());
    }

    #[test]
    fn closed_link_cannot_be_used() {
        let link = Shared::new(1u8);
        link.close().unwrap();
        assert_eq!(link.with(|v| *v), Err(LeaseError::Closed));
        assert!(link.lend("x").is_err());
        assert!(!link.is_open());
    }
}
