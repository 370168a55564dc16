//! The population's sessions in the API's JSON form. The only place `identifierValue` exists:
//! the simulator sends it, as the real API does, so the tests can prove the exporter drops it.

use std::fmt::Write as _;

use super::{session_id, status_value, user_id, Population};

impl Population {
    /// Writes sessions as the API's JSON objects, comma-separated, into `out`.
    pub fn write_sessions_json(&self, indexes: &[u32], out: &mut String) {
        for (n, &index) in indexes.iter().enumerate() {
            let s = &self.sessions[index as usize];
            if n > 0 {
                out.push(',');
            }
            // All values are ASCII the simulator made itself: nothing needs escaping.
            let _ = write!(
                out,
                "{{\"sessionID\":\"{}\",\"userID\":\"{}\",\"identifierValue\":\"user{}@example.com\",\
                 \"createdMs\":{},\"lastActionMs\":{},\"expiresMs\":{},\"status\":\"{}\"}}",
                session_id(index),
                user_id(s.user),
                s.user,
                s.created_ms,
                s.last_action_ms,
                s.expires_ms,
                status_value(s.status),
            );
        }
    }
}
