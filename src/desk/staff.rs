//! Staff passwords: Argon2id hashes, the same rule for every way a password is set (command
//! line, the team page, one's own change), and temporary passwords for resets.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};

/// The Argon2id hash of a password that meets the rule (`domain::optin::check_password`).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    crate::domain::optin::check_password(password).map_err(anyhow::Error::msg)?;
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hachage impossible : {e}"))?
        .to_string())
}

/// Whether `password` matches the stored hash (false for an unreadable hash).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A temporary password given once to an admin who resets an account: five groups of four
/// lower-case letters and digits (about 100 bits), easy to read out.
pub fn temporary_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let bytes: [u8; 20] = rand::random();
    bytes
        .chunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_temporary_passwords_meet_the_rule() {
        let temporary = temporary_password();
        assert_eq!(temporary.len(), 24);
        let hash = hash_password(&temporary).unwrap();
        assert!(verify_password(&hash, &temporary));
        assert!(!verify_password(&hash, "autre chose de long"));
        assert!(!verify_password("pas un hash", &temporary));
        assert!(hash_password("court").is_err());
        assert_ne!(temporary_password(), temporary);
    }
}
