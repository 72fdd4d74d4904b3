//! Real sockets: a `TcpListener` in the test plays the platform, the
//! simulated meter dials in.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the failure report

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use yufu_dlt645::{Auth, DateTime, Di, Message, RelayAction, Value};
use yufu_sim::{Profile, SimMeter, Supply, TcpOptions, TcpStats, local_time, run_tcp_meter};

const WAIT: Duration = Duration::from_secs(5);

fn meter(address: &str, profile: Profile) -> Arc<Mutex<SimMeter>> {
    // Two hours of history, so the first read has something on it.
    let since = Timestamp::now() - SignedDuration::from_hours(2);
    Arc::new(Mutex::new(
        SimMeter::new("SN-T", address, profile, 77, since).unwrap(),
    ))
}

/// Fast redial and a short frame timeout so the tests run quickly.
fn options(shutdown: watch::Receiver<bool>) -> TcpOptions {
    TcpOptions {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        frame_timeout: Duration::from_millis(150),
        ..TcpOptions::new(shutdown)
    }
}

async fn accept(listener: &TcpListener) -> TcpStream {
    tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("meter dials in")
        .unwrap()
        .0
}

async fn read_exact(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    tokio::time::timeout(WAIT, stream.read_exact(&mut bytes))
        .await
        .expect("bytes arrive")
        .unwrap();
    bytes
}

/// Reads until one whole DL/T 645 frame is buffered (preamble allowed).
async fn dlt_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> yufu_dlt645::Frame {
    loop {
        match yufu_dlt645::decode(buf) {
            Ok((frame, used)) => {
                buf.drain(..used);
                return frame;
            }
            Err(e) if e.is_incomplete() => {}
            Err(e) => panic!("meter sent a bad frame: {e} in {buf:02X?}"),
        }
        let mut chunk = [0u8; 256];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("reply arrives")
            .unwrap();
        assert!(n > 0, "meter hung up");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn cjt_frame(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    order: yufu_cjt188::DiOrder,
) -> yufu_cjt188::Frame {
    loop {
        match yufu_cjt188::decode(buf, order) {
            Ok((frame, used)) => {
                buf.drain(..used);
                return frame;
            }
            Err(e) if e.is_incomplete() => {}
            Err(e) => panic!("meter sent a bad frame: {e} in {buf:02X?}"),
        }
        let mut chunk = [0u8; 256];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("reply arrives")
            .unwrap();
        assert!(n > 0, "meter hung up");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Nothing arrives within `for_ms`.
async fn silent(stream: &mut TcpStream, for_ms: u64) {
    let mut chunk = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(for_ms), stream.read(&mut chunk)).await;
    assert!(read.is_err(), "expected silence, got {read:?}");
}

fn tomorrow() -> DateTime {
    let t = local_time(Timestamp::now() + SignedDuration::from_hours(24));
    let b = |v: i8| u8::try_from(v).unwrap();
    DateTime::new(
        u16::try_from(t.year()).unwrap(),
        b(t.month()),
        b(t.day()),
        b(t.hour()),
        b(t.minute()),
        b(t.second()),
    )
    .unwrap()
}

async fn stop(
    tx: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<TcpStats, yufu_sim::SimError>>,
) -> TcpStats {
    tx.send(true).unwrap();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("meter stops on shutdown")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn electricity_meter_registers_reads_and_trips() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let meter = meter("000000100001", Profile::Residential);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(run_tcp_meter(target, meter.clone(), options(rx)));

    let mut platform = accept(&listener).await;
    assert_eq!(read_exact(&mut platform, 12).await, b"000000100001");
    let mut buf = Vec::new();

    // Read address, with the wake-up preamble a head end sends.
    platform
        .write_all(&yufu_dlt645::read_address().encode_with_wake_up())
        .await
        .unwrap();
    let reply = dlt_frame(&mut platform, &mut buf).await;
    let address: yufu_dlt645::Address = "000000100001".parse().unwrap();
    assert_eq!(
        reply.message().unwrap(),
        Message::ReadAddressReply { address }
    );

    // Read the energy total: noise first, then the frame split over two
    // writes.
    let request = yufu_dlt645::read_data(address, Di::FORWARD_ACTIVE_TOTAL).encode();
    let (head, tail) = request.split_at(5);
    platform.write_all(&[0x00, 0x13, 0x37]).await.unwrap();
    platform.write_all(head).await.unwrap();
    platform.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    platform.write_all(tail).await.unwrap();
    let reading = dlt_frame(&mut platform, &mut buf).await.reading().unwrap();
    let register = meter.lock().unwrap().register;
    assert!(register > 0);
    assert_eq!(
        reading.value,
        Value::Energy {
            centi_kwh: register / 10
        }
    );

    // Trip and read status word 3, both in one write.
    let mut both = yufu_dlt645::relay_control(
        address,
        RelayAction::Trip,
        Auth::new(2, 0, 0).unwrap(),
        tomorrow(),
    )
    .encode_with_wake_up();
    both.extend(yufu_dlt645::read_data(address, Di::STATUS_WORD_3).encode());
    platform.write_all(&both).await.unwrap();
    let ack = dlt_frame(&mut platform, &mut buf).await;
    assert_eq!(ack.message().unwrap(), Message::RelayControlAck);
    let status = dlt_frame(&mut platform, &mut buf).await.reading().unwrap();
    let Value::Status3 { word } = status.value else {
        panic!("{status:?}")
    };
    assert!(word.relay_open());
    assert_eq!(meter.lock().unwrap().supply, Supply::Off);

    // A frame for another meter on the same line goes unanswered.
    let other: yufu_dlt645::Address = "000000100002".parse().unwrap();
    platform
        .write_all(&yufu_dlt645::read_data(other, Di::FORWARD_ACTIVE_TOTAL).encode())
        .await
        .unwrap();
    silent(&mut platform, 200).await;

    let stats = stop(tx, task).await;
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.replies, 4);
    assert_eq!(stats.discarded_bytes, 3);
}

#[tokio::test]
async fn gas_meter_without_registration_redials_and_closes_its_valve() {
    use yufu_cjt188::{DiOrder, MeterType, ReadReply, Valve, ValveReply, ValveState};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let meter = meter("00000000100001", Profile::Gas);
    let (tx, rx) = watch::channel(false);
    let order = DiOrder::HighFirst;
    let opts = TcpOptions {
        register: false,
        di_order: order,
        wake_up: false,
        ..options(rx)
    };
    let task = tokio::spawn(run_tcp_meter(target, meter.clone(), opts));

    // No registration: the platform asks who is there.
    let mut platform = accept(&listener).await;
    platform
        .write_all(&yufu_cjt188::read_address().encode(order).unwrap())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let reply = cjt_frame(&mut platform, &mut buf, order).await;
    let address: yufu_cjt188::Address = "00000000100001".parse().unwrap();
    assert_eq!(
        yufu_cjt188::read_address_reply(&reply).unwrap(),
        (MeterType::Gas, address)
    );

    // The link drops; the meter dials in again.
    drop(platform);
    let mut platform = accept(&listener).await;
    let mut buf = Vec::new();

    // A stale partial frame is discarded after the frame timeout, so the
    // next request still gets through.
    platform.write_all(&[0x68, 0x30, 0x01]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let close = yufu_cjt188::valve(MeterType::Gas, address, 9, Valve::Close);
    platform
        .write_all(&close.encode(order).unwrap())
        .await
        .unwrap();
    let reply = cjt_frame(&mut platform, &mut buf, order).await;
    assert_eq!(reply.ser, 9);
    let status = ValveReply::from_frame(&reply).unwrap().status;
    assert_eq!(status.valve(), ValveState::Closed);
    assert_eq!(meter.lock().unwrap().supply, Supply::Off);

    let read = yufu_cjt188::read_data(MeterType::Gas, address, 10);
    platform
        .write_all(&read.encode(order).unwrap())
        .await
        .unwrap();
    let reply = ReadReply::from_frame(&cjt_frame(&mut platform, &mut buf, order).await).unwrap();
    let litres = meter.lock().unwrap().register;
    assert_eq!(u64::from(reply.current.centi), litres / 10);
    assert_eq!(reply.status.valve(), ValveState::Closed);

    let stats = stop(tx, task).await;
    assert_eq!(stats.connections, 2);
    assert_eq!(stats.discarded_bytes, 3);
}

#[tokio::test]
async fn faults_drop_and_duplicate_replies() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let address: yufu_dlt645::Address = "000000100003".parse().unwrap();
    let request = yufu_dlt645::read_data(address, Di::FORWARD_ACTIVE_TOTAL).encode();

    // Every request dropped: never an answer, and a trip is not carried out.
    let dropped = meter("000000100003", Profile::Commercial);
    let (tx, rx) = watch::channel(false);
    let opts = TcpOptions {
        faults: "drop=1".parse().unwrap(),
        ..options(rx)
    };
    let task = tokio::spawn(run_tcp_meter(target, dropped.clone(), opts));
    let mut platform = accept(&listener).await;
    read_exact(&mut platform, 12).await;
    let trip = yufu_dlt645::relay_control(
        address,
        RelayAction::Trip,
        Auth::new(2, 0, 0).unwrap(),
        tomorrow(),
    );
    platform.write_all(&request).await.unwrap();
    platform.write_all(&trip.encode()).await.unwrap();
    silent(&mut platform, 300).await;
    assert_eq!(dropped.lock().unwrap().supply, Supply::On);
    let stats = stop(tx, task).await;
    assert_eq!((stats.requests, stats.faulted, stats.replies), (2, 2, 0));

    // Every reply duplicated.
    let duplicated = meter("000000100003", Profile::Commercial);
    let (tx, rx) = watch::channel(false);
    let opts = TcpOptions {
        faults: "duplicate=1".parse().unwrap(),
        ..options(rx)
    };
    let task = tokio::spawn(run_tcp_meter(target, duplicated, opts));
    let mut platform = accept(&listener).await;
    read_exact(&mut platform, 12).await;
    platform.write_all(&request).await.unwrap();
    let mut buf = Vec::new();
    let first = dlt_frame(&mut platform, &mut buf).await;
    let second = dlt_frame(&mut platform, &mut buf).await;
    assert_eq!(first, second);
    let stats = stop(tx, task).await;
    assert_eq!((stats.requests, stats.replies), (1, 2));
}

#[tokio::test]
async fn shutdown_while_redialling() {
    // A port with nobody listening.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    drop(listener);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(run_tcp_meter(
        target,
        meter("000000100004", Profile::Residential),
        options(rx),
    ));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stats = stop(tx, task).await;
    assert_eq!(stats.connections, 0);

    // Dropping every sender is a shutdown too.
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(run_tcp_meter(
        target,
        meter("000000100004", Profile::Residential),
        options(rx),
    ));
    drop(tx);
    let stats = tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stats.connections, 0);
}
