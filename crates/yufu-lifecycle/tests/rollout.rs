//! Phased replacement (逐步更新) through the services: a rollout's later
//! waves wait for the pilot's approval, the pilot can be approved only once
//! it is swapped in full, and an unfavourable (or unproven) comparison needs
//! an explicit override. Real SQLite store, real writer.

use std::sync::Arc;

use yufu_domain::*;
use yufu_lifecycle::service::{self, Ctx, LifecycleError};
use yufu_store::Store;
use yufu_store_contract::TestDb;

mod common;
use common::{TARIFF, household, p, place};

async fn meter(store: &dyn Store, org: OrganisationId, n: u32) -> MeterId {
    let serial = format!("0000004000{n:02}");
    store
        .create_meter(&NewMeter {
            organisation_id: org,
            serial: p(&serial),
            utility: Utility::Electricity,
            model: p("OLD-1"),
            protocol: MeterProtocol::Dlt645_2007,
            comm_address: p(&serial),
            multiplier: Multiplier::new(1).expect("multiplier"),
        })
        .await
        .expect("meter")
        .id
}

#[tokio::test]
async fn waves_wait_for_the_pilot() {
    let db = TestDb::sqlite().await;
    let store: Arc<dyn Store> = db.shared();
    let s = store.as_ref();
    let (org, _site, building) = place(s, "Rollout").await;
    // Three households in service on old meters, and three new meters in stock.
    let mut old = Vec::new();
    let mut new = Vec::new();
    for n in 1..=3u32 {
        let (unit, account) = household(
            s,
            org.id,
            building.id,
            &format!("A-10{n}"),
            &format!("RO000{n}"),
        )
        .await;
        let m = meter(s, org.id, n).await;
        s.assign_meter(m, Some(unit.id), Some(account.id))
            .await
            .expect("assign");
        s.set_meter_tariff(m, Some(&p(TARIFF)))
            .await
            .expect("tariff");
        s.set_meter_status(m, MeterStatus::InService)
            .await
            .expect("in service");
        old.push(m);
        new.push(meter(s, org.id, 10 + n).await);
    }
    let (writer, task) = yufu_writer::start(
        Arc::clone(&store),
        yufu_writer::WriterConfig {
            checkpoint_every: 0,
            checkpoint_on_shutdown: false,
            ..Default::default()
        },
    )
    .await
    .expect("writer");
    yufu_writer::sync::reconcile(s, &writer)
        .await
        .expect("reconcile");
    let now = jiff::Timestamp::now();
    let ctx = Ctx {
        store: s,
        writer: Some(&writer),
        org: org.id,
        actor: "user:li.manager",
        role: "manager",
        now,
        today: jiff::tz::TimeZone::UTC.to_datetime(now).date(),
    };
    let model = service::create_model(
        &ctx,
        serde_json::from_value(serde_json::json!({
            "maker": "林洋", "model": "DDZY71", "utility": "electricity", "protocol": "dlt645_2007",
            "accuracy_class": "2", "service_life_years": 10, "list_price_fen": 32000
        }))
        .expect("model"),
    )
    .await
    .expect("model");
    let rollout = service::create_rollout(
        &ctx,
        serde_json::from_value(serde_json::json!({
            "name": "A栋换表", "model_id": model.id, "pilot": [old[0]], "waves": [[old[1], old[2]]]
        }))
        .expect("rollout"),
    )
    .await
    .expect("rollout");
    assert_eq!((rollout.pilot_size, rollout.pilot_swapped), (1, 0));
    let id = rollout.rollout.id;
    // A meter cannot be in two rollouts.
    let twice = service::create_rollout(
        &ctx,
        serde_json::from_value(serde_json::json!({
            "name": "again", "model_id": model.id, "pilot": [old[1]]
        }))
        .expect("rollout"),
    )
    .await;
    assert!(
        matches!(twice, Err(LifecycleError::Conflict(_))),
        "{twice:?}"
    );

    let swap = |old: MeterId, new: MeterId| {
        let ctx = Ctx {
            now: jiff::Timestamp::now(),
            ..ctx
        };
        async move {
            service::swap_meter(
                &ctx,
                old,
                serde_json::from_value(serde_json::json!({
                    "new_meter_id": new, "final_reading": 5_000, "opening_reading": 10,
                    "reason": "rollout"
                }))
                .expect("swap"),
            )
            .await
        }
    };
    // A wave waits for the pilot; the pilot cannot be approved unfinished.
    let early = swap(old[1], new[1]).await;
    assert!(
        matches!(early, Err(LifecycleError::Refused(ref m)) if m.contains("pilot group is not approved")),
        "{early:?}"
    );
    assert_eq!(
        s.get_meter(old[1]).await.expect("meter").status,
        MeterStatus::InService,
        "a refused swap changes nothing"
    );
    let unfinished = service::approve_pilot(&ctx, id, None).await;
    assert!(
        matches!(unfinished, Err(LifecycleError::Refused(ref m)) if m.contains("0 of 1")),
        "{unfinished:?}"
    );
    // The pilot is swapped; a day-old pilot proves nothing yet, so approval
    // needs an override reason.
    let done = swap(old[0], new[0]).await.expect("pilot swap");
    assert_eq!(done.rollout_id, Some(id));
    let view = service::rollout_view(&ctx, id).await.expect("view");
    assert_eq!(view.pilot_swapped, 1);
    assert!(
        matches!(
            view.comparison.verdict,
            yufu_domain::evaluation::PilotVerdict::NotEnoughData { .. }
        ),
        "{:?}",
        view.comparison
    );
    let unproven = service::approve_pilot(&ctx, id, None).await;
    assert!(
        matches!(unproven, Err(LifecycleError::Refused(ref m)) if m.contains("override")),
        "{unproven:?}"
    );
    let approved = service::approve_pilot(&ctx, id, Some("summer peak: go ahead"))
        .await
        .expect("approved with a reason");
    assert_eq!(
        approved.rollout.pilot_approved_by.as_deref(),
        Some("user:li.manager")
    );
    assert!(matches!(
        service::approve_pilot(&ctx, id, Some("again")).await,
        Err(LifecycleError::Conflict(_))
    ));
    // Now the wave may go.
    swap(old[1], new[1]).await.expect("wave 1 swap");
    let members = service::rollout_view(&ctx, id).await.expect("view").members;
    let swapped: Vec<bool> = members.iter().map(|m| m.new_meter_id.is_some()).collect();
    assert_eq!(swapped.iter().filter(|x| **x).count(), 2, "{members:?}");

    // Cost–benefit of replacing the group with the model.
    let cb = service::cost_benefit(
        &ctx,
        serde_json::from_value(serde_json::json!({
            "devices": 3, "model_id": model.id, "installation_fen": 5000, "commissioning_fen": 1000,
            "old_maintenance_per_year_fen": 4000, "new_maintenance_per_year_fen": 1000,
            "loss_saving_per_year_fen": 3000
        }))
        .expect("cost-benefit"),
    )
    .await
    .expect("cost-benefit");
    // 3 × (320.00 + 50.00 + 10.00) = 1140.00; saving 3 × 60.00 a year = 180.00.
    assert_eq!(
        (cb.total_cost, cb.annual_saving),
        (Fen(114_000), Fen(18_000))
    );
    assert_eq!(cb.payback_months, Some(76), "114000 × 12 / 18000 = 76");

    drop(writer);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task.handle).await;
}
