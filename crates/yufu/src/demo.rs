//! `yufu demo`: a Guangzhou demo organisation — one site, three buildings,
//! residential and commercial units, their customers and accounts, and
//! electricity, water and gas meters, all in service — plus an admin login.
//!
//! Seeding happens once; later runs find the organisation and only issue a
//! new admin password. The data is deterministic, so screenshots and
//! walkthroughs match between machines. Names and phone numbers are invented.

use anyhow::Context as _;
use yufu_domain::*;
use yufu_store::{FleetCounts, Store};

use crate::password;

pub const DEMO_ORGANISATION: &str = "预付演示物业 Yufu Demo Property";
pub const ADMIN_USERNAME: &str = "admin";
/// Accounts funded with only 3 yuan (see [`fund`]).
pub const LOW_START: [&str; 2] = ["GZ000001", "GZ000002"];
/// The account whose customer gets a portal password at each start.
pub const PORTAL_ACCOUNT: &str = "GZ000003";
/// Long enough to resist guessing on a demo left running on a LAN.
const PASSWORD_LEN: usize = 16;

/// What `yufu demo` prints for its user.
#[derive(Debug)]
pub struct DemoLogin {
    pub organisation: OrganisationId,
    pub username: String,
    pub password: String,
    /// An admin API token for scripts and curl (a new one each start).
    pub api_token: String,
    /// The customer portal login: account number and a new password.
    pub portal: Option<(String, String)>,
    pub counts: FleetCounts,
}

pub(crate) const SURNAMES: &[&str] = &[
    "陈", "李", "黄", "张", "梁", "刘", "林", "王", "何", "罗", "吴", "郑",
];
pub(crate) const GIVEN: &[&str] = &[
    "伟", "芳", "嘉欣", "志强", "慧敏", "晓明", "丽", "俊杰", "静", "国华", "婷", "家豪",
];
const SHOPS: &[&str] = &[
    "粤味餐厅",
    "天河便利店",
    "岭南茶社",
    "花城药房",
    "珠江洗衣",
    "羊城书店",
    "越秀面包坊",
    "白云眼镜",
    "番禺海鲜",
    "南沙咖啡",
    "荔湾理发",
    "海珠花店",
];

struct BuildingPlan {
    code: &'static str,
    name: &'static str,
    floors: u16,
    units_per_floor: u16,
    kind: UnitKind,
}

const BUILDINGS: &[BuildingPlan] = &[
    BuildingPlan {
        code: "A",
        name: "A栋 住宅 Residential A",
        floors: 6,
        units_per_floor: 2,
        kind: UnitKind::Residential,
    },
    BuildingPlan {
        code: "B",
        name: "B栋 住宅 Residential B",
        floors: 6,
        units_per_floor: 2,
        kind: UnitKind::Residential,
    },
    BuildingPlan {
        code: "C",
        name: "C座 商业 Commercial C",
        floors: 3,
        units_per_floor: 4,
        kind: UnitKind::Commercial,
    },
];

fn parse<T: std::str::FromStr<Err = DomainError>>(s: &str) -> anyhow::Result<T> {
    s.parse()
        .map_err(|e: DomainError| anyhow::anyhow!("demo data: {e}"))
}

/// Seeds the demo organisation if it is missing and issues a new admin password.
pub async fn seed(store: &dyn Store) -> anyhow::Result<DemoLogin> {
    let org_name: Name = parse(DEMO_ORGANISATION)?;
    let org = match store.find_organisation_by_name(&org_name).await? {
        Some(org) => {
            tracing::info!(organisation = %org.id, "demo organisation exists; not seeding again");
            org
        }
        None => {
            let org = store
                .create_organisation(&NewOrganisation { name: org_name })
                .await?;
            seed_fleet(store, org.id)
                .await
                .context("seeding the demo fleet")?;
            tracing::info!(organisation = %org.id, "demo organisation seeded");
            org
        }
    };
    let password = issue_admin_password(store, org.id).await?;
    crate::demo_lifecycle::seed(store, org.id)
        .await
        .context("seeding the demo device lifecycle")?;
    let (api_token, _) = yufu_server::access_api::issue_token(
        store,
        org.id,
        "demo",
        yufu_domain::Role::Admin,
        &yufu_access::SiteScope::All,
        1,
        "demo",
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot issue the demo API token: {e}"))?;
    let portal = issue_portal_password(store, org.id).await?;
    Ok(DemoLogin {
        organisation: org.id,
        username: ADMIN_USERNAME.to_owned(),
        password,
        api_token,
        portal,
        counts: store.fleet_counts().await?,
    })
}

/// Gives every demo account an opening balance (once: the idempotency key
/// makes later starts replays), so the demo starts with households in
/// credit rather than all cut off at their first reading.
pub async fn fund(
    store: &dyn Store,
    writer: &yufu_writer::Writer,
    org: OrganisationId,
) -> anyhow::Result<usize> {
    let mut funded = 0;
    let mut page = yufu_store::Page::first(yufu_store::Page::MAX_LIMIT);
    loop {
        let accounts = store.list_accounts(org, &page).await?;
        let Some(last) = accounts.last() else { break };
        page = yufu_store::Page::after(last.id, yufu_store::Page::MAX_LIMIT);
        for account in &accounts {
            let amount = match account.class {
                // Two households start nearly empty, so the live demo shows
                // a cut-off (and the demo cashier's reconnect) in minutes.
                _ if LOW_START.contains(&account.number.as_str()) => 300,
                CustomerClass::Commercial | CustomerClass::Industrial => 100_000,
                CustomerClass::Residential | CustomerClass::Public => 20_000,
            };
            let req = yufu_engine::RechargeIn {
                account: account.id,
                amount: Fen(amount),
                channel: "demo".into(),
                reference: "demo opening balance".into(),
                key: "demo-opening-balance".into(),
            };
            match writer.recharge(req).await {
                Ok(answer) if !answer.replay => funded += 1,
                Ok(_) => {}
                Err(yufu_writer::RechargeFailure::Engine(
                    yufu_engine::RechargeError::UnknownAccount(_),
                )) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(funded)
}

async fn issue_admin_password(store: &dyn Store, org: OrganisationId) -> anyhow::Result<String> {
    let password = password::generate(PASSWORD_LEN)?;
    let for_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&for_hash))
        .await
        .context("password hashing task failed")??;
    let username: Username = parse(ADMIN_USERNAME)?;
    match store.find_staff_user(&username).await? {
        Some(user) if user.organisation_id != org => anyhow::bail!(
            "this database already has an '{ADMIN_USERNAME}' user outside the demo organisation; \
             `yufu demo` will not change it — use `yufu serve`, or point YUFU_DATA_DIR / YUFU_DATABASE_URL at a fresh database"
        ),
        Some(user) => store.set_staff_password(user.id, &hash).await?,
        None => {
            store
                .create_staff_user(&NewStaffUser {
                    organisation_id: org,
                    username,
                    display_name: parse("系统管理员 Administrator")?,
                    role: Role::Admin,
                    password_hash: hash,
                })
                .await?;
        }
    }
    Ok(password)
}

/// A new portal password for [`PORTAL_ACCOUNT`]'s customer, so the
/// self-service portal can be tried at once. `None` if that account is gone.
async fn issue_portal_password(
    store: &dyn Store,
    org: OrganisationId,
) -> anyhow::Result<Option<(String, String)>> {
    let number: AccountNumber = parse(PORTAL_ACCOUNT)?;
    let Some(account) = store.find_account_by_number(org, &number).await? else {
        return Ok(None);
    };
    let password = password::generate(PASSWORD_LEN)?;
    let for_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&for_hash))
        .await
        .context("password hashing task failed")??;
    let now = jiff::Timestamp::now().as_millisecond();
    store
        .access()
        .set_customer_password(account.id, &hash, now)
        .await?;
    Ok(Some((PORTAL_ACCOUNT.to_owned(), password)))
}

/// The shipped example tariffs, loaded into the demo organisation.
const TARIFFS: &[&str] = &[
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml"),
    include_str!("../../../examples/tariffs/guangdong-commercial-tou.toml"),
    include_str!("../../../examples/tariffs/guangzhou-residential-water.toml"),
    include_str!("../../../examples/tariffs/guangzhou-residential-gas.toml"),
];

pub(crate) async fn seed_tariffs(store: &dyn Store, org: OrganisationId) -> anyhow::Result<()> {
    for text in TARIFFS {
        let tariff = yufu_tariff::parse_tariff("example tariff", text)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        store
            .add_tariff_revision(&NewTariffRevision {
                organisation_id: org,
                code: parse(&tariff.id)?,
                utility: tariff.utility,
                name: tariff.name.clone(),
                source_toml: (*text).to_owned(),
            })
            .await?;
    }
    Ok(())
}

/// Which example tariff a demo meter is priced with.
pub(crate) fn tariff_for(utility: Utility, commercial: bool) -> &'static str {
    match (utility, commercial) {
        (Utility::Electricity, false) => "guangdong-residential-electricity",
        (Utility::Electricity, true) => "guangdong-commercial-tou",
        (Utility::Water, _) => "guangzhou-residential-water",
        (Utility::Gas, _) => "guangzhou-residential-gas",
    }
}

async fn seed_fleet(store: &dyn Store, org: OrganisationId) -> anyhow::Result<()> {
    seed_tariffs(store, org).await?;
    let site = store
        .create_site(&NewSite {
            organisation_id: org,
            code: parse("GZ-TH01")?,
            name: parse("天河智慧园区 Tianhe Smart Park")?,
            city: parse("广州 Guangzhou")?,
            timezone: TimeZoneName::shanghai(),
        })
        .await?;
    let mut n: u32 = 0;
    for plan in BUILDINGS {
        let building = store
            .create_building(&NewBuilding {
                site_id: site.id,
                code: parse(plan.code)?,
                name: parse(plan.name)?,
                floors: plan.floors,
            })
            .await?;
        for floor in 1..=plan.floors {
            for door in 1..=plan.units_per_floor {
                n += 1;
                seed_unit(store, org, building.id, plan, floor, door, n).await?;
            }
        }
    }
    Ok(())
}

async fn seed_unit(
    store: &dyn Store,
    org: OrganisationId,
    building: BuildingId,
    plan: &BuildingPlan,
    floor: u16,
    door: u16,
    n: u32,
) -> anyhow::Result<()> {
    let commercial = plan.kind == UnitKind::Commercial;
    let i = usize::try_from(n).unwrap_or(0);
    let area = if commercial {
        4500 + 2500 * i64::from(door)
    } else {
        8950 + 2280 * i64::from(door % 2)
    };
    let unit = store
        .create_unit(&NewUnit {
            building_id: building,
            code: parse(&format!("{}-{floor}{door:02}", plan.code))?,
            floor: i16::try_from(floor).unwrap_or(i16::MAX),
            kind: plan.kind,
            area: AreaCentiSqm::new(area)?,
        })
        .await?;
    let address = format!("广州市天河区智慧园区{}栋{floor}{door:02}", plan.code);
    let customer = if commercial {
        let name = format!("广州{}有限公司", SHOPS[i % SHOPS.len()]);
        NewCustomer::new(
            org,
            CustomerKind::Company,
            &name,
            Some(&format!("020-8888{n:04}")),
            None,
            Some(&address),
        )?
    } else {
        let name = format!(
            "{}{}",
            SURNAMES[i % SURNAMES.len()],
            GIVEN[(i / SURNAMES.len() + i) % GIVEN.len()]
        );
        NewCustomer::new(
            org,
            CustomerKind::Person,
            &name,
            Some(&format!("1380000{n:04}")),
            None,
            Some(&address),
        )?
    };
    let customer = store.create_customer(&customer).await?;
    let account = store
        .create_account(&NewAccount {
            organisation_id: org,
            number: parse(&format!("GZ{n:06}"))?,
            customer_id: customer.id,
            class: if commercial {
                CustomerClass::Commercial
            } else {
                CustomerClass::Residential
            },
        })
        .await?;

    let mut meters = vec![(
        Utility::Electricity,
        if commercial {
            "DTZY1102 三相费控智能电能表"
        } else {
            "DDZY1102 单相费控智能电能表"
        },
        MeterProtocol::Dlt645_2007,
        format!("{:012}", 100_000 + n),
        // A large shop is metered through 200/5 current transformers.
        if commercial && door == 4 { 40 } else { 1 },
    )];
    meters.push((
        Utility::Water,
        "LXSY-20 远传阀控水表",
        MeterProtocol::Cjt188,
        format!("{:014}", 20_000_000 + n),
        1,
    ));
    if !commercial {
        meters.push((
            Utility::Gas,
            "G2.5 物联网燃气表",
            MeterProtocol::Cjt188,
            format!("{:014}", 30_000_000 + n),
            1,
        ));
    }
    for (utility, model, protocol, address, multiplier) in meters {
        let prefix = match utility {
            Utility::Electricity => "E",
            Utility::Water => "W",
            Utility::Gas => "G",
        };
        let meter = store
            .create_meter(&NewMeter {
                organisation_id: org,
                serial: parse(&format!("{prefix}-GZ-{n:06}"))?,
                utility,
                model: parse(model)?,
                protocol,
                comm_address: parse(&address)?,
                multiplier: Multiplier::new(multiplier)?,
            })
            .await?;
        store
            .assign_meter(meter.id, Some(unit.id), Some(account.id))
            .await?;
        let tariff: TariffCode = parse(tariff_for(utility, commercial))?;
        store.set_meter_tariff(meter.id, Some(&tariff)).await?;
        store
            .set_meter_status(meter.id, MeterStatus::InService)
            .await?;
    }
    Ok(())
}
