//! SASL PLAIN (RFC 4616): the one message `[authzid] NUL authcid NUL passwd`.
//!
//! kafka-esm never asks for another identity, so the authorization id is empty (the
//! broker then authorizes as the user who authenticated). The message holds the password
//! in clear: it comes back zeroized-on-drop, and must only travel over TLS.

use super::SaslError;
use zeroize::Zeroizing;

/// The PLAIN initial response for `username` and `password`. NUL separates the fields,
/// so neither may contain one.
pub fn initial_response(username: &str, password: &str) -> Result<Zeroizing<Vec<u8>>, SaslError> {
    if username.contains('\0') {
        return Err(SaslError::NulInCredentials { what: "user name" });
    }
    if password.contains('\0') {
        return Err(SaslError::NulInCredentials { what: "password" });
    }
    let mut msg = Zeroizing::new(Vec::with_capacity(2 + username.len() + password.len()));
    msg.push(0);
    msg.extend_from_slice(username.as_bytes());
    msg.push(0);
    msg.extend_from_slice(password.as_bytes());
    Ok(msg)
}

#[cfg(test)]
mod tests;
