//! Service-quality reports over HTTP: who may read them ([`Manager`]), their parameters
//! from a query string, and the route. The reports themselves are the application
//! layer's ([`chatvault_app::reports`]).

use crate::ApiQuery;

use axum::extract::Path as AxPath;
use axum::Json;
use chatvault_access::{Action, Outcome};
use chatvault_analytics::report;
use chatvault_policy::Role;
use serde::Deserialize;
use serde_json::{json, Value};

pub use chatvault_app::reports::*;

use crate::error::{ApiError, ApiResult};
use crate::guard::{Caller, State};
use crate::routes::{blocking, parse_time};

/// Who may read reports: team leads (their team only) and executives (any team).
pub struct Manager {
    pub caller: Caller,
    state: State,
}

impl axum::extract::FromRequestParts<State> for Manager {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &State,
    ) -> ApiResult<Manager> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if matches!(caller.role(), Role::TeamLead | Role::Executive) {
            return Ok(Manager {
                caller,
                state: state.clone(),
            });
        }
        state.audit(caller.event(Action::AccessDenied).result(Outcome::Denied).details(json!({"reason": "reports are for team leads and executives", "path": parts.uri.path()})))?;
        Err(ApiError::forbidden(
            "access.role",
            "only the team_lead and executive roles read service reports",
        ))
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub team: Option<String>,
    pub platform: Option<String>,
    pub business_hours: Option<bool>,
}

impl Manager {
    pub fn state(&self) -> &State {
        &self.state
    }

    /// A report's parameters for this caller: a team lead's are always their own team's.
    pub fn params(&self, q: &ReportQuery) -> ApiResult<Params> {
        let nonempty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let from_ms = nonempty(&q.from)
            .map(|s| parse_time(&s, "from", false, self.state.zone))
            .transpose()?;
        let to_ms = nonempty(&q.to)
            .map(|s| parse_time(&s, "to", true, self.state.zone))
            .transpose()?;
        let mut p = Params::checked(
            from_ms,
            to_ms,
            nonempty(&q.team),
            nonempty(&q.platform),
            q.business_hours.unwrap_or(false),
        )?;
        if self.caller.role() == Role::TeamLead {
            let own = self.caller.principal.user.team.clone();
            if p.team.is_some() && p.team != own {
                // A refusal is audited as every other one is.
                self.state.audit(
                    self.caller
                        .event(Action::AccessDenied)
                        .target(p.team.as_deref().unwrap_or_default())
                        .result(Outcome::Denied)
                        .details(json!({"reason": "a team lead reads their own team's reports", "team": p.team})),
                )?;
                return Err(ApiError::forbidden(
                    "access.team",
                    "a team lead reads their own team's reports",
                ));
            }
            p.team = Some(own.unwrap_or_else(|| report::UNASSIGNED.to_owned()));
        }
        Ok(p)
    }

    /// Runs reports for this caller, audited once as `report.view` (target: the report,
    /// or `dashboard` for several).
    pub fn reports(&self, kinds: &[Kind], p: &Params) -> ApiResult<Vec<Report>> {
        let event = self.caller.event(Action::ReportView);
        Ok(blocking(|| for_manager(&self.state, event, kinds, p))?)
    }

    pub fn report(&self, kind: &str, q: &ReportQuery) -> ApiResult<Report> {
        let Some(kind) = Kind::parse(kind) else {
            return Err(ApiError::bad_request(format!(
                "report: use {}",
                Kind::names()
            )));
        };
        let p = self.params(q)?;
        let mut r = self.reports(&[kind], &p)?;
        r.pop()
            .ok_or_else(|| ApiError::internal("the report did not run"))
    }
}

pub async fn report_route(
    m: Manager,
    AxPath(kind): AxPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(m.report(&kind, &q)?.json()?))
}
