//! Every string of the web UI, in Simplified Chinese and English.
//!
//! One macro declares each string once with both translations, so a string missing in
//! either language does not compile. A test checks that no English string holds Chinese
//! and that no Chinese string was left as its English text.

macro_rules! strings {
    ($($key:ident: $zh:literal, $en:literal;)*) => {
        /// The UI's strings in one language.
        pub struct Strings { $(pub $key: &'static str,)* }
        pub static ZH: Strings = Strings { $($key: $zh,)* };
        pub static EN: Strings = Strings { $($key: $en,)* };
        /// Every (key, zh, en), for the tests.
        #[cfg(test)]
        pub const ALL: &[(&str, &str, &str)] = &[$((stringify!($key), $zh, $en),)*];
    };
}

strings! {
    html_lang: "zh-CN", "en";
    lang_name: "中文", "English";
    other_lang_name: "English", "中文";
    other_lang: "en", "zh";
    switch_lang: "切换语言", "Switch language";
    skip_to_content: "跳到正文", "Skip to content";
    product_tagline: "聊天记录存证与检索", "Chat-record archive";
    nav_search: "检索", "Search";
    nav_timeline: "案件时间线", "Case timeline";
    nav_requests: "调取申请", "Requests";
    nav_audit: "审计日志", "Audit log";
    nav_users: "用户与角色", "Users and roles";
    nav_integrity: "完整性", "Integrity";
    nav_identities: "身份关联", "Identity links";
    nav_dashboard: "服务质量", "Service quality";
    nav_alerts: "实时告警", "Live alerts";
    alerts_title: "实时 SLA 告警", "Live SLA alerts";
    alerts_intro: "客户消息超过阈值未回复即告警：蓝色提醒坐席，黄色升级组长，红色升级主管；坐席回复后自动解除。", "A customer left unanswered past a threshold raises an alert: blue goes to the agent, yellow to the team lead, red to the manager; it resolves itself once an agent replies.";
    feed_connecting: "正在连接实时推送…", "Connecting to the live feed…";
    feed_live: "实时推送已连接", "Live feed connected";
    feed_offline: "实时推送已断开，正在重连…", "Live feed lost; reconnecting…";
    customers_waiting: "位客户正在等待回复", "customers waiting for a reply";
    alerts_open: "未解除", "Open";
    alerts_resolved: "最近解除", "Recently resolved";
    alerts_none: "没有未解除的告警。", "No open alert.";
    col_tier: "级别", "Tier";
    col_notify: "通知", "Notified";
    col_wait: "等待", "Waiting";
    col_ack: "确认", "Acknowledged";
    col_resolved: "解除", "Resolved";
    col_source: "来源", "Source";
    col_messages: "消息数", "Messages";
    col_last: "最近一条", "Last message";
    tier_blue: "蓝色", "Blue";
    tier_yellow: "黄色", "Yellow";
    tier_red: "红色", "Red";
    source_stalled: "来源中断", "Source stalled";
    source_delayed: "来源延迟", "Source delayed";
    source_gap: "来源缺号", "Gap in a source";
    source_live: "正常", "Live";
    sources_title: "采集延迟（发送到入库）", "Capture latency (sent to received)";
    sources_none: "服务启动以来还没有实时来源写入。", "No live source has sent anything since the server started.";
    acked_by: "已确认：", "Acknowledged by";
    do_ack: "确认", "Acknowledge";
    chain_manager: "主管", "Manager";
    resolved_answered: "已回复", "answered";
    resolved_resumed: "来源恢复", "source resumed";
    resolved_confirmed: "客户已确认", "customer confirmed";
    resolved_expired: "超过监控时限", "no longer watched";
    sign_out: "退出登录", "Sign out";
    signed_in_as: "当前用户", "Signed in as";
    loading: "加载中…", "Loading…";
    demo_label: "演示账号", "Demo account";
    urole_agent: "客服", "Agent";
    urole_team_lead: "组长", "Team lead";
    urole_legal: "法务", "Legal";
    urole_executive: "高管", "Executive";
    urole_auditor: "审计员", "Auditor";
    urole_admin: "管理员", "Administrator";

    login_title: "登录", "Sign in";
    login_heading: "登录 chatvault", "Sign in to chatvault";
    username: "用户名", "User name";
    password: "密码", "Password";
    totp_code: "动态验证码（6 位）", "Authenticator code (6 digits)";
    totp_hint: "法务、高管、审计和管理员账号必须填写身份验证器中的验证码。", "Legal, executive, auditor and admin accounts must enter the code from their authenticator app.";
    sign_in: "登录", "Sign in";
    enrol_title: "绑定身份验证器", "Set up your authenticator";
    enrol_intro: "此账号需要双因素认证。请用身份验证器（如 Google Authenticator、Microsoft Authenticator、FreeOTP）扫描二维码，然后输入显示的 6 位验证码完成绑定。", "This account needs two-factor sign-in. Scan the QR code with an authenticator app (Google Authenticator, Microsoft Authenticator, FreeOTP…), then enter the 6-digit code it shows.";
    enrol_manual: "无法扫码？手动输入密钥：", "Cannot scan? Enter this key by hand:";
    enrol_once: "二维码只在绑定完成前显示；绑定后再也不会显示。", "The QR code is shown only until you confirm it; it is never shown again.";
    enrol_confirm: "确认并登录", "Confirm and sign in";
    qr_alt: "身份验证器二维码", "QR code for the authenticator app";

    search_title: "检索", "Search";
    query: "关键词", "Query";
    query_placeholder: "如：退款 -退货、\"iphone 13\"、发票 OR invoice", "e.g. 退款 -退货, \"iphone 13\", invoice OR 发票";
    query_help: "精确子串匹配：空格表示同时包含，OR 表示任一，-词 表示排除，引号内为短语。", "Exact substring match: spaces mean all of, OR means either, -word excludes, quotes make a phrase.";
    from: "开始日期", "From";
    to: "结束日期", "To";
    participant: "参与人", "Participant";
    participant_placeholder: "账号 ID 或昵称，如 a-1001、张伟", "id or display name, e.g. a-1001, Emily Chen";
    conversation: "会话", "Conversation";
    conversation_placeholder: "平台:会话ID，如 wecom:conv-0000001", "platform:id, e.g. wecom:conv-0000001";
    platform: "平台", "Platform";
    kind: "类型", "Kind";
    any: "全部", "Any";
    do_search: "检索", "Search";
    results_count: "条结果", "results";
    results_shown: "显示第", "showing";
    no_results: "没有找到匹配的消息。换个关键词，或放宽时间和筛选条件。", "No message matches. Try another keyword, or widen the dates and filters.";
    search_empty: "输入关键词开始检索；留空则列出可见范围内的全部消息。", "Type a keyword to search; leave it empty to list every message within your reach.";
    prev_page: "上一页", "Previous";
    next_page: "下一页", "Next";
    page: "页", "page";
    of: "共", "of";
    open_context: "查看上下文", "Open in context";
    index_lag: "条消息尚在建立索引，暂时检索不到。", "messages are still being indexed and cannot be found yet.";

    conv_title: "会话", "Conversation";
    messages_total: "条消息", "messages";
    earlier: "更早的消息", "Earlier messages";
    later: "更新的消息", "Later messages";
    recalled: "已撤回", "Recalled";
    edited: "已编辑", "Edited";
    original: "原文", "Original";
    recalled_at: "撤回于", "recalled at";
    edited_to: "改为", "edited to";
    event_recall: "撤回了一条消息", "recalled a message";
    event_edit: "编辑了一条消息", "edited a message";
    download: "下载", "Download";
    export_label: "导出（审计留痕）", "Export (audited)";
    attachment_preview: "图片预览", "Image preview";
    masked_note: "按你的角色，个人信息（手机号、身份证号、银行卡号、邮箱）已打码。", "Personal data (phone, ID, bank card and e-mail numbers) is masked for your role.";
    role_customer: "客户", "Customer";
    role_agent: "客服", "Agent";
    role_system: "系统", "System";
    role_unknown: "未知", "Unknown";
    highlighted_hit: "检索命中", "Search hit";
    empty_conversation: "这个会话里没有你可见的消息。", "No message in this conversation is within your reach.";

    timeline_title: "案件时间线", "Case timeline";
    timeline_intro: "把多个会话、多个平台中与这些参与人有关的消息按时间合并。", "Messages from several conversations and platforms that involve these participants, merged by time.";
    participants: "参与人（每行一个 平台:ID）", "Participants (one platform:id per line)";
    conversations: "会话（每行一个 平台:会话ID）", "Conversations (one platform:id per line)";
    build_timeline: "生成时间线", "Build timeline";
    timeline_empty: "填写至少一个参与人或会话。", "Give at least one participant or conversation.";
    export_results: "导出这些结果", "Export these results";
    export_format: "格式", "Format";
    do_export: "导出", "Export";
    format_evidence: "证据包（可离线验证）", "evidence package (verifiable offline)";
    export_note: "导出按你的导出权限逐条判定，并记入审计日志。证据包需要导出和查看个人信息两项权限。", "Each message is decided under your export right, and the export is audited. An evidence package needs both the export and the PII-view rights.";
    linked_handles: "已按身份关联包含", "Included through identity links";
    identities_title: "身份关联", "Identity links";
    identities_intro: "把同一个人在不同平台上的账号关联起来，案件时间线会一并检索。每次关联和解除都记入审计日志。", "Link one person's handles on different platforms; the case timeline then follows them. Every link and unlink is audited.";
    link_name: "姓名（可选）", "Name (optional)";
    do_link: "关联", "Link";
    do_unlink: "解除关联", "Unlink";
    links_none: "还没有身份关联。", "No identity links yet.";
    linked_by: "关联人", "Linked by";
    suggestions_title: "建议的关联", "Suggested links";
    suggestions_intro: "依据相同手机号、邮箱、ID 或显示名推测，置信度只是启发式估计：关联前请核实。", "Guessed from the same mobile number, e-mail, id or display name. The confidence is a heuristic: check before linking.";
    suggestions_more: "条置信度较低的建议未显示（完整列表见 API /api/v1/identities/suggestions）。", "more suggestions of lower confidence are not shown (the whole list: GET /api/v1/identities/suggestions).";
    suggestions_none: "没有建议的关联。", "No suggested links.";
    confidence: "置信度", "Confidence";
    link_reason: "依据", "Reason";
    link_done: "已关联。", "Linked.";
    unlink_done: "已解除关联。", "Unlinked.";
    reason_phone: "相同手机号", "the same mobile number";
    reason_email: "相同邮箱", "the same e-mail address";
    reason_id: "相同 ID", "the same id";
    reason_name: "相同显示名", "the same display name";
    link_this: "确认关联", "Link these";
    dashboard_title: "服务质量看板", "Service-quality dashboard";
    dashboard_intro: "由原始消息流计算：首次响应、SLA、时段、话术与风险词。口径见 docs/metrics.md。", "Computed from the raw message stream: first response, SLA, hours, scripts and risk words. Definitions: docs/metrics.md.";
    business_hours_only: "仅计工作时间", "Business hours only";
    apply_filters: "应用", "Apply";
    kpi_conversations: "会话数", "Conversations";
    kpi_sla: "SLA 达标率", "SLA met";
    kpi_frt_median: "首次响应中位数", "First response, median";
    kpi_frt_p90: "首次响应 P90", "First response, p90";
    kpi_unanswered: "未回复会话", "Unanswered conversations";
    kpi_quality: "平均质量分", "Mean quality score";
    chart_histogram: "响应时间分布", "Response times";
    series_frt: "首次响应", "First responses";
    series_all: "全部响应", "All responses";
    chart_heatmap: "响应中位数（星期 × 小时）", "Median response (weekday × hour)";
    chart_topics: "热门问题", "Top issues";
    agents_title: "坐席排名", "Agent ranking";
    col_agent: "坐席", "Agent";
    col_responses: "响应数", "Responses";
    col_median: "中位数（秒）", "Median (s)";
    col_p90: "P90（秒）", "p90 (s)";
    col_sla: "SLA 达标", "SLA met";
    col_quality: "质量分", "Quality";
    col_waited: "等待（秒）", "Waited (s)";
    col_threshold: "阈值（秒）", "Threshold (s)";
    new_agent: "新人", "new";
    cohorts_title: "新人与老员工", "New and experienced agents";
    cohort_new: "新人", "New";
    cohort_experienced: "老员工", "Experienced";
    col_agents: "人数", "Agents";
    breaches_title: "超时明细", "SLA breaches";
    breaches_shown: "条超时，显示等待最久的", "breaches; the longest waits first, showing";
    unanswered_tag: "未回复", "unanswered";
    scripts_title: "标准话术使用率", "Standard scripts";
    script_greeting: "开场白", "Greeting";
    script_closing: "结束语", "Closing";
    script_both: "两者都有", "Both";
    risk_title: "风险词命中", "Risk words";
    download_csv: "下载 CSV", "Download CSV";
    no_report_data: "这个时间范围内没有会话。", "No conversation in this range.";
    weekdays: "周一,周二,周三,周四,周五,周六,周日", "Mon,Tue,Wed,Thu,Fri,Sat,Sun";
    timeline_none: "在你可见的范围内没有这些参与人的消息。", "No message of these participants is within your reach.";

    requests_title: "调取申请", "Retrieval requests";
    new_request: "新建调取申请", "New retrieval request";
    scope: "调取范围", "Scope";
    keywords: "关键词（每行一个，可选）", "Keywords (one per line, optional)";
    keywords_short: "关键词", "keywords";
    reason: "调取理由", "Reason";
    case_number: "案号", "Case number";
    rights: "申请权限", "Rights";
    right_view: "查看", "View";
    right_export: "导出与下载附件", "Export and download attachments";
    right_pii: "查看未打码的个人信息", "See personal data unmasked";
    right_restricted: "读取仅存储状态的数据（已撤回处理同意）", "Read storage-only data (processing withdrawn)";
    file_request: "提交申请", "File request";
    my_requests: "我的申请", "My requests";
    inbox: "待我审批", "Approvals inbox";
    inbox_empty: "没有待你审批的申请。", "No request is waiting for you.";
    no_requests: "还没有申请。", "No requests yet.";
    requester: "申请人", "Requester";
    filed: "提交时间", "Filed";
    status: "状态", "Status";
    status_pending: "待审批", "Pending";
    status_approved: "已批准", "Approved";
    status_rejected: "已驳回", "Rejected";
    decided_by: "审批人", "Decided by";
    comment: "审批意见", "Comment";
    expires: "有效期至", "Expires";
    approve: "批准", "Approve";
    reject: "驳回", "Reject";
    grants_title: "有效授权", "Active grants";
    no_grants: "没有有效授权。", "No active grants.";
    holder: "持有人", "Holder";
    approved_by: "批准人", "Approved by";
    revoke: "撤销", "Revoke";
    request_filed: "申请已提交，等待审批。", "Request filed; it awaits approval.";
    request_approved: "已批准，授权已生效。", "Approved: the grant is active.";
    request_rejected: "已驳回。", "Rejected.";
    grant_revoked: "授权已撤销。", "Grant revoked.";
    all_requests: "全部申请", "All requests";

    audit_title: "审计日志", "Audit log";
    actor: "操作人", "Actor";
    action: "操作", "Action";
    flagged_only: "只看异常", "Flagged only";
    filter: "筛选", "Filter";
    time: "时间", "Time";
    target: "对象", "Target";
    result: "结果", "Result";
    flags: "异常标记", "Flags";
    details: "详情", "Details";
    verify_chain: "校验哈希链", "Verify chain";
    chain_ok: "哈希链完整：所有条目和签名检查点均通过校验。", "The chain is intact: every entry and signed checkpoint verifies.";
    chain_failed: "哈希链校验失败：", "The chain does not verify:";
    entries: "条目", "entries";
    checkpoints: "检查点", "checkpoints";
    verifier_key: "验证公钥", "Verifier key";
    no_entries: "没有符合条件的审计条目。", "No audit entry matches.";
    activity_chart: "操作数随时间（红色为异常）", "Events over time (red: flagged)";
    shown_newest: "显示最近的条目", "Newest entries shown";
    chart_ok: "正常", "Normal";
    chart_flagged: "异常", "Flagged";
    result_ok: "成功", "ok";
    result_denied: "拒绝", "denied";
    result_failed: "失败", "failed";

    nav_sources: "采集来源", "Capture sources";
    capture_title: "实时采集来源", "Live capture sources";
    sources_intro: "每个来源在 /hooks/名称 接收平台推送；签名不符的请求被拒绝，无法解析的事件进入隔离区，可在升级后重放。计数自服务启动起。", "Each source receives its platform's pushes at /hooks/NAME; requests that fail the signature are refused, events that cannot be mapped are quarantined and can be replayed after an upgrade. Figures count from the server's start.";
    source_name: "名称", "Name";
    source_kind: "类型", "Kind";
    source_received: "收到", "Received";
    source_stored: "已存", "Stored";
    source_duplicates: "重复", "Duplicates";
    source_refused: "拒绝", "Refused";
    source_quarantined: "隔离", "Quarantined";
    source_gaps: "缺号", "Gaps";
    source_last_event: "最近事件", "Last event";
    source_latency: "采集延迟 p50 / p99", "Capture latency p50 / p99";
    source_held: "待处理", "held";
    source_active: "活跃", "Live";
    source_idle: "空闲", "Idle";
    source_attention: "需处理", "Needs attention";
    source_replay: "重放隔离区", "Replay quarantine";
    source_remove: "删除", "Remove";
    source_quarantine: "隔离区", "Quarantine";
    source_received_at: "收到时间", "Received";
    source_bytes: "字节", "Bytes";
    source_reason: "原因", "Reason";
    no_sources: "尚无采集来源。", "No capture source yet.";
    add_source: "添加来源", "Add a source";
    add_source_help: "只填写该类型需要的字段；密钥加密保存，之后不再显示。", "Fill in only the fields its kind needs; secrets are sealed and never shown again.";
    source_poll: "Telegram 轮询（无公网地址时）", "Telegram polling (no public URL)";
    source_added: "已添加来源", "Source added:";
    source_removed: "已删除来源", "Source removed:";
    replay_released: "已重放并入库", "replayed and stored";
    replay_kept: "仍在隔离", "still quarantined";
    users_title: "用户与角色", "Users and roles";
    add_user: "添加用户", "Add user";
    role: "角色", "Role";
    team: "团队", "Team";
    handles: "账号（每行一个 平台:ID）", "Handles (one platform:id per line)";
    handles_short: "账号", "Handles";
    password_optional: "密码（留空则自动生成，至少 12 位）", "Password (leave empty to generate; 12 characters or more)";
    require_totp: "要求双因素认证", "Require TOTP";
    totp: "双因素", "TOTP";
    totp_on: "已绑定", "Enrolled";
    totp_pending_label: "待绑定", "Pending";
    totp_off: "未启用", "Off";
    state: "状态", "State";
    active: "正常", "Active";
    frozen: "已冻结", "Frozen";
    locked: "已锁定", "Locked";
    freeze: "冻结", "Freeze";
    unfreeze: "解冻", "Unfreeze";
    reset_totp: "重置双因素", "Reset TOTP";
    freeze_reason: "冻结原因", "Reason for freezing";
    created: "创建时间", "Created";
    user_added: "用户已创建。以下信息只显示这一次：", "User created. This is shown only once:";
    generated_password: "生成的密码", "Generated password";
    totp_reset_done: "双因素已重置：该用户下次登录时扫码重新绑定。", "TOTP reset: the user enrols again at the next sign-in.";
    user_frozen: "已冻结：会话已结束，令牌已撤销。", "Frozen: sessions ended and tokens revoked.";
    user_unfrozen: "已解冻。", "Unfrozen.";
    enrol_at_login: "该用户首次登录时会看到二维码并完成绑定。", "The user sees the QR code and enrols at the first sign-in.";

    integrity_title: "完整性", "Integrity";
    archive_id: "归档 ID", "Archive ID";
    messages: "消息数", "Messages";
    latest_checkpoint: "最新签名检查点", "Latest signed checkpoint";
    tree_size: "日志大小", "Tree size";
    root_hash: "根哈希", "Root hash";
    signed_at: "签名时间", "Signed at";
    key_fingerprint: "签名公钥指纹", "Signing key fingerprint";
    no_checkpoint: "还没有检查点：归档为空。", "No checkpoint yet: the archive is empty.";
    last_verify: "最近一次校验", "Last verification";
    never_verified: "尚未在服务中校验过。", "Not verified through the server yet.";
    verify_now: "立即校验归档", "Verify the archive now";
    verify_ok: "校验通过：每条消息都重新解密、重新计算哈希，并与签名检查点一致。", "Verified: every message decrypted, re-hashed and matched against the signed checkpoints.";
    verify_failed: "校验失败：", "Verification failed:";
    by: "操作人", "by";
    audit_chain: "审计哈希链", "Audit chain";
    unsigned_tail: "条消息尚未进入签名检查点", "messages not yet under a signed checkpoint";

    error_title: "出错了", "Something went wrong";
    error_code: "错误代码", "Error code";
    back_home: "返回首页", "Back to the start";
    sign_in_again: "重新登录", "Sign in again";
    err_denied: "超出你的可见范围：你的角色和有效授权都不包含它。如需查看，请提交调取申请。", "Outside your reach: neither your role nor an active grant covers it. File a retrieval request to see it.";
    err_role: "你的角色不能使用此页面。", "Your role cannot use this page.";
    err_bad_login: "用户名或密码错误。", "Wrong user name or password.";
    err_totp_required: "请输入身份验证器中的 6 位验证码。", "Enter the 6-digit code from your authenticator app.";
    err_totp_invalid: "验证码错误、已过期或已被使用。", "The code is wrong, expired or already used.";
    err_throttled: "失败次数过多，请稍后再试。", "Too many failed attempts: try again later.";
    err_locked: "账号因多次登录失败被锁定，请联系管理员解锁。", "The account is locked after too many failed sign-ins: ask an admin to unlock it.";
    err_frozen: "账号已被冻结。", "The account is frozen.";
    err_session: "未登录或会话已过期，请重新登录。", "Not signed in, or the session expired: sign in again.";
    err_csrf: "表单已过期（CSRF 校验失败），请刷新页面后重试。", "The form expired (CSRF check failed): reload the page and try again.";
    err_not_found: "找不到这个页面。", "There is no such page.";
    err_enrolment: "绑定已过期，请重新登录。", "The enrolment expired: sign in again.";
    err_input: "输入有误：", "Invalid input:";
    err_internal: "服务器内部错误。", "Internal server error.";
}

/// The two languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header that the UI speaks, by quality.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut langs: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let tag = it.next()?.trim().to_ascii_lowercase();
                let q = it
                    .find_map(|p| {
                        p.trim()
                            .strip_prefix("q=")
                            .and_then(|q| q.parse::<f32>().ok())
                    })
                    .unwrap_or(1.0);
                let lang = if tag.starts_with("zh") {
                    Lang::Zh
                } else if tag.starts_with("en") {
                    Lang::En
                } else {
                    return None;
                };
                (q > 0.0).then_some((q, lang))
            })
            .collect();
        langs.sort_by(|a, b| b.0.total_cmp(&a.0));
        langs.first().map(|l| l.1)
    }

    /// The message for an error code, when the UI has its own words for it.
    pub fn error_text(self, code: &str) -> Option<&'static str> {
        let t = self.strings();
        Some(match code {
            "access.denied" => t.err_denied,
            "access.role" | "auth.scope" => t.err_role,
            "auth.invalid" => t.err_bad_login,
            "auth.totp_required" => t.err_totp_required,
            "auth.totp_invalid" => t.err_totp_invalid,
            "auth.throttled" => t.err_throttled,
            "auth.locked" => t.err_locked,
            "auth.frozen" => t.err_frozen,
            "auth.session" => t.err_session,
            "auth.csrf" => t.err_csrf,
            "auth.enrolment_expired" => t.err_enrolment,
            "route.unknown" | "not_found" => t.err_not_found,
            "internal" => t.err_internal,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_cjk(s: &str) -> bool {
        s.chars().any(|c| {
            ('\u{4e00}'..='\u{9fff}').contains(&c)
                || ('\u{3000}'..='\u{303f}').contains(&c)
                || ('\u{ff00}'..='\u{ffef}').contains(&c)
        })
    }

    #[test]
    fn every_string_is_translated() {
        // Strings that are the same in both languages on purpose.
        let same = ["html_lang"];
        // The English side may name Chinese on purpose (the language's own name, examples).
        let en_may_hold_chinese = ["lang_name", "other_lang_name", "query_placeholder"];
        for (key, zh, en) in ALL {
            assert!(!zh.is_empty() && !en.is_empty(), "{key} is empty");
            if !en_may_hold_chinese.contains(key) && *key != "other_lang_name" {
                assert!(!has_cjk(en), "{key}: the English text holds Chinese: {en}");
            }
            if !same.contains(key) && !["other_lang", "lang_name", "other_lang_name"].contains(key)
            {
                assert_ne!(zh, en, "{key} is not translated");
                assert!(has_cjk(zh), "{key}: the Chinese text has no Chinese: {zh}");
            }
        }
    }

    #[test]
    fn accept_language_picks_by_quality() {
        let cases = [
            ("chinese browser", "zh-CN,zh;q=0.9,en;q=0.8", Some(Lang::Zh)),
            ("english browser", "en-US,en;q=0.9", Some(Lang::En)),
            ("quality order", "en;q=0.5, zh-TW;q=0.9", Some(Lang::Zh)),
            ("unsupported first", "fr-FR, en;q=0.7", Some(Lang::En)),
            ("none supported", "fr, de", None),
            ("refused", "zh;q=0, en;q=0.1", Some(Lang::En)),
            ("garbage", ";;;,", None),
        ];
        for (name, header, want) in cases {
            assert_eq!(Lang::from_accept_language(header), want, "{name}");
        }
    }
}
