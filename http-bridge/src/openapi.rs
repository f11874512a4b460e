//! The OpenAPI 3 document served at `/v1/openapi.json`, generated from the handlers'
//! annotations. Errors every operation can meet are added here once.

use crate::error::ErrorJson;
use crate::model;
use crate::routes;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Joint HTTP bridge", description = "Joint over HTTP: JSON REST and Server-Sent Events. Errors are `{\"code\", \"msg\"}` with the wire protocol's codes."),
    paths(
        routes::health,
        routes::account::register, routes::account::login, routes::account::logout,
        routes::account::me, routes::account::set_name, routes::account::passwd, routes::account::delete_me,
        routes::users::list, routes::users::one,
        routes::groups::list, routes::groups::create, routes::groups::delete, routes::groups::admin,
        routes::groups::members, routes::groups::add, routes::groups::remove, routes::groups::leave,
        routes::messages::publish, routes::messages::history, routes::messages::delete, routes::messages::read,
        routes::stream::stream,
        routes::admin::create_user, routes::admin::disable, routes::admin::enable,
    ),
    components(schemas(
        ErrorJson, model::Health, model::Login, model::DisplayName, model::GroupName, model::Password,
        model::MessageText, model::Cid,
    )),
    modifiers(&CommonErrors),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// The document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// Adds the bearer scheme and the errors any `/v1` operation may answer.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                add_common(operation);
            }
        }
    }
}

fn add_common(operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let mut common = vec![
        ("400", "`invalid_argument`: a malformed request or argument (`field` names it)"),
        ("401", "`unauthenticated` or `bad_token` (for login: `bad_credentials`)"),
        ("429", "`rate_limited`, with `Retry-After` in seconds"),
        ("500", "`internal`"),
        ("503", "`unavailable`: the broker is unreachable, overloaded or did not answer in time"),
    ];
    if has_body {
        common.push(("408", "`request_timeout`: the body did not arrive within `--body-timeout-ms`"));
        common.push(("413", "`body_too_large`"));
    }
    for (status, description) in common {
        let responses = &mut operation.responses.responses;
        if responses.contains_key(status) {
            continue;
        }
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorJson"))).build();
        let response = ResponseBuilder::new().description(description).content("application/json", content).build();
        responses.insert(status.into(), response.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_common_errors() {
        let doc = serde_json::to_value(document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 16, "{paths:?}");
        for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/v1/")) {
            for (method, op) in item.as_object().unwrap() {
                for status in ["400", "401", "429", "500", "503"] {
                    assert!(op["responses"].get(status).is_some(), "{method} {path} lacks {status}");
                }
                if op.get("requestBody").is_some() {
                    for status in ["408", "413"] {
                        assert!(op["responses"].get(status).is_some(), "{method} {path} lacks {status}");
                    }
                }
            }
        }
    }

    #[test]
    fn health_documents_every_status_it_answers() {
        let doc = serde_json::to_value(document()).unwrap();
        let responses = &doc["paths"]["/healthz"]["get"]["responses"];
        for status in ["200", "500", "503"] {
            assert!(responses.get(status).is_some(), "/healthz lacks {status}");
        }
    }
}
