//! `yufu bench fleet --meters N`: adds a generated load-test organisation
//! (`负载测试 Load Test`) with N households — unit, customer, account and an
//! in-service meter each, priced by the example tariffs — to the configured
//! database, so `yufu demo` (or `yufu serve`) can be measured at a million
//! meters (scripts/bench-console.sh, BENCHMARKS.md). Its own organisation,
//! so the demo's live simulator keeps to its 96 meters.
//!
//! Rows go in through `Console::insert_fleet_batch`, 5 000 households a
//! transaction; customers' personal data is sealed like any other. Once
//! the organisation exists nothing more is generated.

use std::time::Instant;

use anyhow::Context as _;
use jiff::Timestamp;
use yufu_domain::*;
use yufu_store::console::FleetBatch;

use crate::config::Config;
use crate::demo;

pub const LOAD_ORGANISATION: &str = "负载测试 Load Test";
/// Households per site and per building.
const PER_SITE: usize = 100_000;
const PER_BUILDING: usize = 200;
const PER_BATCH: usize = 5_000;

fn parse<T: std::str::FromStr<Err = DomainError>>(s: &str) -> anyhow::Result<T> {
    s.parse()
        .map_err(|e: DomainError| anyhow::anyhow!("generated data: {e}"))
}

pub async fn fleet(config: Config, meters: usize) -> anyhow::Result<()> {
    let (store, _) = crate::run::open_and_migrate(&config).await?;
    let name: Name = parse(LOAD_ORGANISATION)?;
    let started = Instant::now();
    let (org, generated) = match store.find_organisation_by_name(&name).await? {
        Some(org) => {
            eprintln!("the load-test organisation exists; nothing generated");
            (org.id, 0)
        }
        None => {
            let org = store.create_organisation(&NewOrganisation { name }).await?;
            demo::seed_tariffs(store.as_ref(), org.id).await?;
            generate(store.as_ref(), org.id, meters).await?;
            (org.id, meters)
        }
    };
    let tenths = started.elapsed().as_millis() / 100;
    let (token, _) = yufu_server::access_api::issue_token(
        store.as_ref(),
        org,
        "load test",
        Role::Admin,
        &yufu_access::SiteScope::All,
        1,
        "cli:bench fleet",
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot issue the load-test token: {e}"))?;
    store.close().await;
    println!(
        "{}",
        serde_json::json!({
            "organisation": org.to_string(),
            "generated_meters": generated,
            "seconds": format!("{}.{}", tenths / 10, tenths % 10),
            "token": token,
        })
    );
    Ok(())
}

async fn generate(
    store: &dyn yufu_store::Store,
    org: OrganisationId,
    meters: usize,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let started = Instant::now();
    let mut batch = FleetBatch::default();
    let mut site = None;
    let mut building = None;
    for n in 0..meters {
        if n % PER_SITE == 0 {
            let s = store
                .create_site(&NewSite {
                    organisation_id: org,
                    code: parse(&format!("LT-{:02}", n / PER_SITE + 1))?,
                    name: parse(&format!("负载测试园区 Load-test site {}", n / PER_SITE + 1))?,
                    city: parse("广州 Guangzhou")?,
                    timezone: parse("Asia/Shanghai")?,
                })
                .await
                .context("creating a load-test site")?;
            site = Some(s.id);
        }
        let site_id = site.context("a site")?;
        if n % PER_BUILDING == 0 {
            let b = Building {
                id: BuildingId::new(),
                site_id,
                code: parse(&format!("B{:03}", (n % PER_SITE) / PER_BUILDING + 1))?,
                name: parse(&format!("{}号楼", (n % PER_SITE) / PER_BUILDING + 1))?,
                floors: 20,
                created_at: now,
            };
            building = Some(b.id);
            batch.buildings.push(b);
        }
        let in_building = n % PER_BUILDING;
        let unit = Unit {
            id: UnitId::new(),
            building_id: building.context("a building")?,
            code: parse(&format!(
                "{}{:02}",
                in_building / 10 + 1,
                in_building % 10 + 1
            ))?,
            floor: i16::try_from(in_building / 10 + 1).unwrap_or(1),
            kind: UnitKind::Residential,
            area: AreaCentiSqm::new(8_000 + i64::try_from(n % 50).unwrap_or(0) * 100)?,
            created_at: now,
        };
        let customer = NewCustomer::new(
            org,
            CustomerKind::Person,
            &format!(
                "{}{}{}",
                demo::SURNAMES[n % demo::SURNAMES.len()],
                demo::GIVEN[(n / 7) % demo::GIVEN.len()],
                n
            ),
            Some(&format!("139{n:08}")),
            None,
            None,
        )?;
        let customer = Customer {
            id: CustomerId::new(),
            organisation_id: customer.organisation_id,
            kind: customer.kind,
            name: customer.name,
            phone: customer.phone,
            id_number: customer.id_number,
            address: customer.address,
            created_at: now,
        };
        let account = Account {
            id: AccountId::new(),
            organisation_id: org,
            number: parse(&format!("LT{n:07}"))?,
            customer_id: customer.id,
            class: CustomerClass::Residential,
            status: AccountStatus::Active,
            balance: Fen(0),
            created_at: now,
        };
        // Six in ten electricity, three water, one gas.
        let utility = match n % 10 {
            0..=5 => Utility::Electricity,
            6..=8 => Utility::Water,
            _ => Utility::Gas,
        };
        let prefix = match utility {
            Utility::Electricity => "E",
            Utility::Water => "W",
            Utility::Gas => "G",
        };
        let meter = Meter {
            id: MeterId::new(),
            organisation_id: org,
            serial: parse(&format!("LT-{prefix}-{n:07}"))?,
            utility,
            model: parse("DDZY 负载测试表 load-test meter")?,
            protocol: MeterProtocol::Mqtt,
            comm_address: parse(&format!("{:012}", 900_000_000_000u64 + u64::try_from(n)?))?,
            multiplier: Multiplier::new(1)?,
            status: MeterStatus::InService,
            unit_id: Some(unit.id),
            account_id: Some(account.id),
            tariff_code: Some(parse(demo::tariff_for(utility, false))?),
            created_at: now,
        };
        batch.units.push(unit);
        batch.customers.push(customer);
        batch.accounts.push(account);
        batch.meters.push(meter);
        if batch.meters.len() == PER_BATCH || n + 1 == meters {
            store.console().insert_fleet_batch(&batch).await?;
            batch = FleetBatch::default();
            if (n + 1) % 100_000 == 0 || n + 1 == meters {
                let ms = started.elapsed().as_millis().max(1);
                let done = u128::try_from(n + 1).unwrap_or(u128::MAX);
                eprintln!(
                    "generated {done}/{meters} households in {}s ({}/s)",
                    ms / 1000,
                    done * 1000 / ms
                );
            }
        }
    }
    Ok(())
}
