//! One simulated meter: registers, supply switch, latched alarms, pending
//! events. Protocol-neutral; `dlt645_meter` and `cjt188_meter` speak for it.

use std::collections::VecDeque;

use jiff::Timestamp;
use jiff::civil::DateTime;
use yufu_domain::Utility;

use crate::SimError;
use crate::clock::hour_segments;
use crate::faults::DeviceEvent;
use crate::profile::Profile;
use crate::rng::Rng;

/// Pending events kept at most; the oldest is dropped beyond this (a meter's
/// event log is a ring buffer too).
pub const MAX_PENDING_EVENTS: usize = 64;

/// Whether the meter lets the utility through: relay closed / valve open
/// (`On`) or relay open / valve closed (`Off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Supply {
    On,
    Off,
}

/// A time-of-use rate, in the order DL/T 645 numbers tariffs 1–4
/// (尖 sharp, 峰 peak, 平 flat, 谷 valley); the index into [`SimMeter::rates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rate {
    Sharp = 0,
    Peak = 1,
    Flat = 2,
    Valley = 3,
}

impl Rate {
    /// The rate of a local time, a simplified Guangdong table:
    /// sharp 11–12 h in July–September; peak 10–12 h and 14–19 h;
    /// valley 0–8 h; flat otherwise (8–10, 12–14, 19–24 h).
    pub fn at(local: DateTime) -> Rate {
        let hour = local.hour();
        if (7..=9).contains(&local.month()) && hour == 11 {
            Rate::Sharp
        } else if (10..12).contains(&hour) || (14..19).contains(&hour) {
            Rate::Peak
        } else if hour < 8 {
            Rate::Valley
        } else {
            Rate::Flat
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What the platform (or an operator on site) asks of a meter, whatever the
/// protocol carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Trip the relay / close the valve.
    Cut,
    /// Close the relay / open the valve.
    Restore,
    /// Keep-power (保电): while on, an electricity meter refuses to trip.
    KeepPower(bool),
    /// A purchase credited on the meter.
    Recharge { fen: u64 },
    /// An engineer resets a gas-leak lockout on site. The valve stays
    /// closed until a `Restore`.
    ClearGasLeak,
}

/// Why a meter would not carry out a [`Command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refused {
    #[error("keep-power is on: the relay will not trip")]
    KeepPower,
    #[error("gas leak lockout: the valve stays closed until reset on site")]
    GasLeak,
    #[error("the valve is faulty and does not move")]
    ValveFault,
}

/// A simulated meter.
///
/// Fields are public so a fleet runner or a test can set up any state;
/// [`SimMeter::new`] checks the address.
#[derive(Debug, Clone)]
pub struct SimMeter {
    pub serial: String,
    pub utility: Utility,
    /// 12 decimal digits (DL/T 645) for electricity, 14 (CJ/T 188) for water
    /// and gas, printed high digit first.
    pub address: String,
    pub profile: Profile,
    /// Cumulative register in base units: Wh for electricity, litres for
    /// water and gas.
    pub register: u64,
    /// Electricity only: the register split by [`Rate`] (sharp, peak, flat,
    /// valley), in Wh. Water and gas meters leave it at zero.
    pub rates: [u64; 4],
    pub supply: Supply,
    /// Consumption is accounted up to this instant.
    pub last_advance: Timestamp,
    /// One-shot events not yet reported, oldest first.
    pub pending_events: VecDeque<DeviceEvent>,
    /// Gas only: a detected leak closes the valve and locks it closed until
    /// [`Command::ClearGasLeak`]; reported on every [`SimMeter::take_events`].
    pub gas_leak: bool,
    /// Water and gas: the valve is stuck; status shows it abnormal.
    pub valve_fault: bool,
    pub battery_low: bool,
    pub keep_power: bool,
    /// Electricity: the alarm (`2A`/`2B`) state.
    pub alarm: bool,
    /// The meter's own remaining-amount register, in fen.
    pub remaining_fen: u64,
    pub purchase_count: u32,
    /// Every purchase ever credited, in fen.
    pub purchased_fen: u64,
    /// Local deduction price in fen per kWh (electricity) or per m³ (water,
    /// gas). 0, the default, leaves `remaining_fen` alone: with remote
    /// prepayment (远程费控) the platform keeps the balance, not the meter.
    pub price_fen_per_kilo: u64,
    /// `price × units` not yet a whole fen (thousandths of a fen), so the
    /// local deduction never rounds money away.
    pub price_carry: u64,
    /// The register at the last settlement (local midnight starting the 1st
    /// of a month), reported by CJ/T 188 as the settlement-day flow.
    pub settlement_register: u64,
    /// Noise for consumption and reported electrical values; its seed fixes
    /// the meter's size.
    pub rng: Rng,
}

impl SimMeter {
    /// A meter with empty registers and supply on. The utility follows from
    /// the profile; the address must have the protocol's number of digits.
    pub fn new(
        serial: impl Into<String>,
        address: impl Into<String>,
        profile: Profile,
        seed: u64,
        now: Timestamp,
    ) -> Result<Self, SimError> {
        let utility = profile.utility();
        let address = address.into();
        let digits = address_digits(utility);
        if address.len() != digits || !address.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SimError::BadAddress {
                address,
                utility,
                digits,
            });
        }
        Ok(SimMeter {
            serial: serial.into(),
            utility,
            address,
            profile,
            register: 0,
            rates: [0; 4],
            supply: Supply::On,
            last_advance: now,
            pending_events: VecDeque::new(),
            gas_leak: false,
            valve_fault: false,
            battery_low: false,
            keep_power: false,
            alarm: false,
            remaining_fen: 0,
            purchase_count: 0,
            purchased_fen: 0,
            price_fen_per_kilo: 0,
            price_carry: 0,
            settlement_register: 0,
            rng: Rng::new(seed),
        })
    }

    /// Accounts consumption from `last_advance` up to `now` at `speed` (see
    /// [`Profile::consumption_at_speed`]) and returns the units added.
    ///
    /// Nothing is consumed while supply is off: the relay is open or the
    /// valve closed, so the premises get nothing. A `now` before
    /// `last_advance` (a clock step back) is ignored.
    pub fn advance(&mut self, now: Timestamp, speed: u32) -> u64 {
        if now <= self.last_advance {
            return 0;
        }
        let mut added = 0;
        for seg in hour_segments(self.last_advance, now) {
            if seg.on_the_hour && seg.local.day() == 1 && seg.local.hour() == 0 {
                self.settlement_register = self.register;
            }
            if self.supply == Supply::Off {
                continue;
            }
            let (Ok(from), Ok(to)) = (
                Timestamp::from_millisecond(seg.from_ms),
                Timestamp::from_millisecond(seg.to_ms),
            ) else {
                continue;
            };
            let units = self
                .profile
                .consumption_at_speed(from, to, speed, &mut self.rng);
            self.register = self.register.saturating_add(units);
            if self.utility == Utility::Electricity {
                let rate = Rate::at(seg.local).index();
                if let Some(r) = self.rates.get_mut(rate) {
                    *r = r.saturating_add(units);
                }
            }
            self.deduct(units);
            added += units;
        }
        self.last_advance = now;
        added
    }

    fn deduct(&mut self, units: u64) {
        if self.price_fen_per_kilo == 0 {
            return;
        }
        // Units are Wh or L: 1000 of them make the kWh or m³ the price is for.
        let owed = units
            .saturating_mul(self.price_fen_per_kilo)
            .saturating_add(self.price_carry);
        self.price_carry = owed % 1000;
        self.remaining_fen = self.remaining_fen.saturating_sub(owed / 1000);
    }

    /// Carries out a command. Call [`SimMeter::advance`] first, so the
    /// consumption up to the command is counted in the supply state it
    /// happened in.
    pub fn apply_command(&mut self, command: Command) -> Result<(), Refused> {
        let valve = self.utility != Utility::Electricity;
        match command {
            Command::Cut => {
                if !valve && self.keep_power {
                    return Err(Refused::KeepPower);
                }
                if valve && self.valve_fault && self.supply == Supply::On {
                    return Err(Refused::ValveFault);
                }
                self.supply = Supply::Off;
            }
            Command::Restore => {
                if self.gas_leak {
                    return Err(Refused::GasLeak);
                }
                if valve && self.valve_fault && self.supply == Supply::Off {
                    return Err(Refused::ValveFault);
                }
                self.supply = Supply::On;
            }
            Command::KeepPower(on) => self.keep_power = on,
            Command::Recharge { fen } => {
                self.remaining_fen = self.remaining_fen.saturating_add(fen);
                self.purchased_fen = self.purchased_fen.saturating_add(fen);
                self.purchase_count = self.purchase_count.saturating_add(1);
            }
            Command::ClearGasLeak => self.gas_leak = false,
        }
        Ok(())
    }

    /// Something happens to the meter. Returns false (and changes nothing)
    /// when the event does not apply to this utility: a gas leak on a
    /// non-gas meter, a valve fault on an electricity meter.
    ///
    /// A gas leak closes the valve at once, as real gas meters do, whatever
    /// keep-power or a pending command says.
    pub fn inject(&mut self, event: DeviceEvent) -> bool {
        match event {
            DeviceEvent::GasLeak => {
                if self.utility != Utility::Gas {
                    return false;
                }
                self.gas_leak = true;
                self.supply = Supply::Off;
            }
            DeviceEvent::ValveFault => {
                if self.utility == Utility::Electricity {
                    return false;
                }
                self.valve_fault = true;
            }
            DeviceEvent::LowBattery => self.battery_low = true,
            DeviceEvent::Tamper | DeviceEvent::CoverOpen | DeviceEvent::Magnetic => {}
        }
        if self.pending_events.len() >= MAX_PENDING_EVENTS {
            self.pending_events.pop_front();
        }
        self.pending_events.push_back(event);
        true
    }

    /// The events to report now, oldest first. One-shot events are
    /// reported once; a latched gas leak is reported every time until it is
    /// cleared.
    pub fn take_events(&mut self) -> Vec<DeviceEvent> {
        let mut events: Vec<DeviceEvent> = self.pending_events.drain(..).collect();
        if self.gas_leak && !events.contains(&DeviceEvent::GasLeak) {
            events.push(DeviceEvent::GasLeak);
        }
        events
    }
}

/// Address digits per utility: DL/T 645 has 6 BCD bytes, CJ/T 188 has 7.
pub fn address_digits(utility: Utility) -> usize {
    if utility == Utility::Electricity {
        12
    } else {
        14
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn meter(profile: Profile, address: &str) -> SimMeter {
        // 2026-11-20 00:00 Shanghai.
        SimMeter::new("SN1", address, profile, 11, ts("2026-11-19T16:00:00Z")).unwrap()
    }

    #[test]
    fn addresses_are_checked() {
        let now = ts("2026-11-19T16:00:00Z");
        assert!(SimMeter::new("s", "000000100001", Profile::Residential, 1, now).is_ok());
        assert!(SimMeter::new("s", "00000010000", Profile::Residential, 1, now).is_err());
        assert!(SimMeter::new("s", "00000010000A", Profile::Residential, 1, now).is_err());
        assert!(SimMeter::new("s", "000000100001", Profile::Gas, 1, now).is_err());
        let gas = SimMeter::new("s", "00000000100001", Profile::Gas, 1, now).unwrap();
        assert_eq!(gas.utility, Utility::Gas);
    }

    #[test]
    fn advance_adds_and_splits_by_rate() {
        let mut m = meter(Profile::Commercial, "000000100001");
        let added = m.advance(ts("2026-11-20T16:00:00Z"), 1);
        assert!(added > 0);
        assert_eq!(m.register, added);
        assert_eq!(m.rates.iter().sum::<u64>(), m.register);
        // November: no sharp; the other three all see use.
        assert_eq!(m.rates[Rate::Sharp.index()], 0);
        assert!(m.rates[1..].iter().all(|r| *r > 0), "{:?}", m.rates);
    }

    #[test]
    fn no_consumption_while_supply_is_off() {
        let mut m = meter(Profile::Residential, "000000100001");
        m.apply_command(Command::Cut).unwrap();
        assert_eq!(m.advance(ts("2026-11-21T16:00:00Z"), 1000), 0);
        assert_eq!(m.register, 0);
        assert_eq!(m.last_advance, ts("2026-11-21T16:00:00Z"));
        m.apply_command(Command::Restore).unwrap();
        assert!(m.advance(ts("2026-11-22T16:00:00Z"), 1) > 0);
    }

    #[test]
    fn clock_going_back_is_ignored() {
        let mut m = meter(Profile::Gas, "00000000100001");
        m.advance(ts("2026-11-20T10:00:00Z"), 1);
        let reg = m.register;
        assert_eq!(m.advance(ts("2026-11-20T09:00:00Z"), 1), 0);
        assert_eq!(m.register, reg);
        assert_eq!(m.last_advance, ts("2026-11-20T10:00:00Z"));
    }

    #[test]
    fn tou_table() {
        let at = |s: &str| Rate::at(s.parse().unwrap());
        assert_eq!(at("2026-11-20T03:00"), Rate::Valley);
        assert_eq!(at("2026-11-20T08:00"), Rate::Flat);
        assert_eq!(at("2026-11-20T10:30"), Rate::Peak);
        assert_eq!(at("2026-11-20T11:30"), Rate::Peak);
        assert_eq!(at("2026-07-20T11:30"), Rate::Sharp);
        assert_eq!(at("2026-11-20T12:30"), Rate::Flat);
        assert_eq!(at("2026-11-20T18:59"), Rate::Peak);
        assert_eq!(at("2026-11-20T19:00"), Rate::Flat);
        assert_eq!(at("2026-11-20T23:59"), Rate::Flat);
    }

    #[test]
    fn gas_leak_closes_and_locks_the_valve() {
        let mut m = meter(Profile::Gas, "00000000100001");
        assert!(m.inject(DeviceEvent::GasLeak));
        assert_eq!(m.supply, Supply::Off);
        assert_eq!(m.apply_command(Command::Restore), Err(Refused::GasLeak));
        // Reported again and again while latched.
        assert_eq!(m.take_events(), vec![DeviceEvent::GasLeak]);
        assert_eq!(m.take_events(), vec![DeviceEvent::GasLeak]);
        m.apply_command(Command::ClearGasLeak).unwrap();
        assert_eq!(m.supply, Supply::Off);
        assert!(m.take_events().is_empty());
        m.apply_command(Command::Restore).unwrap();
        assert_eq!(m.supply, Supply::On);

        let mut water = meter(Profile::Water { night_leak: false }, "00000000100002");
        assert!(!water.inject(DeviceEvent::GasLeak));
        assert_eq!(water.supply, Supply::On);
    }

    #[test]
    fn keep_power_refuses_trip() {
        let mut m = meter(Profile::Residential, "000000100001");
        m.apply_command(Command::KeepPower(true)).unwrap();
        assert_eq!(m.apply_command(Command::Cut), Err(Refused::KeepPower));
        assert_eq!(m.supply, Supply::On);
    }

    #[test]
    fn local_deduction_keeps_fractions() {
        let mut m = meter(Profile::Residential, "000000100001");
        m.apply_command(Command::Recharge { fen: 10_000 }).unwrap();
        m.price_fen_per_kilo = 61;
        m.advance(ts("2026-11-22T16:00:00Z"), 1);
        let spent = 10_000 - m.remaining_fen;
        assert_eq!(spent, m.register * 61 / 1000);
        assert_eq!(m.price_carry, m.register * 61 % 1000);
        assert_eq!(m.purchase_count, 1);
    }

    #[test]
    fn settlement_register_at_month_start() {
        let mut m = SimMeter::new(
            "s",
            "00000000100001",
            Profile::Water { night_leak: true },
            4,
            ts("2026-11-29T16:00:00Z"),
        )
        .unwrap();
        m.advance(ts("2026-11-30T16:00:00Z"), 1); // to 2026-12-01 00:00 local
        let at_month_end = m.register;
        m.advance(ts("2026-12-01T16:00:00Z"), 1);
        assert_eq!(m.settlement_register, at_month_end);
        assert!(m.register > at_month_end);
    }

    #[test]
    fn events_queue_is_bounded() {
        let mut m = meter(Profile::Residential, "000000100001");
        for _ in 0..(MAX_PENDING_EVENTS + 5) {
            m.inject(DeviceEvent::Tamper);
        }
        assert_eq!(m.take_events().len(), MAX_PENDING_EVENTS);
        assert!(!m.inject(DeviceEvent::ValveFault));
    }
}
