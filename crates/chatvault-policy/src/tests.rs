use super::*;

const NOW: i64 = 1_000 * DAY_MS;

fn h(id: &str) -> Handle {
    Handle::new("wecom", id)
}

fn subject(user: &str, role: Role, team: Option<&str>) -> Subject {
    Subject {
        user: user.into(),
        role,
        team: team.map(Into::into),
        handles: vec![h(user)],
        frozen: false,
    }
}

/// ann and lee are team east, bob is team west; the rest have no team.
fn people() -> (Vec<Subject>, Org) {
    let people = vec![
        subject("ann", Role::Agent, Some("east")),
        subject("bob", Role::Agent, Some("west")),
        subject("lee", Role::TeamLead, Some("east")),
        subject("wes", Role::TeamLead, Some("west")),
        subject("lia", Role::Legal, None),
        subject("eve", Role::Executive, None),
        subject("aud", Role::Auditor, None),
        subject("adm", Role::Admin, None),
    ];
    let mut d = Directory::default();
    for p in &people {
        d.add_user(&p.user, p.team.as_deref(), &p.handles);
    }
    (
        people,
        Org {
            policy: RolePolicy::default(),
            directory: d,
        },
    )
}

fn who(people: &[Subject], user: &str) -> Subject {
    people
        .iter()
        .find(|p| p.user == user)
        .cloned()
        .expect("user")
}

struct Msg {
    conversation: &'static str,
    participants: Vec<Handle>,
    days_ago: i64,
    text: &'static str,
}

fn msg(conversation: &'static str, with: &[&str], days_ago: i64, text: &'static str) -> Msg {
    Msg {
        conversation,
        participants: with.iter().map(|u| h(u)).collect(),
        days_ago,
        text,
    }
}

fn facts(m: &Msg) -> MessageFacts<'_> {
    MessageFacts {
        conversation: m.conversation,
        participants: &m.participants,
        sent_at_ms: NOW - m.days_ago * DAY_MS,
        text: Some(m.text),
        restricted: false,
    }
}

fn grant(id: &str, holder: &str, scope: Scope, rights: &[Right]) -> Grant {
    Grant {
        id: id.into(),
        request: format!("r-{id}"),
        holder: holder.into(),
        scope,
        rights: rights.to_vec(),
        approved_by: "eve".into(),
        created_ms: NOW - DAY_MS,
        expires_ms: NOW + DAY_MS,
        revoked: None,
    }
}

fn scope_c3(keywords: &[&str]) -> Scope {
    Scope {
        conversations: vec!["wecom:c3".into()],
        participants: vec![],
        from_ms: NOW - 5 * DAY_MS,
        to_ms: NOW,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

#[test]
fn authorization_matrix() {
    let (people, org) = people();
    // c1: ann (east) with a customer; c3: bob (west) with a customer.
    let own_recent = msg("wecom:c1", &["ann", "cust1"], 1, "我要退款");
    let own_10d = msg("wecom:c1", &["ann", "cust1"], 10, "发票");
    let own_40d = msg("wecom:c1", &["ann", "cust1"], 40, "发票");
    let west_recent = msg("wecom:c3", &["bob", "cust3"], 1, "合同违约，要求赔偿");
    let west_old = msg("wecom:c3", &["bob", "cust3"], 9, "合同违约");
    let west_other_words = msg("wecom:c3", &["bob", "cust3"], 2, "物流到了");
    let mut revoked = grant("g-rev", "lia", scope_c3(&[]), &[Right::View]);
    revoked.revoke("eve", NOW - 1).expect("revoke");
    let mut expired = grant("g-exp", "lia", scope_c3(&[]), &[Right::View]);
    expired.expires_ms = NOW;
    let grants = vec![
        grant(
            "g-lia",
            "lia",
            scope_c3(&["违约"]),
            &[Right::View, Right::Export, Right::PiiView],
        ),
        grant(
            "g-ann",
            "ann",
            Scope {
                participants: vec![h("cust3")],
                ..scope_c3(&[])
            },
            &[Right::View],
        ),
        revoked,
        expired,
    ];
    let only = |id: &str| {
        grants
            .iter()
            .filter(|g| g.id == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    let frozen_eve = Subject {
        frozen: true,
        ..who(&people, "eve")
    };
    // (name, subject, right, message, grants, expected: Some(via) or None for deny)
    type Row<'a> = (&'a str, Subject, Right, &'a Msg, Vec<Grant>, Option<Via>);
    let rows: Vec<Row> = vec![
        (
            "agent_own_recent",
            who(&people, "ann"),
            Right::View,
            &own_recent,
            vec![],
            Some(Via::Role(Role::Agent)),
        ),
        (
            "agent_own_past_7_days",
            who(&people, "ann"),
            Right::View,
            &own_10d,
            vec![],
            None,
        ),
        (
            "agent_other_conversation",
            who(&people, "bob"),
            Right::View,
            &own_recent,
            vec![],
            None,
        ),
        (
            "agent_cannot_export",
            who(&people, "ann"),
            Right::Export,
            &own_recent,
            vec![],
            None,
        ),
        (
            "agent_grant_by_participant",
            who(&people, "ann"),
            Right::View,
            &west_recent,
            only("g-ann"),
            Some(Via::Grant("g-ann".into())),
        ),
        (
            "lead_team_recent",
            who(&people, "lee"),
            Right::View,
            &own_recent,
            vec![],
            Some(Via::Role(Role::TeamLead)),
        ),
        (
            "lead_team_10_days",
            who(&people, "lee"),
            Right::View,
            &own_10d,
            vec![],
            Some(Via::Role(Role::TeamLead)),
        ),
        (
            "lead_team_past_30_days",
            who(&people, "lee"),
            Right::View,
            &own_40d,
            vec![],
            None,
        ),
        (
            "lead_other_team",
            who(&people, "lee"),
            Right::View,
            &west_recent,
            vec![],
            None,
        ),
        (
            "lead_of_that_team",
            who(&people, "wes"),
            Right::View,
            &west_recent,
            vec![],
            Some(Via::Role(Role::TeamLead)),
        ),
        (
            "legal_without_grant",
            who(&people, "lia"),
            Right::View,
            &west_recent,
            vec![],
            None,
        ),
        (
            "legal_grant_in_scope",
            who(&people, "lia"),
            Right::View,
            &west_recent,
            grants.clone(),
            Some(Via::Grant("g-lia".into())),
        ),
        (
            "legal_grant_export",
            who(&people, "lia"),
            Right::Export,
            &west_recent,
            grants.clone(),
            Some(Via::Grant("g-lia".into())),
        ),
        (
            "legal_grant_outside_time",
            who(&people, "lia"),
            Right::View,
            &west_old,
            grants.clone(),
            None,
        ),
        (
            "legal_grant_keyword_absent",
            who(&people, "lia"),
            Right::View,
            &west_other_words,
            grants.clone(),
            None,
        ),
        (
            "legal_grant_other_conversation",
            who(&people, "lia"),
            Right::View,
            &own_recent,
            grants.clone(),
            None,
        ),
        (
            "legal_revoked_grant",
            who(&people, "lia"),
            Right::View,
            &west_recent,
            only("g-rev"),
            None,
        ),
        (
            "legal_expired_grant",
            who(&people, "lia"),
            Right::View,
            &west_recent,
            only("g-exp"),
            None,
        ),
        (
            "someone_elses_grant",
            who(&people, "eve"),
            Right::Export,
            &west_recent,
            only("g-lia"),
            None,
        ),
        (
            "executive_reads_all",
            who(&people, "eve"),
            Right::View,
            &west_old,
            vec![],
            Some(Via::Role(Role::Executive)),
        ),
        (
            "executive_read_only",
            who(&people, "eve"),
            Right::Export,
            &west_old,
            vec![],
            None,
        ),
        (
            "auditor_no_content",
            who(&people, "aud"),
            Right::View,
            &own_recent,
            vec![],
            None,
        ),
        (
            "admin_no_content",
            who(&people, "adm"),
            Right::View,
            &own_recent,
            vec![],
            None,
        ),
        (
            "frozen_account",
            frozen_eve,
            Right::View,
            &own_recent,
            vec![],
            None,
        ),
    ];
    for (name, s, right, m, gs, want) in rows {
        let got = decide(&s, right, &facts(m), NOW, &gs, &org);
        match (got, want) {
            (Decision::Allow { via, .. }, Some(w)) => assert_eq!(via, w, "{name}"),
            (Decision::Deny(_), None) => {}
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn personal_data_is_unmasked_only_with_pii_view() {
    let (people, org) = people();
    let m = msg("wecom:c3", &["bob", "cust3"], 1, "违约 13812345678");
    let with = vec![grant(
        "g1",
        "lia",
        scope_c3(&[]),
        &[Right::View, Right::PiiView],
    )];
    let without = vec![grant("g2", "lia", scope_c3(&[]), &[Right::View])];
    let pii = |s: &Subject, g: &[Grant]| match decide(s, Right::View, &facts(&m), NOW, g, &org) {
        Decision::Allow { pii, .. } => pii,
        Decision::Deny(why) => panic!("{why}"),
    };
    assert!(pii(&who(&people, "lia"), &with));
    assert!(!pii(&who(&people, "lia"), &without));
    assert!(
        !pii(&who(&people, "eve"), &[]),
        "no role sees personal data by default"
    );
    // A deployment may give a role pii.view.
    let mut custom = org.clone();
    custom
        .policy
        .roles
        .get_mut(&Role::Executive)
        .expect("rules")
        .rights
        .push(Right::PiiView);
    assert!(matches!(
        decide(
            &who(&people, "eve"),
            Right::View,
            &facts(&m),
            NOW,
            &[],
            &custom
        ),
        Decision::Allow { pii: true, .. }
    ));
    // A role left out of the config reaches nothing.
    let mut partial = org.clone();
    partial.policy.roles.remove(&Role::Executive);
    assert!(!decide(
        &who(&people, "eve"),
        Right::View,
        &facts(&m),
        NOW,
        &[],
        &partial
    )
    .allowed());
}

fn filed(people: &[Subject], by: &str) -> Request {
    let scope = scope_c3(&[]);
    Request::file(
        "r1",
        &who(people, by),
        scope,
        "客户投诉",
        "(2026)京0105民初123号",
        &[Right::View, Right::Export],
        NOW,
    )
    .expect("file")
}

#[test]
fn filing_is_validated() {
    let (people, _) = people();
    let lia = who(&people, "lia");
    let ok = scope_c3(&[]);
    let frozen = Subject {
        frozen: true,
        ..lia.clone()
    };
    // (name, requester, scope, reason, case, rights, error code)
    type Row<'a> = (
        &'a str,
        &'a Subject,
        Scope,
        &'a str,
        &'a str,
        Vec<Right>,
        &'a str,
    );
    let rows: Vec<Row> = vec![
        (
            "empty_scope",
            &lia,
            Scope {
                conversations: vec![],
                ..ok.clone()
            },
            "r",
            "c",
            vec![Right::View],
            "policy.invalid",
        ),
        (
            "from_after_to",
            &lia,
            Scope {
                from_ms: NOW + 1,
                ..ok.clone()
            },
            "r",
            "c",
            vec![Right::View],
            "policy.invalid",
        ),
        (
            "blank_keyword",
            &lia,
            Scope {
                keywords: vec![" ".into()],
                ..ok.clone()
            },
            "r",
            "c",
            vec![Right::View],
            "policy.invalid",
        ),
        (
            "no_reason",
            &lia,
            ok.clone(),
            " ",
            "c",
            vec![Right::View],
            "policy.invalid",
        ),
        (
            "no_case_number",
            &lia,
            ok.clone(),
            "r",
            "",
            vec![Right::View],
            "policy.invalid",
        ),
        (
            "export_without_view",
            &lia,
            ok.clone(),
            "r",
            "c",
            vec![Right::Export],
            "policy.invalid",
        ),
        (
            "frozen_requester",
            &frozen,
            ok.clone(),
            "r",
            "c",
            vec![Right::View],
            "policy.frozen",
        ),
    ];
    for (name, s, scope, reason, case, rights, code) in rows {
        let e = Request::file("r", s, scope, reason, case, &rights, NOW).expect_err(name);
        assert_eq!(e.code(), code, "{name}: {e}");
    }
    let r = filed(&people, "lia");
    assert_eq!(
        (r.status.clone(), r.rights.clone()),
        (Status::Pending, vec![Right::View, Right::Export])
    );
}

#[test]
fn approval_table() {
    let (people, org) = people();
    let in_a_week = NOW + 7 * DAY_MS;
    // (name, filed by, decided by, expires, error code or None)
    let rows: Vec<(&str, &str, &str, i64, Option<&str>)> = vec![
        ("executive_approves_anyone", "lia", "eve", in_a_week, None),
        ("lead_approves_own_team", "ann", "lee", in_a_week, None),
        (
            "lead_not_other_team",
            "bob",
            "lee",
            in_a_week,
            Some("policy.not_approver"),
        ),
        (
            "lead_not_teamless",
            "lia",
            "lee",
            in_a_week,
            Some("policy.not_approver"),
        ),
        (
            "self_approval",
            "eve",
            "eve",
            in_a_week,
            Some("policy.self_approval"),
        ),
        (
            "agent_cannot_approve",
            "lia",
            "ann",
            in_a_week,
            Some("policy.not_approver"),
        ),
        (
            "auditor_cannot_approve",
            "lia",
            "aud",
            in_a_week,
            Some("policy.not_approver"),
        ),
        (
            "admin_cannot_approve",
            "lia",
            "adm",
            in_a_week,
            Some("policy.not_approver"),
        ),
        (
            "expiry_in_the_past",
            "lia",
            "eve",
            NOW,
            Some("policy.invalid"),
        ),
        (
            "expiry_too_far",
            "lia",
            "eve",
            NOW + 91 * DAY_MS,
            Some("policy.invalid"),
        ),
    ];
    for (name, by, decider, expires, want) in rows {
        let mut r = filed(&people, by);
        let got = r.approve("g1", &who(&people, decider), "同意", expires, NOW, &org);
        match (got, want) {
            (Ok(g), None) => {
                assert_eq!(
                    (g.holder.as_str(), g.approved_by.as_str(), g.expires_ms),
                    (by, decider, expires),
                    "{name}"
                );
                assert_eq!(g.scope, r.scope, "{name}");
                assert!(
                    matches!(&r.status, Status::Approved { grant, .. } if grant == "g1"),
                    "{name}"
                );
                assert!(g.is_active(NOW) && !g.is_active(expires), "{name}");
            }
            (Err(e), Some(code)) => {
                assert_eq!(e.code(), code, "{name}: {e}");
                assert_eq!(
                    r.status,
                    Status::Pending,
                    "{name}: a refused decision changes nothing"
                );
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn decisions_are_final_and_revocation_is_once() {
    let (people, org) = people();
    let eve = who(&people, "eve");
    let mut r = filed(&people, "lia");
    let mut g = r
        .approve("g1", &eve, "ok", NOW + DAY_MS, NOW, &org)
        .expect("approve");
    assert_eq!(
        r.approve("g2", &eve, "again", NOW + DAY_MS, NOW, &org)
            .expect_err("twice")
            .code(),
        "policy.state"
    );
    assert_eq!(
        r.reject(&eve, "no", NOW, &org)
            .expect_err("after approval")
            .code(),
        "policy.state"
    );
    let mut rejected = filed(&people, "lia");
    rejected
        .reject(&eve, "理由不足", NOW, &org)
        .expect("reject");
    assert_eq!(
        rejected
            .approve("g3", &eve, "ok", NOW + DAY_MS, NOW, &org)
            .expect_err("after rejection")
            .code(),
        "policy.state"
    );
    let frozen = Subject {
        frozen: true,
        ..eve.clone()
    };
    assert_eq!(
        filed(&people, "lia")
            .approve("g4", &frozen, "ok", NOW + DAY_MS, NOW, &org)
            .expect_err("frozen")
            .code(),
        "policy.frozen"
    );
    // Requests and grants travel as JSON (API, storage): the shapes round-trip.
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(
        (
            json["status"].as_str(),
            json["grant"].as_str(),
            json["rights"].clone()
        ),
        (
            Some("approved"),
            Some("g1"),
            serde_json::json!(["view", "export"])
        )
    );
    assert_eq!(serde_json::from_value::<Request>(json).expect("back"), r);
    assert_eq!(
        serde_json::from_value::<Grant>(serde_json::to_value(&g).expect("json")).expect("back"),
        g
    );
    g.revoke("eve", NOW + 1).expect("revoke");
    assert!(!g.is_active(NOW + 2));
    assert_eq!(
        g.revoke("eve", NOW + 3).expect_err("twice").code(),
        "policy.state"
    );
}

#[test]
fn roles_and_rights_have_stable_names() {
    for r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Ok(r));
    }
    assert_eq!(
        Role::parse("root").expect_err("unknown").code(),
        "policy.unknown_role"
    );
    let json = serde_json::to_string(&[Right::View, Right::Export, Right::PiiView]).expect("json");
    assert_eq!(json, r#"["view","export","pii.view"]"#);
}

#[test]
fn storage_only_data_is_read_by_a_restricted_view_grant_alone() {
    let (people, o) = people();
    let m = msg("wecom:c1", &["ann", "cust1"], 1, "退款");
    let mut f = facts(&m);
    f.restricted = true;
    for user in ["eve", "ann", "lee", "lia"] {
        assert!(
            !decide(&who(&people, user), Right::View, &f, NOW, &[], &o).allowed(),
            "{user} by role"
        );
    }
    let scope = Scope {
        conversations: vec!["wecom:c1".into()],
        participants: vec![],
        from_ms: 0,
        to_ms: NOW + DAY_MS,
        keywords: vec![],
    };
    let lia = who(&people, "lia");
    let plain = grant("g1", "lia", scope.clone(), &[Right::View]);
    assert!(
        !decide(&lia, Right::View, &f, NOW, std::slice::from_ref(&plain), &o).allowed(),
        "a grant that does not say so"
    );
    let says = grant("g2", "lia", scope, &[Right::View, Right::RestrictedView]);
    assert!(decide(&lia, Right::View, &f, NOW, std::slice::from_ref(&says), &o).allowed());
    assert!(
        !decide(&lia, Right::Export, &f, NOW, &[says], &o).allowed(),
        "and only the rights it gives"
    );
    f.restricted = false;
    assert!(
        decide(&who(&people, "ann"), Right::View, &f, NOW, &[], &o).allowed(),
        "unrestricted: the role reads it again"
    );
}

#[test]
fn handles_are_written_and_matched_as_platform_colon_id() {
    let h = Handle::new("wecom", "zhang:san");
    assert_eq!(h.to_string(), "wecom:zhang:san");
    let cases = [
        ("the same", "wecom:zhang:san", true),
        ("another id", "wecom:zhang", false),
        ("another platform", "qq:zhang:san", false),
        ("no colon", "wecomzhang:san", false),
        ("empty", "", false),
    ];
    for (name, key, want) in cases {
        assert_eq!(h.is(key), want, "{name}");
    }
}
