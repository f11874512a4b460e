//! hello, register, login, auth and logout.

use super::{ConnState, Effect, Outcome, Reply};
use crate::error::BrokerError;
use crate::hub::Session;
use crate::limits::{Attempt, BackoffKey, Verdict};
use crate::server::Ctx;
use crate::settings::Registration;
use crate::store::{account_disabled, Account, Credentials, SessionLookup};
use crate::{names, token};
use joint_wire::message::{invalid, EndReason, HelloOk, SessionOk};
use joint_wire::{ErrorBody, ErrorCode, PROTOCOL_VERSION};
use std::net::IpAddr;
use std::time::Duration;

/// The most messages one `history` reply may hold (announced in `hello`).
pub const HISTORY_MAX: u64 = 1000;

/// A `rate_limited` refusal telling the client how long to wait (rounded up to whole ms).
pub(crate) fn rate_limited(wait: Duration) -> BrokerError {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    ErrorBody::new(ErrorCode::RateLimited, "too many attempts; wait before trying again").with_retry_after_ms(ms).into()
}

/// One password check under the backoff of CONTRACT.md §11, counted per (login, IP) and
/// per IP on every broker of the database. Begun before any hashing (so `rate_limited`
/// costs one read); dropped before its verdict (the database was down, say), it counts
/// neither way.
pub(crate) struct PasswordCheck<'a> {
    ctx: &'a Ctx,
    attempt: Attempt,
}

impl<'a> PasswordCheck<'a> {
    /// Starts a check, or refuses with `rate_limited` while either key is backing off.
    pub async fn begin(ctx: &'a Ctx, login: &str, ip: IpAddr) -> Result<PasswordCheck<'a>, BrokerError> {
        let keys = vec![BackoffKey::LoginAtIp(login.to_owned(), ip), BackoffKey::PasswordIp(ip)];
        let attempt = ctx.failures.begin(keys).await?.map_err(rate_limited)?;
        Ok(PasswordCheck { ctx, attempt })
    }

    /// Verifies `password` against the stored hash (`None`: an unknown login, checked
    /// against a decoy) and counts the verdict. A verdict reached while either key became
    /// blocked in the meantime (by any broker) is `rate_limited`, right or wrong: guesses
    /// sent at once learn no more than the free attempts. A success clears only the
    /// (login, IP) count: clearing the per-IP count too would let someone guessing at many
    /// logins reset it by signing in to an account of their own.
    pub async fn verify(self, password: String, stored: Option<String>) -> Result<(), BrokerError> {
        let good = self.ctx.hasher.verify(password, stored).await?;
        let verdicts = match good {
            true => [Verdict::Succeeded, Verdict::Uncounted],
            false => [Verdict::Failed, Verdict::Failed],
        };
        self.ctx.failures.judge(self.attempt, &verdicts).await?.map_err(rate_limited)?;
        match good {
            true => Ok(()),
            false => Err(BrokerError::refused(ErrorCode::BadCredentials, "wrong login or password")),
        }
    }
}

fn session_ok(token: Option<String>, account: &Account, groups: Vec<joint_wire::message::Group>) -> SessionOk {
    SessionOk { token, user: super::account::user_info(account), groups }
}

/// `hello`: checks the version and announces the broker's limits.
pub fn hello(
    ctx: &Ctx,
    conn: &mut ConnState,
    reply: Reply,
    version: u64,
    client_ip: Option<String>,
) -> Result<Outcome, BrokerError> {
    if !conn.hello_allowed {
        return Err(invalid("op", "hello is allowed only as the first request").into());
    }
    let client_ip = match client_ip {
        Some(text) => Some(text.parse::<IpAddr>().map_err(|_| invalid("client_ip", "must be an IP address"))?),
        None => None,
    };
    if version != PROTOCOL_VERSION {
        return Err(BrokerError::refused(
            ErrorCode::UnsupportedVersion,
            format!("this broker speaks version {PROTOCOL_VERSION}, not {version}"),
        ));
    }
    conn.hello_allowed = false;
    if let Some(ip) = client_ip {
        if ctx.settings.trusted_proxies.contains(&conn.peer_ip) {
            let slot = ctx.per_ip.take(ip).ok_or_else(|| {
                BrokerError::refused(ErrorCode::TooManyConnections, "too many connections from this client")
            })?;
            // The proxy's own count gets its place back.
            conn.ip_slot = slot;
            conn.ip = ip;
        }
    }
    let s = &ctx.settings;
    Ok(reply.ok(&HelloOk {
        version: PROTOCOL_VERSION,
        server: format!("joint-broker/{}", env!("CARGO_PKG_VERSION")),
        max_frame: s.max_frame as u64,
        max_body: s.max_body as u64,
        history_max: HISTORY_MAX,
        ping_interval_ms: s.ping_interval_ms,
        idle_timeout_ms: s.idle_authenticated_ms,
    }))
}

fn new_token() -> Result<token::NewToken, BrokerError> {
    token::generate().map_err(|e| BrokerError::Internal(anyhow::anyhow!("random source failed: {e}")))
}

/// `register`: creates an account and signs the connection in.
pub async fn register(
    ctx: &Ctx,
    conn: &ConnState,
    reply: Reply,
    login: String,
    name: String,
    password: String,
) -> Result<Outcome, BrokerError> {
    // Every attempt counts against the window, refused ones too, but invalid_argument
    // still ranks before rate_limited (and unavailable, should the count fail) in what the
    // client is told.
    let window = ctx.registrations.attempt(conn.ip).await;
    let login = names::login("login", &login)?;
    // account_disabled ranks right after unauthenticated (CONTRACT.md §12).
    if ctx.store.login_disabled(&login).await? {
        return Err(account_disabled());
    }
    let name = names::display_name("name", &name)?;
    names::password("password", &password)?;
    window?.map_err(rate_limited)?;
    if ctx.settings.registration == Registration::Closed {
        return Err(BrokerError::refused(ErrorCode::NotAllowed, "registration is closed; ask an operator"));
    }
    // Whoever registered an operator's login first would be an operator.
    if ctx.settings.is_operator(&login) {
        return Err(BrokerError::refused(
            ErrorCode::NotAllowed,
            "this login is reserved for an operator, whose account is made with `joint-broker user-create`",
        ));
    }
    let hash = ctx.hasher.hash(password).await?;
    let token = new_token()?;
    let (account, groups) = ctx.store.register(&login, &name, &hash, &token.hash).await?;
    tracing::info!(login = %account.login, "account registered");
    let session = Session { account: account.clone(), token: token.hash };
    Ok(reply.with(&session_ok(Some(token.text), &account, groups), vec![Effect::SignIn(session)]))
}

/// `login`: checks the password and opens a new session.
pub async fn login(
    ctx: &Ctx,
    conn: &ConnState,
    reply: Reply,
    login: String,
    password: String,
) -> Result<Outcome, BrokerError> {
    let login = names::login("login", &login)?;
    // account_disabled ranks before the password's own checks and before rate_limited: a
    // database read, but no hashing.
    let credentials = ctx.store.credentials(&login).await?;
    if credentials.as_ref().is_some_and(|c| c.disabled) {
        return Err(account_disabled());
    }
    names::password("password", &password)?;
    let check = PasswordCheck::begin(ctx, &login, conn.ip).await?;
    check.verify(password, credentials.as_ref().map(|c| c.password.clone())).await?;
    let Credentials { account, password: verified, .. } =
        credentials.ok_or_else(|| BrokerError::Internal(anyhow::anyhow!("verified an unknown login")))?;
    let token = new_token()?;
    let groups = ctx.store.create_session(account.id, &verified, &token.hash).await?;
    let session = Session { account: account.clone(), token: token.hash };
    Ok(reply.with(&session_ok(Some(token.text), &account, groups), vec![Effect::SignIn(session)]))
}

/// `auth`: signs in with a session token.
pub async fn auth(ctx: &Ctx, conn: &ConnState, reply: Reply, text: String) -> Result<Outcome, BrokerError> {
    let hash = token::hash_of(&text);
    let attempt = match ctx.failures.begin(vec![BackoffKey::AuthIp(conn.ip)]).await? {
        Ok(attempt) => attempt,
        Err(wait) => {
            // account_disabled ranks before rate_limited; only a real token can tell it.
            if let Some(hash) = &hash {
                if ctx.store.token_disabled(hash).await? {
                    return Err(account_disabled());
                }
            }
            return Err(rate_limited(wait));
        }
    };
    let lookup = match &hash {
        Some(hash) => ctx.store.session(hash, ctx.token_lifetime()).await?,
        None => SessionLookup::Unknown,
    };
    let verdict = match &lookup {
        SessionLookup::Live(..) => Verdict::Succeeded,
        SessionLookup::Disabled => Verdict::Uncounted,
        SessionLookup::Unknown => Verdict::Failed,
    };
    // A verdict that cannot be counted (PostgreSQL down) is `unavailable`, not a free pass.
    let judged = ctx.failures.judge(attempt, &[verdict]).await.and_then(|judged| judged.map_err(rate_limited));
    let (account, groups) = match lookup {
        SessionLookup::Disabled => return Err(account_disabled()),
        SessionLookup::Unknown => {
            judged?;
            let msg = "the session token is unknown or expired; log in again";
            return Err(BrokerError::refused(ErrorCode::BadToken, msg));
        }
        SessionLookup::Live(account, groups) => (account, groups),
    };
    judged?;
    let hash = hash.ok_or_else(|| BrokerError::Internal(anyhow::anyhow!("a live session without a token")))?;
    let session = Session { account: account.clone(), token: hash };
    Ok(reply.with(&session_ok(None, &account, groups), vec![Effect::SignIn(session)]))
}

/// `logout`: ends the session on every connection using it.
pub async fn logout(ctx: &Ctx, reply: Reply, me: &Session) -> Result<Outcome, BrokerError> {
    ctx.store.end_session(&me.token).await?;
    let effects = vec![Effect::EndSessions { tokens: vec![me.token], reason: EndReason::Logout }];
    super::announce(ctx, &effects).await;
    Ok(reply.with(&joint_wire::message::Empty {}, effects))
}
