//! Sessions counted by status: the five the API documents, and those outside the enum.

use crate::corbado::Status;

/// Sessions per status. A field per status, so that no code indexes counts by position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub active: u64,
    pub logged_out: u64,
    pub expired: u64,
    pub inactivity_reached: u64,
    pub revoked: u64,
    /// Sessions whose status is outside the documented enum.
    pub unknown: u64,
}

impl StatusCounts {
    pub fn get(&self, status: Status) -> u64 {
        match status {
            Status::Active => self.active,
            Status::LoggedOut => self.logged_out,
            Status::Expired => self.expired,
            Status::InactivityReached => self.inactivity_reached,
            Status::Revoked => self.revoked,
        }
    }

    pub fn get_mut(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Active => &mut self.active,
            Status::LoggedOut => &mut self.logged_out,
            Status::Expired => &mut self.expired,
            Status::InactivityReached => &mut self.inactivity_reached,
            Status::Revoked => &mut self.revoked,
        }
    }

    /// Counts one session; `None` is a status outside the enum.
    pub fn add(&mut self, status: Option<Status>) {
        match status {
            Some(status) => *self.get_mut(status) += 1,
            None => self.unknown += 1,
        }
    }

    /// Sessions with a documented status.
    pub fn known(&self) -> u64 {
        Status::ALL.iter().map(|&s| self.get(s)).sum()
    }

    /// All sessions, known statuses and unknown.
    pub fn total(&self) -> u64 {
        self.known() + self.unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_own_field() {
        let mut counts = StatusCounts::default();
        for (n, status) in Status::ALL.into_iter().enumerate() {
            for _ in 0..=n {
                counts.add(Some(status));
            }
        }
        counts.add(None);
        for (n, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(counts.get(status), n as u64 + 1, "{status}");
        }
        assert_eq!(
            (counts.known(), counts.unknown, counts.total()),
            (15, 1, 16)
        );
    }
}
