//! Users: the list, adding one (with its TOTP enrolment), freezing and unfreezing.

use super::*;

pub struct UserRow {
    name: String,
    role: &'static str,
    team: String,
    handles: String,
    totp: &'static str,
    state: &'static str,
    state_class: &'static str,
    frozen: bool,
    created: String,
}

pub struct Created {
    name: String,
    password: Option<String>,
    pending_totp: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    ctx: Ctx,
    users: Vec<UserRow>,
    roles: Vec<(&'static str, &'static str)>,
    created: Option<Created>,
    notice: Option<&'static str>,
}

fn users_view(
    state: &State,
    req: &Req,
    caller: &Caller,
    created: Option<Created>,
    notice: Option<&'static str>,
) -> Result<Response, ApiError> {
    let lang = req.lang_for(Some(caller));
    let t = lang.strings();
    let users = state.access()?.users()?;
    let rows = users
        .iter()
        .map(|u| UserRow {
            name: clean(&u.name),
            role: views::role_label(t, u.role),
            team: clean(u.team.as_deref().unwrap_or("")),
            handles: clean(
                &u.handles
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            totp: if u.totp_pending {
                t.totp_pending_label
            } else if u.totp {
                t.totp_on
            } else {
                t.totp_off
            },
            state: if u.locked {
                t.locked
            } else if u.frozen {
                t.frozen
            } else {
                t.active
            },
            state_class: if u.locked || u.frozen { "bad" } else { "good" },
            frozen: u.frozen || u.locked,
            created: clean(&u.created_at),
        })
        .collect();
    let roles = [
        Role::Agent,
        Role::TeamLead,
        Role::Legal,
        Role::Executive,
        Role::Auditor,
        Role::Admin,
    ]
    .iter()
    .map(|r| (r.as_str(), views::role_label(t, *r)))
    .collect();
    Ok(render(&UsersPage {
        ctx: Ctx::for_caller(lang, caller, "/admin/users", t.users_title),
        users: rows,
        roles,
        created,
        notice,
    }))
}

pub(super) fn admin_or(
    state: &State,
    req: &Req,
    caller: Result<Caller, ApiError>,
    path: &str,
) -> UiResult<Caller> {
    let caller = caller_or(req, caller)?;
    if caller.role() != Role::Admin {
        let e = role_denied(state, &caller, Role::Admin, path);
        return Err(UiError::for_caller(req, &caller, e));
    }
    Ok(caller)
}

pub async fn users_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Query(d): Query<Done>,
) -> UiResult<Response> {
    let caller = admin_or(&state, &req, caller, "/admin/users")?;
    let t = req.lang_for(Some(&caller)).strings();
    let notice = match d.done.as_deref() {
        Some("freeze") => Some(t.user_frozen),
        Some("unfreeze") => Some(t.user_unfrozen),
        Some("reset-totp") => Some(t.totp_reset_done),
        _ => None,
    };
    users_view(&state, &req, &caller, None, notice)
        .map_err(|e| UiError::for_caller(&req, &caller, e))
}

pub async fn user_add_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = admin_or(&state, &req, caller, "/admin/users")?;
    let f = form(f);
    let run = || -> Result<Response, ApiError> {
        let role = Role::parse(f.get("role"))?;
        let handles = f
            .lines("handles")
            .iter()
            .map(|h| chatvault_access::users::parse_handle(h).map_err(ApiError::from))
            .collect::<Result<Vec<Handle>, _>>()?;
        let password = f.opt("password");
        let team = f.opt("team");
        let e = blocking(|| {
            state
                .access()?
                .add_user(
                    caller.name(),
                    f.get("name"),
                    role,
                    team.as_deref(),
                    &handles,
                    password.as_deref(),
                    !f.get("totp").is_empty(),
                )
                .map_err(ApiError::from)
        })?;
        let created = Created {
            name: clean(&e.user),
            password: e.password.clone(),
            pending_totp: e.otpauth.is_some(),
        };
        users_view(&state, &req, &caller, Some(created), None)
    };
    run().map_err(|e| UiError::for_caller(&req, &caller, e))
}

pub async fn user_op_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path((name, op)): Path<(String, String)>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = admin_or(&state, &req, caller, "/admin/users")?;
    let f = form(f);
    let run = || -> Result<(), ApiError> {
        let mut acc = state.access()?;
        match op.as_str() {
            "freeze" => {
                acc.freeze(caller.name(), &name, f.get("reason"))?;
            }
            "unfreeze" => acc.unfreeze(caller.name(), &name)?,
            "reset-totp" => {
                acc.reset_totp(caller.name(), &name)?;
            }
            _ => return Err(ApiError::new("route.unknown", "no such user operation")),
        }
        Ok(())
    };
    run().map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other(&format!(
        "/admin/users?{}",
        views::query(&[("done", &op)])
    )))
}
