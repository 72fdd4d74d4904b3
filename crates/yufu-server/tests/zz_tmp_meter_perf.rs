#![allow(clippy::unwrap_used)]
mod common;
use common::TestServer;
use serde_json::{Value, json};
use yufu_store_contract::TestDb;

#[tokio::test]
async fn tmp_meter_page_timing() {
    let api = TestServer::start(TestDb::sqlite().await).await;
    let f = api.fleet().await;
    api.bill(&f).await;
    let now = jiff::Timestamp::now();
    let n = 3100i64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let readings: Vec<Value> = chunk.iter().map(|i| {
            let at = now - jiff::SignedDuration::from_mins(15 * (n - i));
            json!({"meter_id": f.meter, "at": at.to_string(), "register": 100_000 + i * 10})
        }).collect();
        let (s, _) = api.call("POST", "/api/v1/readings", Some(json!({"readings": readings}))).await;
        assert_eq!(s, 200);
    }
    for range in ["day", "week", "month"] {
        let path = format!("/meters/{}?range={range}", f.meter);
        let _ = api.get(&path, &[]).await;
        let t = std::time::Instant::now();
        for _ in 0..10 { let r = api.get(&path, &[]).await; assert_eq!(r.status, 200); }
        eprintln!("TIMING {range}: {:?} per page", t.elapsed() / 10);
    }
    let r = api.get(&format!("/meters/{}?range=month", f.meter), &[]).await;
    eprintln!("PARTIAL {}", r.body.contains("the chart covers only"));
    api.stop().await;
}
