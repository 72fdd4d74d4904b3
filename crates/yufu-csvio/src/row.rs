//! The typed rows of each file kind.

use yufu_domain::{AccountNumber, CustomerClass, NewCustomer, NewMeter};

use crate::Kind;

/// One valid data row, before references to existing data are resolved.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Row {
    Customer(CustomerRow),
    Account(AccountRow),
    /// A row of a `meters` file: `installation` is always `Some`.
    Meter(MeterRow),
    /// A row of a `devices` file: `installation` is always `None`.
    Device(MeterRow),
}

/// A row of a `customers` file: a new customer and their first account.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CustomerRow {
    pub account_number: AccountNumber,
    pub account_class: CustomerClass,
    /// The contact details, validated by [`NewCustomer::new`]. The personal
    /// data is wrapped in `Personal`, so `Debug` of a row never shows it.
    pub customer: NewCustomer,
}

/// A row of an `accounts` file: an extra account for an existing customer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AccountRow {
    pub account_number: AccountNumber,
    /// An account number of the customer the new account belongs to.
    pub customer_account_number: AccountNumber,
    pub account_class: CustomerClass,
}

/// A row of a `meters` or `devices` file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MeterRow {
    /// Passes [`NewMeter::validate`].
    pub meter: NewMeter,
    /// Where it is installed (`meters` files only).
    pub installation: Option<Installation>,
}

/// Where a meter of a `meters` file is installed and what it is linked to.
/// The codes have the shape of `yufu_domain::Code` / `TariffCode`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Installation {
    pub site_code: String,
    pub building_code: String,
    pub unit_code: String,
    pub account_number: Option<AccountNumber>,
    pub tariff_code: Option<String>,
}

impl Row {
    /// The kind of file this row comes from.
    pub fn kind(&self) -> Kind {
        match self {
            Row::Customer(_) => Kind::Customers,
            Row::Account(_) => Kind::Accounts,
            Row::Meter(_) => Kind::Meters,
            Row::Device(_) => Kind::Devices,
        }
    }

    /// The value of [`Kind::key_column`]: the account number or the serial.
    pub fn key(&self) -> &str {
        match self {
            Row::Customer(c) => c.account_number.as_str(),
            Row::Account(a) => a.account_number.as_str(),
            Row::Meter(m) | Row::Device(m) => m.meter.serial.as_str(),
        }
    }

    /// The cells in the order of [`Kind::columns`] of [`Row::kind`], as
    /// [`export`](crate::export) takes them. Contains the personal data in
    /// plain text: for writing a file, never for a log.
    pub fn to_cells(&self) -> Vec<String> {
        fn opt<T: ToString>(value: Option<&T>) -> String {
            value.map(ToString::to_string).unwrap_or_default()
        }
        match self {
            Row::Customer(c) => {
                let p = &c.customer;
                vec![
                    c.account_number.to_string(),
                    c.account_class.to_string(),
                    p.kind.to_string(),
                    p.name.expose().clone(),
                    opt(p.phone.as_ref().map(|v| v.expose())),
                    opt(p.id_number.as_ref().map(|v| v.expose())),
                    opt(p.address.as_ref().map(|v| v.expose())),
                ]
            }
            Row::Account(a) => vec![
                a.account_number.to_string(),
                a.customer_account_number.to_string(),
                a.account_class.to_string(),
            ],
            Row::Meter(m) | Row::Device(m) => {
                let meter = &m.meter;
                let mut cells = vec![
                    meter.serial.to_string(),
                    meter.utility.to_string(),
                    meter.model.to_string(),
                    meter.protocol.to_string(),
                    meter.comm_address.to_string(),
                    meter.multiplier.get().to_string(),
                ];
                if let Row::Meter(_) = self {
                    let i = m.installation.as_ref();
                    cells.extend([
                        opt(i.map(|i| &i.site_code)),
                        opt(i.map(|i| &i.building_code)),
                        opt(i.map(|i| &i.unit_code)),
                        opt(i.and_then(|i| i.account_number.as_ref())),
                        opt(i.and_then(|i| i.tariff_code.as_ref())),
                    ]);
                }
                cells
            }
        }
    }
}
