//! Accounts of others: the list and one account.

use crate::error::{ApiError, Caller, ErrorJson};
use crate::extract::{unsigned, Auth, Path, Query};
use crate::links;
use crate::model::{Login, UserDetail, UsersPage};
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

/// Paging through a list of logins.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginPage {
    /// Start after this login (the last one of the previous page).
    #[param(pattern = "^[^\\u0000]*$")]
    pub after: Option<String>,
    /// At most this many (default 100; above 1000 is clamped).
    #[param(minimum = 1)]
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    pub limit: Option<i64>,
}

impl LoginPage {
    /// The `Link` header pointing at the page after `last`, when there is more.
    pub fn next_link(&self, path: &str, more: bool, last: Option<&str>) -> HeaderMap {
        match last.filter(|_| more) {
            Some(last) => {
                let query = links::query(&[("after", Some(last.into())), ("limit", self.limit.map(|l| l.to_string()))]);
                links::header(&[("next", format!("{path}{query}"))])
            }
            None => HeaderMap::new(),
        }
    }
}

/// Accounts in login byte order, with presence; deleted accounts are left out.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(LoginPage),
    responses((status = 200, description = "One page; `Link: rel=\"next\"` when more follow", body = UsersPage)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(page): Query<LoginPage>,
) -> Result<(HeaderMap, Json<UsersPage>), ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let limit = unsigned("limit", page.limit)?;
    let users = state.pool.call(Caller::SignedIn, client.users(page.after.as_deref(), limit)).await?;
    let link = page.next_link("/v1/users", users.more, users.users.last().map(|u| u.login.as_str()));
    Ok((link, Json(UsersPage { users: users.users.into_iter().map(Into::into).collect(), more: users.more })))
}

/// One account, with the groups it shares with the caller.
#[utoipa::path(get, path = "/v1/users/{login}", tag = "users", params(("login" = Login, Path, description = "The login")),
    responses(
        (status = 200, description = "The account", body = UserDetail),
        (status = 404, description = "`unknown_user`", body = ErrorJson),
    ))]
pub async fn one(
    State(state): State<AppState>,
    auth: Auth,
    Path(login): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    Ok(Json(state.pool.call(Caller::SignedIn, client.user(&login)).await?.into()))
}
