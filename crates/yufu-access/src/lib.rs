#![doc = include_str!("../README.md")]

use std::collections::BTreeSet;
use std::fmt;

use yufu_domain::{CustomerId, OrganisationId, Role, SiteId, StaffUserId};

pub mod audit;
pub mod throttle;

/// One thing a caller may be allowed to do. Routes name the permission they
/// need; roles hold sets of them ([`permissions_of`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Permission {
    /// Read the fleet: organisations, the site tree, meters, accounts,
    /// balances, ledgers, readings, commands, alarms, connectivity, tariffs.
    /// Customer details are masked unless the caller also has `ReadPersonal`.
    ReadFleet,
    /// See customers' personal data unmasked.
    ReadPersonal,
    /// Create and change the fleet: organisations, sites, buildings, units,
    /// customers, accounts, meters, assignments, sharing, balance rules.
    ManageFleet,
    /// Publish tariff versions.
    ManageTariffs,
    /// Submit meter readings (integrations, handheld readers).
    SubmitReadings,
    /// Take a counter recharge (柜台充值).
    Recharge,
    /// Send commands to meters, release safety holds, issue device tokens.
    OperateMeters,
    /// Customer service: set a customer's portal password, search by phone.
    ServeCustomers,
    /// Ask for a refund or a reversal (needs a second person to approve).
    RequestRefund,
    /// Approve or reject someone else's refund or reversal.
    ApproveRefund,
    /// Finance reports: payments, reconciliation, journal and settlement exports.
    ReadFinance,
    /// Bulk CSV import.
    Import,
    /// Bulk CSV export (carries personal data).
    Export,
    /// Staff users, API tokens and sessions.
    ManageUsers,
    /// Read and verify the audit log.
    ReadAudit,
    /// Outbound webhook subscriptions.
    ManageWebhooks,
    /// Procurement (设备采购): the catalogue, suppliers, purchase contract
    /// drafts, deliveries, serial imports and acceptance checks.
    ManageProcurement,
    /// Approve or cancel a purchase contract someone of another role drafted.
    ApproveProcurement,
    /// Device management: installation plans, certifications, replacement
    /// rollouts, retirement and scrapping.
    ManageDevices,
    /// Field work: complete installations, commission, swap meters, report
    /// faults and repairs, remove devices.
    InstallDevices,
    /// The customer portal: one's own accounts only.
    SelfService,
}

impl Permission {
    pub const ALL: [Permission; 21] = [
        Permission::ReadFleet,
        Permission::ReadPersonal,
        Permission::ManageFleet,
        Permission::ManageTariffs,
        Permission::SubmitReadings,
        Permission::Recharge,
        Permission::OperateMeters,
        Permission::ServeCustomers,
        Permission::RequestRefund,
        Permission::ApproveRefund,
        Permission::ReadFinance,
        Permission::Import,
        Permission::Export,
        Permission::ManageUsers,
        Permission::ReadAudit,
        Permission::ManageWebhooks,
        Permission::ManageProcurement,
        Permission::ApproveProcurement,
        Permission::ManageDevices,
        Permission::InstallDevices,
        Permission::SelfService,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadFleet => "read_fleet",
            Permission::ReadPersonal => "read_personal",
            Permission::ManageFleet => "manage_fleet",
            Permission::ManageTariffs => "manage_tariffs",
            Permission::SubmitReadings => "submit_readings",
            Permission::Recharge => "recharge",
            Permission::OperateMeters => "operate_meters",
            Permission::ServeCustomers => "serve_customers",
            Permission::RequestRefund => "request_refund",
            Permission::ApproveRefund => "approve_refund",
            Permission::ReadFinance => "read_finance",
            Permission::Import => "import",
            Permission::Export => "export",
            Permission::ManageUsers => "manage_users",
            Permission::ReadAudit => "read_audit",
            Permission::ManageWebhooks => "manage_webhooks",
            Permission::ManageProcurement => "manage_procurement",
            Permission::ApproveProcurement => "approve_procurement",
            Permission::ManageDevices => "manage_devices",
            Permission::InstallDevices => "install_devices",
            Permission::SelfService => "self_service",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a principal is acting as: a staff role or a customer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Actor {
    Staff(Role),
    Customer,
}

impl Actor {
    /// Every actor, staff roles first: the rows of the route × role matrix.
    pub fn all() -> Vec<Actor> {
        Role::ALL
            .iter()
            .map(|r| Actor::Staff(*r))
            .chain([Actor::Customer])
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Staff(r) => r.as_str(),
            Actor::Customer => "customer",
        }
    }
}

/// The permissions of an actor. The one table of who may do what: change it
/// here and the route × role test says which routes moved.
pub fn permissions_of(actor: Actor) -> &'static [Permission] {
    use Permission::*;
    match actor {
        Actor::Staff(Role::Admin) => &[
            ReadFleet,
            ReadPersonal,
            ManageFleet,
            ManageTariffs,
            SubmitReadings,
            Recharge,
            OperateMeters,
            ServeCustomers,
            RequestRefund,
            ApproveRefund,
            ReadFinance,
            Import,
            Export,
            ManageUsers,
            ReadAudit,
            ManageWebhooks,
            ManageProcurement,
            ApproveProcurement,
            ManageDevices,
            InstallDevices,
        ],
        Actor::Staff(Role::Manager) => &[
            ReadFleet,
            ReadPersonal,
            ManageFleet,
            ManageTariffs,
            SubmitReadings,
            Recharge,
            OperateMeters,
            ServeCustomers,
            ApproveRefund,
            ReadFinance,
            Import,
            Export,
            ManageProcurement,
            ManageDevices,
            InstallDevices,
        ],
        // Finance approves what a manager buys (a second role).
        Actor::Staff(Role::Finance) => &[
            ReadFleet,
            RequestRefund,
            ApproveRefund,
            ReadFinance,
            ApproveProcurement,
        ],
        Actor::Staff(Role::Cashier) => &[ReadFleet, ReadPersonal, Recharge, RequestRefund],
        Actor::Staff(Role::ServiceAgent) => &[
            ReadFleet,
            ReadPersonal,
            OperateMeters,
            ServeCustomers,
            RequestRefund,
        ],
        Actor::Staff(Role::Technician) => {
            &[ReadFleet, SubmitReadings, OperateMeters, InstallDevices]
        }
        // Read-only, audit log included; personal data stays masked.
        Actor::Staff(Role::Auditor) => &[ReadFleet, ReadFinance, ReadAudit],
        Actor::Customer => &[SelfService],
    }
}

/// Which sites a principal may see and change.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum SiteScope {
    /// Every site of the organisation.
    #[default]
    All,
    /// Only these sites. Data outside them answers as not found.
    Only(BTreeSet<SiteId>),
}

impl SiteScope {
    pub fn allows(&self, site: SiteId) -> bool {
        match self {
            SiteScope::All => true,
            SiteScope::Only(sites) => sites.contains(&site),
        }
    }

    /// Whether data that belongs to no site (an organisation-level row such as
    /// an account without meters) is visible: only to unscoped principals.
    pub fn allows_unsited(&self) -> bool {
        matches!(self, SiteScope::All)
    }

    /// Stored form: `None` for all sites, else the ids separated by spaces.
    pub fn to_stored(&self) -> Option<String> {
        match self {
            SiteScope::All => None,
            SiteScope::Only(s) => Some(
                s.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
    }

    pub fn from_stored(s: Option<&str>) -> Result<SiteScope, yufu_domain::DomainError> {
        match s {
            None => Ok(SiteScope::All),
            Some(text) => text
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<BTreeSet<SiteId>, _>>()
                .map(SiteScope::Only),
        }
    }

    /// The sites as strings, `None` for all (for JSON answers).
    pub fn to_list(&self) -> Option<Vec<String>> {
        match self {
            SiteScope::All => None,
            SiteScope::Only(s) => Some(s.iter().map(ToString::to_string).collect()),
        }
    }
}

/// The authenticated identity behind a request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Identity {
    /// A staff member signed in to the console (session cookie).
    Staff { user: StaffUserId, username: String },
    /// An integration with a scoped API token.
    Token { token: String, name: String },
    /// A customer signed in to the self-service portal.
    Customer { customer: CustomerId },
}

/// A checked caller: who, as what, in which organisation and sites.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Principal {
    pub identity: Identity,
    pub actor: Actor,
    pub organisation: OrganisationId,
    pub sites: SiteScope,
}

impl Principal {
    pub fn can(&self, p: Permission) -> bool {
        permissions_of(self.actor).contains(&p)
    }

    /// The name written into the audit log: `user:NAME`, `token:NAME`,
    /// `customer:ID`.
    pub fn audit_name(&self) -> String {
        match &self.identity {
            Identity::Staff { username, .. } => format!("user:{username}"),
            Identity::Token { name, .. } => format!("token:{name}"),
            Identity::Customer { customer } => format!("customer:{customer}"),
        }
    }

    /// A stable id of the person or token, for "not the same person" rules
    /// (a refund cannot be approved by whoever asked for it).
    pub fn subject_id(&self) -> String {
        match &self.identity {
            Identity::Staff { user, .. } => format!("user:{user}"),
            Identity::Token { token, .. } => format!("token:{token}"),
            Identity::Customer { customer } => format!("customer:{customer}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_admins_manage_users_and_only_customers_self_serve() {
        for actor in Actor::all() {
            let perms = permissions_of(actor);
            assert_eq!(
                perms.contains(&Permission::ManageUsers),
                actor == Actor::Staff(Role::Admin),
                "{actor:?}"
            );
            assert_eq!(
                perms.contains(&Permission::SelfService),
                actor == Actor::Customer,
                "{actor:?}"
            );
        }
    }

    #[test]
    fn the_auditor_changes_nothing() {
        let read_only = [
            Permission::ReadFleet,
            Permission::ReadFinance,
            Permission::ReadAudit,
        ];
        for p in permissions_of(Actor::Staff(Role::Auditor)) {
            assert!(read_only.contains(p), "{p}");
        }
        assert!(!permissions_of(Actor::Staff(Role::Auditor)).contains(&Permission::ReadPersonal));
    }

    #[test]
    fn refunds_need_a_role_that_may_approve_besides_the_one_that_asks() {
        let approvers: Vec<_> = Actor::all()
            .into_iter()
            .filter(|a| permissions_of(*a).contains(&Permission::ApproveRefund))
            .collect();
        assert!(approvers.len() >= 2);
        assert!(!approvers.contains(&Actor::Staff(Role::Cashier)));
    }

    #[test]
    fn site_scopes_round_trip_and_limit() {
        let a = SiteId::new();
        let b = SiteId::new();
        let scope = SiteScope::Only([a].into_iter().collect());
        assert!(scope.allows(a));
        assert!(!scope.allows(b));
        assert!(!scope.allows_unsited());
        let stored = scope.to_stored();
        assert_eq!(SiteScope::from_stored(stored.as_deref()).unwrap(), scope);
        assert_eq!(SiteScope::from_stored(None).unwrap(), SiteScope::All);
        assert!(SiteScope::All.allows(b));
        assert!(SiteScope::from_stored(Some("not-an-id")).is_err());
    }
}
