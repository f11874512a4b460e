//! scrypt password hashing on the blocking pool, behind a concurrency cap and a bounded
//! waiting line: an uncapped `spawn_blocking` of 32 MiB hashes could exhaust memory.

use crate::error::BrokerError;
use password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use scrypt::{Params, Scrypt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Hashes and verifies passwords as PHC strings (`$scrypt$ln=15,r=8,p=1$…`).
pub struct Hasher {
    params: Params,
    running: Arc<Semaphore>,
    admitted: AtomicUsize,
    limit: usize,
    /// A hash of a random password, verified against when a login is unknown so that
    /// an unknown login costs as much time as a wrong password.
    decoy: String,
}

/// Releases one admission when dropped.
struct Admission<'a>(&'a AtomicUsize);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hasher {
    /// A hasher computing at most `concurrency` hashes at once with `queue` more waiting.
    pub fn new(params: Params, concurrency: usize, queue: usize) -> Result<Hasher, BrokerError> {
        let decoy = hash_now(&params, "decoy password, never accepted")?;
        Ok(Hasher {
            params,
            running: Arc::new(Semaphore::new(concurrency)),
            admitted: AtomicUsize::new(0),
            limit: concurrency + queue,
            decoy,
        })
    }

    fn admit(&self) -> Result<Admission<'_>, BrokerError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(&self.admitted);
        if before >= self.limit {
            return Err(BrokerError::HasherBusy);
        }
        Ok(admission)
    }

    async fn on_pool<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
    ) -> Result<T, BrokerError> {
        let _admission = self.admit()?;
        let _permit = self.running.acquire().await.map_err(|e| BrokerError::Internal(e.into()))?;
        tokio::task::spawn_blocking(job).await.map_err(|e| BrokerError::Internal(e.into()))?
    }

    /// Hashes a new password with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, BrokerError> {
        let params = self.params;
        self.on_pool(move || hash_now(&params, &password)).await
    }

    /// Checks a password against a stored PHC string; `None` checks against the decoy
    /// (and always answers false) so unknown logins take as long as known ones.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, BrokerError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.decoy.clone());
        self.on_pool(move || {
            let parsed =
                PasswordHash::new(&phc).map_err(|e| BrokerError::Internal(anyhow::anyhow!("stored hash: {e}")))?;
            Ok(Scrypt.verify_password(password.as_bytes(), &parsed).is_ok() && known)
        })
        .await
    }
}

fn hash_now(params: &Params, password: &str) -> Result<String, BrokerError> {
    let salt = SaltString::generate(&mut password_hash::rand_core::OsRng);
    Scrypt
        .hash_password_customized(password.as_bytes(), None, None, *params, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| BrokerError::Internal(anyhow::anyhow!("hashing failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn default_parameters_are_the_contracts_and_verify() {
        let params = Params::new(15, 8, 1, 32).unwrap();
        let hasher = Hasher::new(params, 2, 4).unwrap();
        let phc = hasher.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$scrypt$ln=15,r=8,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse".into(), Some(phc.clone())).await.unwrap());
        assert!(!hasher.verify("wrong horse".into(), Some(phc)).await.unwrap());
        assert!(!hasher.verify("decoy password, never accepted".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn saturated_hasher_answers_busy_at_once() {
        let hasher = Arc::new(Hasher::new(Params::new(12, 8, 1, 32).unwrap(), 1, 1).unwrap());
        let jobs: Vec<_> = (0..6)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(format!("password {i}")).await })
            })
            .collect();
        let mut busy = 0;
        for job in jobs {
            if matches!(job.await.unwrap(), Err(BrokerError::HasherBusy)) {
                busy += 1;
            }
        }
        assert!(busy >= 1, "with 1 running and 1 waiting, six at once must refuse some");
        assert!(hasher.hash("after the burst".into()).await.is_ok(), "admissions are released");
    }
}
