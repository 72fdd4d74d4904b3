//! Parsing files of each kind: good files, every problem reported, encodings.
#![allow(clippy::unwrap_used)]

use yufu_csvio::{Encoding, Kind, MAX_ROWS, Parsed, Problem, Row, parse};
use yufu_domain::{CustomerClass, CustomerKind, MeterProtocol, OrganisationId, Utility};

fn org() -> OrganisationId {
    OrganisationId::new()
}

/// (row, column) of each problem, for compact assertions.
fn places(parsed: &Parsed) -> Vec<(usize, Option<&str>)> {
    parsed
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_deref()))
        .collect()
}

fn problem<'a>(parsed: &'a Parsed, row: usize, column: &str) -> &'a Problem {
    parsed
        .problems
        .iter()
        .find(|p| p.row == row && p.column.as_deref() == Some(column))
        .unwrap_or_else(|| panic!("no problem at row {row}, column {column}: {parsed:#?}"))
}

#[test]
fn good_customers_file() {
    let file = "account_number,account_class,customer_kind,name,phone,id_number,address\n\
                gz-0001,residential,person,陈小明,138 0013 8000,44010619900101123x,天河区示范路1号\n\
                GZ-0002,commercial,company,广州示例餐饮有限公司,,,\n";
    let parsed = parse(Kind::Customers, org(), file.as_bytes());
    assert!(parsed.is_ok(), "{:#?}", parsed.problems);
    assert_eq!(parsed.encoding, Encoding::Utf8);
    assert_eq!(parsed.rows.len(), 2);
    let (row, Row::Customer(c)) = &parsed.rows[0] else {
        panic!("{:?}", parsed.rows[0])
    };
    assert_eq!(*row, 2);
    assert_eq!(c.account_number.as_str(), "GZ-0001");
    assert_eq!(c.account_class, CustomerClass::Residential);
    assert_eq!(c.customer.kind, CustomerKind::Person);
    assert_eq!(c.customer.name.expose(), "陈小明");
    assert_eq!(c.customer.phone.as_ref().unwrap().expose(), "138 0013 8000");
    assert_eq!(
        c.customer.id_number.as_ref().unwrap().expose(),
        "44010619900101123X"
    );
    let (row, Row::Customer(c)) = &parsed.rows[1] else {
        panic!()
    };
    assert_eq!(*row, 3);
    assert_eq!(c.customer.kind, CustomerKind::Company);
    assert!(c.customer.phone.is_none() && c.customer.address.is_none());
}

#[test]
fn good_accounts_file() {
    let file = "customer_account_number,account_class,account_number\r\n\
                GZ-0001,residential,GZ-0001-W\r\n\
                GZ-0002,commercial,gz-0002-b\r\n";
    let parsed = parse(Kind::Accounts, org(), file.as_bytes());
    assert!(parsed.is_ok(), "{:#?}", parsed.problems);
    let Row::Account(a) = &parsed.rows[1].1 else {
        panic!()
    };
    assert_eq!(a.account_number.as_str(), "GZ-0002-B");
    assert_eq!(a.customer_account_number.as_str(), "GZ-0002");
    assert_eq!(a.account_class, CustomerClass::Commercial);
}

#[test]
fn good_meters_file_in_any_column_order() {
    let file = "unit_code,serial,utility,model,protocol,comm_address,multiplier,site_code,building_code,tariff_code,account_number\n\
                1-0203,e-240001,electricity,DDZY1710,dlt645_2007,000000240001,1,GZ-TH01,A,guangdong-residential-electricity,GZ-0001\n\
                1-0203,W-240001,water,LXSY-20,cjt188,10000000240001,,GZ-TH01,A,,\n\
                B1-PUMP,E-240100,electricity,DTSD1352,dlt645_2007,000000240100,60,GZ-TH01,A,,\n";
    let parsed = parse(Kind::Meters, org(), file.as_bytes());
    assert!(parsed.is_ok(), "{:#?}", parsed.problems);
    assert_eq!(parsed.rows.len(), 3);
    let Row::Meter(m) = &parsed.rows[0].1 else {
        panic!()
    };
    assert_eq!(m.meter.serial.as_str(), "E-240001");
    assert_eq!(m.meter.utility, Utility::Electricity);
    assert_eq!(m.meter.protocol, MeterProtocol::Dlt645_2007);
    let i = m.installation.as_ref().unwrap();
    assert_eq!(
        (
            i.site_code.as_str(),
            i.building_code.as_str(),
            i.unit_code.as_str()
        ),
        ("GZ-TH01", "A", "1-0203")
    );
    assert_eq!(i.account_number.as_ref().unwrap().as_str(), "GZ-0001");
    assert_eq!(
        i.tariff_code.as_deref(),
        Some("guangdong-residential-electricity")
    );
    let Row::Meter(m) = &parsed.rows[1].1 else {
        panic!()
    };
    assert_eq!(m.meter.multiplier.get(), 1, "empty multiplier means 1");
    let i = m.installation.as_ref().unwrap();
    assert!(i.account_number.is_none() && i.tariff_code.is_none());
    let Row::Meter(m) = &parsed.rows[2].1 else {
        panic!()
    };
    assert_eq!(m.meter.multiplier.get(), 60);
}

#[test]
fn good_devices_file_without_optional_columns() {
    let file = "serial,utility,model,protocol,comm_address\n\
                G-240001,gas,G2.5,cjt188,30000000240001\n\
                M-240001,electricity,YF-IOT-1,mqtt,yf-iot-240001\n";
    let parsed = parse(Kind::Devices, org(), file.as_bytes());
    assert!(parsed.is_ok(), "{:#?}", parsed.problems);
    let Row::Device(d) = &parsed.rows[1].1 else {
        panic!()
    };
    assert_eq!(d.meter.protocol, MeterProtocol::Mqtt);
    assert_eq!(d.meter.comm_address.as_str(), "yf-iot-240001");
    assert_eq!(d.meter.multiplier.get(), 1);
    assert!(d.installation.is_none());
}

#[test]
fn every_bad_cell_of_every_row_is_reported() {
    let file = "account_number,account_class,customer_kind,name,phone,id_number,address\n\
                GZ-0001,residental,person,陈小明,,,\n\
                GZ-0002,residential,human,,call me,,\n\
                GZ-0003,residential,person,李华,13800138000,91440101-MA5,\n\
                GZ-0004,residential,person,王芳,,,\n\
                G4,,person,赵六,,,\n";
    let parsed = parse(Kind::Customers, org(), file.as_bytes());
    assert_eq!(
        places(&parsed),
        [
            (2, Some("account_class")),
            (3, Some("customer_kind")),
            (3, Some("name")),
            (3, Some("phone")),
            (4, Some("id_number")),
            (6, Some("account_number")),
            (6, Some("account_class")),
        ]
    );
    // Only the good row survives.
    assert_eq!(parsed.rows.len(), 1);
    assert_eq!(parsed.rows[0].0, 5);
    assert!(
        problem(&parsed, 2, "account_class")
            .message
            .contains("expected one of: residential, commercial, industrial, public")
    );
    assert_eq!(
        problem(&parsed, 3, "name").to_string(),
        "row 3, column name: required: the cell must not be empty"
    );
    assert!(
        problem(&parsed, 6, "account_number")
            .message
            .contains("at least 4 characters")
    );
}

#[test]
fn meter_rows_report_cross_field_and_cell_problems() {
    let file = "serial,utility,model,protocol,comm_address,multiplier,site_code,building_code,unit_code,account_number,tariff_code\n\
                W-1,water,LXSY,dlt645_2007,123,1,S,B,U,,\n\
                E-2,electricity,DDZY,dlt645_2007,000000000002,0,S,B,U/1,X,Bad_Tariff\n\
                E-3,electricity,DDZY,dlt645_2007,000000000003,1.5,,B,U,,\n\
                E 4,steam,,,,,S,B,U,,\n";
    let parsed = parse(Kind::Meters, org(), file.as_bytes());
    assert_eq!(
        places(&parsed),
        [
            (2, Some("protocol")),
            (2, Some("comm_address")),
            (3, Some("multiplier")),
            (3, Some("unit_code")),
            (3, Some("account_number")),
            (3, Some("tariff_code")),
            (4, Some("multiplier")),
            (4, Some("site_code")),
            (5, Some("serial")),
            (5, Some("utility")),
            (5, Some("model")),
            (5, Some("protocol")),
            (5, Some("comm_address")),
        ]
    );
    assert!(parsed.rows.is_empty());
    assert_eq!(
        problem(&parsed, 2, "protocol").message,
        "dlt645_2007 does not serve water meters (DL/T 645 is for electricity, CJ/T 188 for water and gas, mqtt for any)"
    );
    assert!(
        problem(&parsed, 2, "comm_address")
            .message
            .contains("12 decimal digits")
    );
    assert!(
        problem(&parsed, 4, "multiplier")
            .message
            .contains("'1.5' is not a whole number from 1 to 1000000")
    );
}

#[test]
fn gb18030_input_is_detected_and_decoded() {
    let text = "account_number,account_class,customer_kind,name,address\r\n\
                GZ-0001,residential,person,陈小明,广州市天河区示范路1号\r\n\
                GZ-0002,commercial,company,广州示例餐饮有限公司,\r\n";
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err(), "must not be UTF-8");
    let parsed = parse(Kind::Customers, org(), &bytes);
    assert!(parsed.is_ok(), "{:#?}", parsed.problems);
    assert_eq!(parsed.encoding, Encoding::Gb18030);
    let names: Vec<&str> = parsed
        .rows
        .iter()
        .map(|(_, r)| match r {
            Row::Customer(c) => c.customer.name.expose().as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["陈小明", "广州示例餐饮有限公司"]);
    let Row::Customer(c) = &parsed.rows[0].1 else {
        panic!()
    };
    assert_eq!(
        c.customer.address.as_ref().unwrap().expose(),
        "广州市天河区示范路1号"
    );
}

#[test]
fn a_bom_is_detected_and_not_part_of_the_first_column() {
    let file = "\u{feff}account_number,customer_account_number,account_class\r\nGZ-0001-W,GZ-0001,public\r\n";
    let parsed = parse(Kind::Accounts, org(), file.as_bytes());
    assert!(parsed.is_ok(), "{:#?}", parsed.problems);
    assert_eq!(parsed.encoding, Encoding::Utf8Bom);
    assert_eq!(parsed.rows.len(), 1);
}

#[test]
fn undecodable_bytes_are_reported_in_their_cell() {
    // A UTF-8 BOM followed by a GBK name: the name cannot be read as UTF-8.
    let mut bytes =
        b"\xEF\xBB\xBFserial,utility,model,protocol,comm_address\nE-1,electricity,".to_vec();
    bytes.extend_from_slice(b"\xB5\xE7\xB1\xED,mqtt,e-1\n");
    let parsed = parse(Kind::Devices, org(), &bytes);
    assert_eq!(parsed.encoding, Encoding::Utf8Bom);
    assert_eq!(places(&parsed), [(2, Some("model"))]);
    assert!(parsed.rows.is_empty());
}

#[test]
fn unknown_columns_are_named() {
    let file = "serial,utility,model,protocol,comm_address,remarks,Multiplier\nE-1,gas,G,cjt188,30000000000001,x,1\n";
    let parsed = parse(Kind::Devices, org(), file.as_bytes());
    assert_eq!(
        places(&parsed),
        [(1, Some("remarks")), (1, Some("Multiplier"))]
    );
    assert!(parsed.problems[0].message.starts_with("unknown column;"));
    assert!(
        parsed.problems[1]
            .message
            .contains("did you mean multiplier?")
    );
    assert!(parsed.rows.is_empty());
}

#[test]
fn missing_and_repeated_columns_are_reported() {
    let file = "serial,utility,model,comm_address,serial\nE-1,gas,G,30000000000001,E-1\n";
    let parsed = parse(Kind::Devices, org(), file.as_bytes());
    assert_eq!(
        places(&parsed),
        [(1, Some("serial")), (1, Some("protocol"))]
    );
    assert_eq!(
        parsed.problems[1].to_string(),
        "row 1, column protocol: required column is missing from the header"
    );
    // Optional columns may be left out; required ones may not.
    let parsed = parse(
        Kind::Meters,
        org(),
        b"serial,utility,model,protocol,comm_address,site_code,unit_code\n",
    );
    assert_eq!(places(&parsed), [(1, Some("building_code"))]);
}

#[test]
fn empty_file_and_file_of_another_kind() {
    for bytes in [&b""[..], b"\n\n", b"\xEF\xBB\xBF"] {
        let parsed = parse(Kind::Customers, org(), bytes);
        assert_eq!(places(&parsed), [(1, None)], "{bytes:?}");
        assert!(parsed.problems[0].message.contains("account_number,"));
    }
    let parsed = parse(
        Kind::Devices,
        org(),
        b"account_number,customer_account_number,account_class\n",
    );
    assert_eq!(
        parsed.problems[0].message,
        "the header is that of a accounts file, but the file was imported as devices"
    );
}

#[test]
fn duplicate_keys_name_both_rows() {
    let file = "account_number,account_class,customer_kind,name\n\
                GZ-0001,residential,person,甲\n\
                GZ-0002,residential,person,乙\n\
                gz-0001,residential,person,丙\n\
                GZ-0002,residental,person,丁\n";
    let parsed = parse(Kind::Customers, org(), file.as_bytes());
    assert_eq!(
        places(&parsed),
        [
            (4, Some("account_number")),
            (5, Some("account_class")),
            (5, Some("account_number")),
        ]
    );
    assert_eq!(
        parsed.problems[0].to_string(),
        "row 4, column account_number: duplicate account_number GZ-0001: rows 2 and 4 both have it"
    );
    assert!(parsed.problems[2].message.contains("rows 3 and 5"));
    assert_eq!(parsed.rows.len(), 2);

    let file = "serial,utility,model,protocol,comm_address\r\n\
                M-1,gas,G,mqtt,m-1\r\n\r\n\
                m-1,gas,G,mqtt,m-1b\r\n";
    let parsed = parse(Kind::Devices, org(), file.as_bytes());
    assert_eq!(places(&parsed), [(4, Some("serial"))]);
    assert!(parsed.problems[0].message.contains("rows 2 and 4"));

    let file = "account_number,customer_account_number,account_class\n\
                A-0001,C-0001,public\nA-0001,C-0002,public\n";
    let parsed = parse(Kind::Accounts, org(), file.as_bytes());
    assert_eq!(places(&parsed), [(3, Some("account_number"))]);
}

#[test]
fn rows_are_file_lines() {
    // Blank lines, a row of empty cells, and a quoted cell spanning two lines,
    // with LF and with CRLF line ends.
    for eol in ["\n", "\r\n"] {
        let file = [
            "serial,utility,model,protocol,comm_address",
            "",
            ",,,,",
            "M-1,gas,\"G",
            "2\",mqtt,m-1",
            "",
            "",
            "M-2,gas,G,mqtt,",
            "M-3,gas,G,mqtt,",
        ]
        .join(eol);
        let parsed = parse(Kind::Devices, org(), file.as_bytes());
        // The model with a line break is rejected (control character) on
        // row 4, where its record starts.
        assert_eq!(
            places(&parsed),
            [
                (4, Some("model")),
                (8, Some("comm_address")),
                (9, Some("comm_address"))
            ],
            "{eol:?}"
        );
    }
}

#[test]
fn stray_values_and_short_rows() {
    let file = "serial,utility,model,protocol,comm_address,\n\
                M-1,gas,G,mqtt,m-1,\n\
                M-2,gas,G,mqtt,m-2,oops\n\
                M-3,gas,G\n";
    let parsed = parse(Kind::Devices, org(), file.as_bytes());
    assert_eq!(
        places(&parsed),
        [(3, None), (4, Some("protocol")), (4, Some("comm_address"))]
    );
    assert_eq!(parsed.rows.len(), 1);
}

#[test]
fn at_most_max_rows() {
    let mut file = String::from("serial,utility,model,protocol,comm_address\n");
    for i in 0..=MAX_ROWS {
        file.push_str(&format!("M{i},gas,G,mqtt,m\n"));
    }
    let parsed = parse(Kind::Devices, org(), file.as_bytes());
    assert_eq!(places(&parsed), [(MAX_ROWS + 2, None)]);
    assert!(parsed.problems[0].message.starts_with("too many rows"));
    assert_eq!(parsed.rows.len(), MAX_ROWS);
}

/// Personal data in bad cells must not reach a problem message, its Display,
/// or the Debug of the parsed result.
#[test]
fn personal_data_never_appears_in_problems() {
    let secrets = [
        "SECRETNAME\u{7}",
        "SECRETPHONE 12",
        "SECRET-ID-99",
        "SECRETADDR\tX",
        "秘密的名字",
        "13912345678",
        "44010619900101123X",
        "天河区秘密路",
    ];
    let long_name = "秘".repeat(101);
    let file = format!(
        "account_number,account_class,customer_kind,name,phone,id_number,address\n\
         GZ-0001,residential,person,{},{},{},{}\n\
         GZ-0002,residental,person,{long_name},+86 {}x,{}!,天河\u{1}{}\n\
         GZ-0001,nope,nobody,{},{},{},{}\n\
         GZ-0005,residential,person,{},{},{},{}\n",
        secrets[0],
        secrets[1],
        secrets[2],
        secrets[3],
        secrets[5],
        secrets[6],
        secrets[7],
        secrets[4],
        secrets[5],
        secrets[6],
        secrets[7],
        secrets[4],
        secrets[5],
        secrets[6],
        secrets[7],
    );
    let parsed = parse(Kind::Customers, org(), file.as_bytes());
    // Every personal column of rows 2 and 3 is bad, plus the class of row 3,
    // the enum columns and the duplicate key of row 4. Row 5 is good: its
    // personal data must not show in Debug either.
    assert_eq!(parsed.problems.len(), 4 + 5 + 3, "{:#?}", parsed.problems);
    assert_eq!(parsed.rows.len(), 1);
    assert_eq!(parsed.rows[0].0, 5);
    let shown = format!(
        "{}\n{parsed:?}",
        parsed
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for secret in secrets
        .iter()
        .map(|s| s.trim_end_matches(['\u{7}', '\t', 'X']))
    {
        assert!(!shown.contains(secret), "{secret:?} leaked:\n{shown}");
    }
    assert!(!shown.contains(&long_name[..30]));
    assert!(
        problem(&parsed, 3, "phone")
            .message
            .starts_with("not a phone number: 5–20 digits")
    );
    assert_eq!(
        problem(&parsed, 3, "name").message,
        "too long: at most 100 characters"
    );

    // A file without its header row: the first line is data and is not echoed.
    let file = "GZ-0009,residential,person,秘密的名字,13912345678,,\n";
    let parsed = parse(Kind::Customers, org(), file.as_bytes());
    assert_eq!(places(&parsed), [(1, None)]);
    assert!(parsed.problems[0].message.starts_with("no header row"));
    assert!(!parsed.problems[0].to_string().contains("秘密"));
    assert!(!parsed.problems[0].to_string().contains("13912345678"));
}
