//! Export → import round trips, and cross-checks against existing data.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use yufu_csvio::{Existing, Kind, Parsed, Row, check_references, export, parse};
use yufu_domain::OrganisationId;

fn cells(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
        .collect()
}

fn round_trip(kind: Kind, rows: &[&[&str]]) {
    let rows = cells(rows);
    let bytes = export(kind, &rows).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.starts_with(&format!("{}\r\n", kind.columns().join(","))));
    assert!(text.ends_with("\r\n"));
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());

    let org = OrganisationId::new();
    let parsed = parse(kind, org, &bytes);
    assert!(parsed.is_ok(), "{kind}: {:#?}", parsed.problems);
    let back: Vec<Vec<String>> = parsed.rows.iter().map(|(_, r)| r.to_cells()).collect();
    assert_eq!(back, rows, "{kind}");
    assert!(parsed.rows.iter().all(|(_, r)| r.kind() == kind));
    // And the re-export is byte for byte the same.
    assert_eq!(export(kind, &back).unwrap(), bytes);
}

#[test]
fn customers_round_trip() {
    round_trip(
        Kind::Customers,
        &[
            &[
                "GZ-0001",
                "residential",
                "person",
                "陈小明",
                "138 0013 8000",
                "44010619900101123X",
                "天河区示范路1号, \"东门\"",
            ],
            &[
                "GZ-0002",
                "commercial",
                "company",
                "广州示例, 有限公司",
                "",
                "",
                "",
            ],
        ],
    );
}

#[test]
fn accounts_round_trip() {
    round_trip(
        Kind::Accounts,
        &[
            &["GZ-0001-W", "GZ-0001", "residential"],
            &["GZ-0002-B", "GZ-0002", "industrial"],
        ],
    );
}

#[test]
fn meters_round_trip() {
    round_trip(
        Kind::Meters,
        &[
            &[
                "E-240001",
                "electricity",
                "DDZY1710",
                "dlt645_2007",
                "000000240001",
                "1",
                "GZ-TH01",
                "A",
                "1-0203",
                "GZ-0001",
                "guangdong-residential-electricity",
            ],
            &[
                "W-240001",
                "water",
                "LXSY-20 水表",
                "cjt188",
                "10000000240001",
                "60",
                "GZ-TH01",
                "A",
                "B1.PUMP",
                "",
                "",
            ],
        ],
    );
}

#[test]
fn devices_round_trip() {
    round_trip(
        Kind::Devices,
        &[
            &["G-240001", "gas", "G2.5", "cjt188", "30000000240001", "1"],
            &[
                "M-240001",
                "electricity",
                "YF-IOT-1",
                "mqtt",
                "yf:iot.240001",
                "1000000",
            ],
        ],
    );
}

#[test]
fn empty_export_is_just_the_header() {
    for kind in Kind::ALL {
        let bytes = export(*kind, &[]).unwrap();
        let parsed = parse(*kind, OrganisationId::new(), &bytes);
        assert!(parsed.is_ok() && parsed.rows.is_empty(), "{kind}");
    }
}

#[test]
fn export_rejects_rows_of_the_wrong_length() {
    let rows = cells(&[&["GZ-0001-W", "GZ-0001"]]);
    assert!(export(Kind::Accounts, &rows).is_err());
}

#[derive(Default)]
struct Db {
    accounts: HashSet<String>,
    serials: HashSet<String>,
    units: HashSet<(String, String, String)>,
    tariffs: HashSet<String>,
}

impl Existing for Db {
    fn account_exists(&self, number: &str) -> bool {
        self.accounts.contains(number)
    }
    fn serial_exists(&self, serial: &str) -> bool {
        self.serials.contains(serial)
    }
    fn unit_exists(&self, site_code: &str, building_code: &str, unit_code: &str) -> bool {
        self.units.contains(&(
            site_code.to_owned(),
            building_code.to_owned(),
            unit_code.to_owned(),
        ))
    }
    fn tariff_exists(&self, code: &str) -> bool {
        self.tariffs.contains(code)
    }
}

fn db() -> Db {
    Db {
        accounts: ["GZ-0001", "GZ-0002"].map(str::to_owned).into(),
        serials: ["E-OLD"].map(str::to_owned).into(),
        units: [("GZ-TH01".to_owned(), "A".to_owned(), "1-0203".to_owned())].into(),
        tariffs: ["guangdong-residential-electricity".to_owned()].into(),
    }
}

fn places(parsed: &Parsed) -> Vec<(usize, Option<&str>)> {
    parsed
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_deref()))
        .collect()
}

fn checked(kind: Kind, file: &str) -> Parsed {
    let mut parsed = parse(kind, OrganisationId::new(), file.as_bytes());
    assert!(parsed.is_ok(), "{:#?}", parsed.problems);
    check_references(&mut parsed, &db());
    parsed
}

#[test]
fn customers_account_number_must_be_new() {
    let parsed = checked(
        Kind::Customers,
        "account_number,account_class,customer_kind,name\n\
         gz-0001,residential,person,甲\nGZ-0003,residential,person,乙\n",
    );
    assert_eq!(places(&parsed), [(2, Some("account_number"))]);
    assert_eq!(
        parsed.problems[0].to_string(),
        "row 2, column account_number: account GZ-0001 already exists"
    );
    assert_eq!(parsed.rows.len(), 1);
    assert_eq!(parsed.rows[0].1.key(), "GZ-0003");
}

#[test]
fn accounts_need_a_new_number_and_a_known_customer() {
    let parsed = checked(
        Kind::Accounts,
        "account_number,customer_account_number,account_class\n\
         GZ-0002,GZ-0001,public\n\
         GZ-0001-W,GZ-0009,public\n\
         GZ-0001-B,GZ-0001,public\n\
         GZ-0001-C,GZ-0001-B,public\n",
    );
    // Row 5 refers to the account made by row 4: the same file does not count.
    assert_eq!(
        places(&parsed),
        [
            (2, Some("account_number")),
            (3, Some("customer_account_number")),
            (5, Some("customer_account_number")),
        ]
    );
    assert!(parsed.problems[2].message.contains("no account GZ-0001-B"));
    assert_eq!(parsed.rows.len(), 1);
    assert_eq!(parsed.rows[0].0, 4);
}

#[test]
fn meters_need_a_new_serial_and_known_unit_account_and_tariff() {
    let parsed = checked(
        Kind::Meters,
        "serial,utility,model,protocol,comm_address,site_code,building_code,unit_code,account_number,tariff_code\n\
         E-NEW,electricity,M,dlt645_2007,000000000001,GZ-TH01,A,1-0203,GZ-0001,guangdong-residential-electricity\n\
         e-old,electricity,M,dlt645_2007,000000000002,GZ-TH01,A,9-9999,GZ-0404,nope\n\
         E-NEW2,electricity,M,dlt645_2007,000000000003,GZ-TH01,A,1-0203,,\n",
    );
    assert_eq!(
        places(&parsed),
        [
            (3, Some("serial")),
            (3, Some("unit_code")),
            (3, Some("account_number")),
            (3, Some("tariff_code")),
        ]
    );
    assert_eq!(
        parsed.problems[1].message,
        "no unit 9-9999 in building A of site GZ-TH01"
    );
    let kept: Vec<usize> = parsed.rows.iter().map(|(r, _)| *r).collect();
    assert_eq!(kept, [2, 4]);
}

#[test]
fn devices_need_a_new_serial() {
    let parsed = checked(
        Kind::Devices,
        "serial,utility,model,protocol,comm_address\n\
         E-OLD,electricity,M,mqtt,e-old\nE-NEW,electricity,M,mqtt,e-new\n",
    );
    assert_eq!(places(&parsed), [(2, Some("serial"))]);
    assert!(matches!(parsed.rows[..], [(3, Row::Device(_))]));
}

#[test]
fn reference_problems_merge_in_row_order() {
    let mut parsed = parse(
        Kind::Devices,
        OrganisationId::new(),
        b"serial,utility,model,protocol,comm_address\nE-OLD,gas,M,mqtt,x\nE-2,gas,M,dlt645_2007,1\n",
    );
    check_references(&mut parsed, &db());
    let rows: Vec<usize> = parsed.problems.iter().map(|p| p.row).collect();
    assert_eq!(rows, [2, 3, 3]);
}
