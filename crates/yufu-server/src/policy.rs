//! The access rule of every route, in one table. The gate
//! ([`crate::auth::gate`]) refuses a route that has no row here, and the
//! route × role test fails on a documented route the test's own matrix does
//! not list, so a new route cannot slip through unprotected.

use axum::http::Method;
use yufu_access::Permission::{self, *};

/// What a route requires.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rule {
    /// Anyone: health, sign-in, provider callbacks (which check their own
    /// signature).
    Public,
    /// Any signed-in caller (e.g. who am I, sign out).
    Authenticated,
    /// A caller holding the permission.
    Perm(Permission),
}

/// (method, route template, rule).
pub const RULES: &[(&str, &str, Rule)] = &[
    // process and meta
    ("GET", "/healthz", Rule::Public),
    ("GET", "/readyz", Rule::Public),
    ("GET", "/metrics", Rule::Public),
    ("GET", "/api/v1/version", Rule::Public),
    // sign-in
    ("POST", "/api/v1/auth/login", Rule::Public),
    ("POST", "/api/v1/auth/logout", Rule::Authenticated),
    ("GET", "/api/v1/auth/me", Rule::Authenticated),
    ("POST", "/api/v1/portal/login", Rule::Public),
    // staff, tokens, sessions
    ("GET", "/api/v1/users", Rule::Perm(ManageUsers)),
    ("POST", "/api/v1/users", Rule::Perm(ManageUsers)),
    ("PUT", "/api/v1/users/{id}", Rule::Perm(ManageUsers)),
    (
        "PUT",
        "/api/v1/users/{id}/password",
        Rule::Perm(ManageUsers),
    ),
    ("GET", "/api/v1/tokens", Rule::Perm(ManageUsers)),
    ("POST", "/api/v1/tokens", Rule::Perm(ManageUsers)),
    ("DELETE", "/api/v1/tokens/{id}", Rule::Perm(ManageUsers)),
    ("GET", "/api/v1/sessions", Rule::Perm(ManageUsers)),
    ("DELETE", "/api/v1/sessions/{id}", Rule::Perm(ManageUsers)),
    // audit
    ("GET", "/api/v1/audit", Rule::Perm(ReadAudit)),
    ("GET", "/api/v1/audit/verify", Rule::Perm(ReadAudit)),
    // fleet data
    ("GET", "/api/v1/organisations", Rule::Perm(ReadFleet)),
    ("POST", "/api/v1/organisations", Rule::Perm(ManageFleet)),
    (
        "GET",
        "/api/v1/organisations/{id}/sites",
        Rule::Perm(ReadFleet),
    ),
    (
        "GET",
        "/api/v1/organisations/{id}/meters",
        Rule::Perm(ReadFleet),
    ),
    (
        "GET",
        "/api/v1/organisations/{id}/tariffs",
        Rule::Perm(ReadFleet),
    ),
    (
        "POST",
        "/api/v1/organisations/{id}/tariffs",
        Rule::Perm(ManageTariffs),
    ),
    (
        "GET",
        "/api/v1/organisations/{id}/tariffs/{code}",
        Rule::Perm(ReadFleet),
    ),
    ("POST", "/api/v1/sites", Rule::Perm(ManageFleet)),
    ("GET", "/api/v1/sites/{id}", Rule::Perm(ReadFleet)),
    (
        "GET",
        "/api/v1/sites/{id}/protected-windows",
        Rule::Perm(ReadFleet),
    ),
    (
        "PUT",
        "/api/v1/sites/{id}/protected-windows",
        Rule::Perm(ManageFleet),
    ),
    ("POST", "/api/v1/buildings", Rule::Perm(ManageFleet)),
    ("POST", "/api/v1/units", Rule::Perm(ManageFleet)),
    ("POST", "/api/v1/customers", Rule::Perm(ManageFleet)),
    ("GET", "/api/v1/customers", Rule::Perm(ReadFleet)),
    ("GET", "/api/v1/customers/{id}", Rule::Perm(ReadFleet)),
    (
        "PUT",
        "/api/v1/accounts/{id}/portal-password",
        Rule::Perm(ServeCustomers),
    ),
    ("POST", "/api/v1/accounts", Rule::Perm(ManageFleet)),
    ("GET", "/api/v1/accounts/{id}", Rule::Perm(ReadFleet)),
    (
        "GET",
        "/api/v1/accounts/{id}/balance",
        Rule::Perm(ReadFleet),
    ),
    ("GET", "/api/v1/accounts/{id}/ledger", Rule::Perm(ReadFleet)),
    (
        "GET",
        "/api/v1/accounts/{id}/balance-rules",
        Rule::Perm(ReadFleet),
    ),
    (
        "PUT",
        "/api/v1/accounts/{id}/balance-rules",
        Rule::Perm(ManageFleet),
    ),
    (
        "DELETE",
        "/api/v1/accounts/{id}/balance-rules",
        Rule::Perm(ManageFleet),
    ),
    (
        "POST",
        "/api/v1/accounts/{id}/recharges",
        Rule::Perm(Recharge),
    ),
    (
        "GET",
        "/api/v1/accounts/{id}/recharges/{key}/receipt",
        Rule::Perm(Recharge),
    ),
    (
        "POST",
        "/api/v1/accounts/{id}/refunds",
        Rule::Perm(RequestRefund),
    ),
    ("POST", "/api/v1/meters", Rule::Perm(ManageFleet)),
    ("GET", "/api/v1/meters/{id}", Rule::Perm(ReadFleet)),
    (
        "PUT",
        "/api/v1/meters/{id}/assignment",
        Rule::Perm(ManageFleet),
    ),
    ("PUT", "/api/v1/meters/{id}/tariff", Rule::Perm(ManageFleet)),
    ("GET", "/api/v1/meters/{id}/sharing", Rule::Perm(ReadFleet)),
    (
        "PUT",
        "/api/v1/meters/{id}/sharing",
        Rule::Perm(ManageFleet),
    ),
    (
        "DELETE",
        "/api/v1/meters/{id}/sharing",
        Rule::Perm(ManageFleet),
    ),
    ("GET", "/api/v1/meters/{id}/readings", Rule::Perm(ReadFleet)),
    ("GET", "/api/v1/meters/{id}/commands", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/meters/{id}/commands",
        Rule::Perm(OperateMeters),
    ),
    ("GET", "/api/v1/meters/{id}/alarms", Rule::Perm(ReadFleet)),
    (
        "GET",
        "/api/v1/meters/{id}/connectivity",
        Rule::Perm(ReadFleet),
    ),
    (
        "POST",
        "/api/v1/meters/{id}/device-token",
        Rule::Perm(OperateMeters),
    ),
    (
        "DELETE",
        "/api/v1/meters/{id}/device-token",
        Rule::Perm(OperateMeters),
    ),
    (
        "POST",
        "/api/v1/meters/{id}/safety-hold/release",
        Rule::Perm(OperateMeters),
    ),
    ("GET", "/api/v1/alarms", Rule::Perm(ReadFleet)),
    // one alarm, and handling it (site scope checked by the handlers)
    ("GET", "/api/v1/alarms/{id}", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/alarms/{id}/acknowledge",
        Rule::Perm(OperateMeters),
    ),
    (
        "POST",
        "/api/v1/alarms/{id}/resolve",
        Rule::Perm(OperateMeters),
    ),
    ("GET", "/api/v1/connectivity", Rule::Perm(ReadFleet)),
    ("POST", "/api/v1/readings", Rule::Perm(SubmitReadings)),
    // payments, refunds, finance
    ("POST", "/api/v1/payments/{provider}/callback", Rule::Public),
    ("GET", "/api/v1/payments", Rule::Perm(ReadFinance)),
    (
        "POST",
        "/api/v1/reconciliation/{provider}",
        Rule::Perm(ReadFinance),
    ),
    ("GET", "/api/v1/refunds", Rule::Perm(ReadFinance)),
    (
        "POST",
        "/api/v1/refunds/{id}/approve",
        Rule::Perm(ApproveRefund),
    ),
    (
        "POST",
        "/api/v1/refunds/{id}/reject",
        Rule::Perm(ApproveRefund),
    ),
    ("GET", "/api/v1/finance/journal", Rule::Perm(ReadFinance)),
    ("GET", "/api/v1/finance/settlement", Rule::Perm(ReadFinance)),
    // bulk data
    ("POST", "/api/v1/import/{kind}", Rule::Perm(Import)),
    ("GET", "/api/v1/export/{kind}", Rule::Perm(Export)),
    // webhooks
    ("GET", "/api/v1/webhooks", Rule::Perm(ManageWebhooks)),
    ("POST", "/api/v1/webhooks", Rule::Perm(ManageWebhooks)),
    (
        "DELETE",
        "/api/v1/webhooks/{id}",
        Rule::Perm(ManageWebhooks),
    ),
    (
        "GET",
        "/api/v1/webhooks/{id}/deliveries",
        Rule::Perm(ManageWebhooks),
    ),
    // the customer portal
    ("GET", "/api/v1/portal/me", Rule::Perm(SelfService)),
    (
        "GET",
        "/api/v1/portal/accounts/{id}/ledger",
        Rule::Perm(SelfService),
    ),
    (
        "POST",
        "/api/v1/portal/payment-orders",
        Rule::Perm(SelfService),
    ),
    ("POST", "/api/v1/portal/tickets", Rule::Perm(SelfService)),
    ("GET", "/api/v1/portal/tickets", Rule::Perm(SelfService)),
    // customer service answers the portal's tickets
    ("GET", "/api/v1/tickets", Rule::Perm(ServeCustomers)),
    (
        "POST",
        "/api/v1/tickets/{id}/reply",
        Rule::Perm(ServeCustomers),
    ),
    // device lifecycle (issue 8)
    ("GET", "/api/v1/device-models", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/device-models",
        Rule::Perm(ManageProcurement),
    ),
    ("GET", "/api/v1/suppliers", Rule::Perm(ReadFleet)),
    ("POST", "/api/v1/suppliers", Rule::Perm(ManageProcurement)),
    ("GET", "/api/v1/suppliers/{id}", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/suppliers/{id}/qualifications",
        Rule::Perm(ManageProcurement),
    ),
    ("GET", "/api/v1/contracts", Rule::Perm(ReadFleet)),
    ("POST", "/api/v1/contracts", Rule::Perm(ManageProcurement)),
    ("GET", "/api/v1/contracts/{id}", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/contracts/{id}/approve",
        Rule::Perm(ApproveProcurement),
    ),
    (
        "POST",
        "/api/v1/contracts/{id}/cancel",
        Rule::Perm(ApproveProcurement),
    ),
    (
        "POST",
        "/api/v1/contracts/{id}/deliveries",
        Rule::Perm(ManageProcurement),
    ),
    ("GET", "/api/v1/deliveries/{id}", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/deliveries/{id}/serials",
        Rule::Perm(ManageProcurement),
    ),
    ("GET", "/api/v1/devices", Rule::Perm(ReadFleet)),
    ("GET", "/api/v1/meters/{id}/device", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/meters/{id}/acceptance",
        Rule::Perm(ManageProcurement),
    ),
    // The permission depends on the body's action (manage_procurement,
    // install_devices or manage_devices): the handler checks it
    // (lifecycle_api::act); the table can only name the least of them.
    (
        "POST",
        "/api/v1/meters/{id}/lifecycle",
        Rule::Perm(ReadFleet),
    ),
    (
        "POST",
        "/api/v1/meters/{id}/remove",
        Rule::Perm(InstallDevices),
    ),
    (
        "POST",
        "/api/v1/meters/{id}/scrap",
        Rule::Perm(ManageDevices),
    ),
    (
        "POST",
        "/api/v1/meters/{id}/commission",
        Rule::Perm(InstallDevices),
    ),
    (
        "POST",
        "/api/v1/meters/{id}/swap",
        Rule::Perm(InstallDevices),
    ),
    ("GET", "/api/v1/certifications", Rule::Perm(ReadFleet)),
    ("POST", "/api/v1/certifications", Rule::Perm(ManageDevices)),
    (
        "POST",
        "/api/v1/certifications/{id}/revoke",
        Rule::Perm(ManageDevices),
    ),
    // installations check site scope themselves (auth::SCOPED_ROUTES)
    ("GET", "/api/v1/installations", Rule::Perm(ReadFleet)),
    ("POST", "/api/v1/installations", Rule::Perm(ManageDevices)),
    ("GET", "/api/v1/installations/{id}", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/installations/{id}/complete",
        Rule::Perm(InstallDevices),
    ),
    (
        "POST",
        "/api/v1/installations/{id}/cancel",
        Rule::Perm(ManageDevices),
    ),
    ("GET", "/api/v1/replacement/due", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/replacement/cost-benefit",
        Rule::Perm(ReadFleet),
    ),
    ("GET", "/api/v1/rollouts", Rule::Perm(ReadFleet)),
    ("POST", "/api/v1/rollouts", Rule::Perm(ManageDevices)),
    ("GET", "/api/v1/rollouts/{id}", Rule::Perm(ReadFleet)),
    (
        "POST",
        "/api/v1/rollouts/{id}/approve-pilot",
        Rule::Perm(ManageDevices),
    ),
    ("GET", "/api/v1/sites/{id}/demand", Rule::Perm(ReadFleet)),
    // the payment simulator's "Pay" (demo only; 404 unless switched on):
    // it plays the provider, whose hosted page anyone with the link opens
    ("POST", "/api/v1/paysim/{id}/pay", Rule::Public),
];

/// The rule of a route, `None` when the table has no row (refused).
pub fn rule(method: &Method, route: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(m, r, _)| *m == method.as_str() && *r == route)
        .map(|(_, _, rule)| *rule)
}

/// The methods the table has for a route (with HEAD beside GET, which axum
/// answers with the GET handler), for the `Allow` header of a 405.
pub fn methods(route: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (m, r, _) in RULES {
        if *r == route {
            out.push(*m);
            if *m == "GET" {
                out.push("HEAD");
            }
        }
    }
    out
}
