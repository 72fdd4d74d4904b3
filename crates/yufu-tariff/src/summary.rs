//! A readable summary of a tariff. (Being written.)
use crate::model::Tariff;

pub fn describe(tariff: &Tariff) -> String {
    tariff.name.clone()
}
