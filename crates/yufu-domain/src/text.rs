//! Validated text and number values. Each type can only be built through its
//! parser, so a value of the type is valid by construction.

use std::fmt;
use std::str::FromStr;

use crate::DomainError;

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), DomainError> {
    if s.is_empty() {
        return Err(DomainError::Empty { field });
    }
    let len = s.chars().count();
    if len > max {
        return Err(DomainError::TooLong { field, max, len });
    }
    Ok(())
}

fn check_chars(
    field: &'static str,
    s: &str,
    allowed: impl Fn(char) -> bool,
    what: &str,
) -> Result<(), DomainError> {
    match s.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(DomainError::invalid(
            field,
            format!("character {c:?} is not allowed ({what})"),
        )),
        None => Ok(()),
    }
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

text_type!(
    /// A human-readable name (of an organisation, site, building…): trimmed,
    /// 1–200 characters, no control characters. Chinese is welcome.
    Name
);
impl Name {
    pub fn parse_field(field: &'static str, s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        check_len(field, s, 200)?;
        check_chars(field, s, |c| !c.is_control(), "control characters")?;
        Ok(Self(s.to_owned()))
    }
}
impl FromStr for Name {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_field("name", s)
    }
}

text_type!(
    /// A short code an operator types and prints (site `GZ-TH01`, building `A`,
    /// unit `1-0203`): 1–32 of `A–Z a–z 0–9 - _ .`.
    Code
);
impl FromStr for Code {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        check_len("code", s, 32)?;
        check_chars(
            "code",
            s,
            |c| c.is_ascii_alphanumeric() || "-_.".contains(c),
            "letters, digits, '-', '_', '.'",
        )?;
        Ok(Self(s.to_owned()))
    }
}

text_type!(
    /// A meter's serial number as printed on its nameplate: 1–32 of
    /// `A–Z a–z 0–9 - _`, stored upper-case so look-ups ignore case.
    MeterSerial
);
impl FromStr for MeterSerial {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        check_len("serial", s, 32)?;
        check_chars(
            "serial",
            s,
            |c| c.is_ascii_alphanumeric() || "-_".contains(c),
            "letters, digits, '-', '_'",
        )?;
        Ok(Self(s.to_ascii_uppercase()))
    }
}

text_type!(
    /// A meter's communication address: the DL/T 645 address (12 decimal
    /// digits), the CJ/T 188 address (14 digits) or an MQTT device name. The
    /// protocol-specific shape is checked by [`CommAddress::check_for`].
    CommAddress
);
impl FromStr for CommAddress {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        check_len("comm_address", s, 64)?;
        check_chars(
            "comm_address",
            s,
            |c| c.is_ascii_alphanumeric() || "-_:.".contains(c),
            "letters, digits, '-', '_', ':', '.'",
        )?;
        Ok(Self(s.to_owned()))
    }
}
impl CommAddress {
    /// Checks the address against what the protocol can carry: DL/T 645 has a
    /// 6-byte BCD address (12 digits), CJ/T 188 a 7-byte BCD one (14 digits).
    pub fn check_for(&self, protocol: crate::MeterProtocol) -> Result<(), DomainError> {
        use crate::MeterProtocol::*;
        let digits = match protocol {
            Dlt645_2007 | Dlt645_1997 => 12,
            Cjt188 => 14,
            Mqtt => return Ok(()),
        };
        if self.0.len() == digits && self.0.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(DomainError::invalid(
                "comm_address",
                format!(
                    "a {} address is {digits} decimal digits, got '{}'",
                    protocol.as_str(),
                    self.0
                ),
            ))
        }
    }
}

text_type!(
    /// An account number (户号) as printed on receipts: 4–32 of `A–Z 0–9 -`.
    AccountNumber
);
impl FromStr for AccountNumber {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        check_len("account_number", s, 32)?;
        if s.len() < 4 {
            return Err(DomainError::invalid(
                "account_number",
                "at least 4 characters",
            ));
        }
        check_chars(
            "account_number",
            s,
            |c| c.is_ascii_alphanumeric() || c == '-',
            "letters, digits, '-'",
        )?;
        Ok(Self(s.to_ascii_uppercase()))
    }
}

text_type!(
    /// A tariff's code: the `id` of its tariff file, 1–64 of `a–z 0–9 -`,
    /// e.g. `guangdong-residential-electricity`.
    TariffCode
);
impl FromStr for TariffCode {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        check_len("tariff_code", s, 64)?;
        check_chars(
            "tariff_code",
            s,
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
            "a–z, 0–9, '-'",
        )?;
        Ok(Self(s.to_owned()))
    }
}

text_type!(
    /// A staff login name: 3–64 of `a–z 0–9 . _ -`, lower-case.
    Username
);
impl FromStr for Username {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        check_len("username", &s, 64)?;
        if s.len() < 3 {
            return Err(DomainError::invalid("username", "at least 3 characters"));
        }
        check_chars(
            "username",
            &s,
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c),
            "letters, digits, '.', '_', '-'",
        )?;
        Ok(Self(s))
    }
}

text_type!(
    /// An IANA time zone name such as `Asia/Shanghai`, in which a site's days,
    /// months and time-of-use bands are counted. Only the shape is checked here
    /// (the domain reads no files); the tariff core resolves it with jiff.
    TimeZoneName
);
impl TimeZoneName {
    pub fn shanghai() -> Self {
        Self("Asia/Shanghai".to_owned())
    }
}
impl FromStr for TimeZoneName {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        check_len("timezone", s, 64)?;
        check_chars(
            "timezone",
            s,
            |c| c.is_ascii_alphanumeric() || "/_-+".contains(c),
            "an IANA name such as Asia/Shanghai",
        )?;
        if s != "UTC" && !s.contains('/') {
            return Err(DomainError::invalid(
                "timezone",
                format!("'{s}' is not an IANA name such as Asia/Shanghai"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A meter's multiplier (倍率): the CT ratio × PT ratio by which the register's
/// advance is multiplied to give the consumption. 1 for a direct-connected meter.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Multiplier(u32);

impl Multiplier {
    pub const ONE: Multiplier = Multiplier(1);
    /// Above this a typo is far likelier than a real CT/PT (e.g. 10 kV / 100 V
    /// PT × 3000/5 CT = 60 000).
    pub const MAX: u32 = 1_000_000;

    pub fn new(value: u32) -> Result<Self, DomainError> {
        if value == 0 || value > Self::MAX {
            return Err(DomainError::invalid(
                "multiplier",
                format!("must be 1..={}, got {value}", Self::MAX),
            ));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for Multiplier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Multiplier({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Multiplier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(u32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A floor area in hundredths of a square metre (0.01 m²): integers, like money,
/// so that an area-based apportionment (公摊) is exact.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct AreaCentiSqm(i64);

impl AreaCentiSqm {
    /// No single unit is bigger than 10 km².
    pub const MAX: i64 = 1_000_000_000;

    pub fn new(value: i64) -> Result<Self, DomainError> {
        if !(0..=Self::MAX).contains(&value) {
            return Err(DomainError::invalid(
                "area",
                format!("must be 0..={} (0.01 m²), got {value}", Self::MAX),
            ));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Parses a decimal area in m² with at most two decimals, e.g. `"85.5"`,
    /// without going through floating point.
    pub fn parse_sqm(s: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::invalid("area", format!("'{s}' is not an area in m² like 85.50"));
        let s = s.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || frac.len() > 2
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        let centi = whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(bad)?;
        Self::new(centi)
    }
}

impl fmt::Display for AreaCentiSqm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for AreaCentiSqm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AreaCentiSqm({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for AreaCentiSqm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MeterProtocol;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            "  天河示范园区 ".parse::<Name>().expect("ok").as_str(),
            "天河示范园区"
        );
        assert_eq!(
            "".parse::<Name>(),
            Err(DomainError::Empty { field: "name" })
        );
        assert!("a\u{0}b".parse::<Name>().is_err());
        assert!("字".repeat(201).parse::<Name>().is_err());
        assert!("字".repeat(200).parse::<Name>().is_ok());
    }

    #[test]
    fn serials_are_upper_case() {
        assert_eq!(
            "ab-12".parse::<MeterSerial>().expect("ok").as_str(),
            "AB-12"
        );
        assert!("a b".parse::<MeterSerial>().is_err());
    }

    #[test]
    fn comm_address_shape_depends_on_protocol() {
        let a: CommAddress = "000000123456".parse().expect("ok");
        assert!(a.check_for(MeterProtocol::Dlt645_2007).is_ok());
        assert!(a.check_for(MeterProtocol::Cjt188).is_err());
        let b: CommAddress = "12345678901234".parse().expect("ok");
        assert!(b.check_for(MeterProtocol::Cjt188).is_ok());
        let err = b.check_for(MeterProtocol::Dlt645_2007).unwrap_err();
        assert!(err.to_string().contains("12 decimal digits"), "{err}");
        assert!(b.check_for(MeterProtocol::Mqtt).is_ok());
    }

    #[test]
    fn multiplier_bounds() {
        assert!(Multiplier::new(0).is_err());
        assert_eq!(Multiplier::new(60_000).expect("ok").get(), 60_000);
        assert!(Multiplier::new(Multiplier::MAX + 1).is_err());
    }

    #[test]
    fn areas_parse_without_floats() {
        assert_eq!(AreaCentiSqm::parse_sqm("85.5").expect("ok").get(), 8550);
        assert_eq!(AreaCentiSqm::parse_sqm("85.05").expect("ok").get(), 8505);
        assert_eq!(AreaCentiSqm::parse_sqm("120").expect("ok").get(), 12000);
        for bad in ["", ".5", "1.234", "-3", "1e3", "12.a"] {
            assert!(AreaCentiSqm::parse_sqm(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timezones_need_iana_shape() {
        assert!("Asia/Shanghai".parse::<TimeZoneName>().is_ok());
        assert!("UTC".parse::<TimeZoneName>().is_ok());
        assert!("CST".parse::<TimeZoneName>().is_err());
    }

    proptest! {
        #[test]
        fn area_display_parses_back(centi in 0i64..=AreaCentiSqm::MAX) {
            let area = AreaCentiSqm::new(centi).expect("in range");
            prop_assert_eq!(AreaCentiSqm::parse_sqm(&area.to_string()).expect("parses"), area);
        }

        #[test]
        fn username_parser_never_panics(s in "\\PC*") {
            let _ = s.parse::<Username>();
            let _ = s.parse::<Code>();
            let _ = s.parse::<AccountNumber>();
        }
    }
}
