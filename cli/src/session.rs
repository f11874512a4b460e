//! Connecting to the broker and signing in with the saved session.

use crate::error::{CliError, CliResult};
use crate::tokens::TokenStore;
use joint_wire::{Client, ClientConfig, ClientError, ErrorCode, Events, TlsConfig};
use rust_i18n::t;

/// A connection and the token store entries it belongs to: one per broker address.
pub struct Session {
    /// The client library's handle.
    pub client: Client,
    /// Its events (messages, reconnections).
    pub events: Events,
    store: TokenStore,
    brokers: Vec<String>,
    /// The broker the connection was last on, to tell a failover from a reconnection.
    current: String,
}

impl Session {
    /// Connects to the first reachable broker; signs in with the saved token when `sign_in`.
    /// The token is the one saved for the first address of `brokers` that has one, so a
    /// session saved with `--broker a,b` is found with `a`, `b` or `b,a` too. A saved token
    /// the broker refuses is forgotten and reported as `bad_token` ("log in again"). With
    /// `tls`, the connection speaks TLS.
    pub async fn open(brokers: &[String], tls: Option<TlsConfig>, sign_in: bool) -> CliResult<Session> {
        let store = TokenStore::locate()?;
        let mut config = ClientConfig::new(brokers.to_vec());
        config.tls = tls;
        config.client_name = format!("joint/{}", env!("CARGO_PKG_VERSION"));
        let (client, events) = Client::connect(config).await?;
        let current = client.broker();
        let session = Session { client, events, store, brokers: brokers.to_vec(), current };
        if sign_in {
            session.auth().await?;
        }
        Ok(session)
    }

    /// The line that tells the user where a new connection went: back to the same broker,
    /// or to another one because the one it was on went away.
    pub fn reconnected_line(&mut self, broker: &str) -> String {
        let line = if broker == self.current {
            t!("cli.out.reconnected", broker = broker)
        } else {
            t!("cli.out.failed_over", from = self.current, broker = broker)
        };
        self.current = broker.to_owned();
        line.into_owned()
    }

    /// Tells the user on stderr about the reconnections that happened meanwhile, for a
    /// command that does not otherwise read its events.
    pub fn report_reconnections(&mut self) {
        while let Some(event) = self.events.try_next() {
            if let joint_wire::ClientEvent::Reconnected { broker, .. } = event {
                eprintln!("{}", self.reconnected_line(&broker));
            }
        }
    }

    async fn auth(&self) -> CliResult {
        let Some(token) = self.store.get(&self.brokers)? else {
            return Err(CliError::Denied(ErrorCode::Unauthenticated));
        };
        match self.client.auth(&token).await {
            Err(ClientError::Broker(body)) if body.code == ErrorCode::BadToken => {
                self.store.forget(&self.brokers, &token)?;
                Err(CliError::Refused(body))
            }
            other => other.map(drop).map_err(CliError::from),
        }
    }

    /// Saves the client's current token under each broker address (after register or login).
    pub fn save_token(&self) -> CliResult {
        self.store.set(&self.brokers, self.client.token().as_deref())
    }

    /// Forgets the saved token under each broker address (after logout or account deletion).
    pub fn forget_token(&self) -> CliResult {
        self.store.set(&self.brokers, None)
    }
}
