//! Connecting to the broker and signing in with the saved session.

use crate::error::{CliError, CliResult};
use crate::tokens::TokenStore;
use joint_wire::{Client, ClientConfig, ClientError, ErrorCode, Events};

/// A connection and the token store entry it belongs to.
pub struct Session {
    /// The client library's handle.
    pub client: Client,
    /// Its events (messages, reconnections).
    pub events: Events,
    store: TokenStore,
    key: String,
}

impl Session {
    /// Connects to the first reachable broker; signs in with the saved token when `sign_in`.
    /// A saved token the broker refuses is forgotten and reported as `bad_token` ("log in again").
    pub async fn open(brokers: &[String], sign_in: bool) -> CliResult<Session> {
        let store = TokenStore::locate()?;
        let key = brokers.join(",");
        let mut config = ClientConfig::new(brokers.to_vec());
        config.client_name = format!("joint/{}", env!("CARGO_PKG_VERSION"));
        let (client, events) = Client::connect(config).await?;
        let session = Session { client, events, store, key };
        if sign_in {
            session.auth().await?;
        }
        Ok(session)
    }

    async fn auth(&self) -> CliResult {
        let Some(token) = self.store.get(&self.key)? else {
            return Err(CliError::Refused(joint_wire::ErrorBody::new(
                ErrorCode::Unauthenticated,
                "no saved session for this broker",
            )));
        };
        match self.client.auth(&token).await {
            Err(ClientError::Broker(body)) if body.code == ErrorCode::BadToken => {
                self.store.set(&self.key, None)?;
                Err(CliError::Refused(body))
            }
            other => other.map(drop).map_err(CliError::from),
        }
    }

    /// Saves the client's current token for this broker (after register or login).
    pub fn save_token(&self) -> CliResult {
        self.store.set(&self.key, self.client.token().as_deref())
    }

    /// Forgets the saved token for this broker (after logout or account deletion).
    pub fn forget_token(&self) -> CliResult {
        self.store.set(&self.key, None)
    }
}
