//! Load profiles: how much a meter consumes between two instants, shaped by
//! the local hour of day in Asia/Shanghai. Integer arithmetic throughout.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use yufu_domain::Utility;

use crate::SimError;
use crate::clock::{HOUR_MS, Segment, hour_segments};
use crate::rng::{Rng, trait_from_seed};

/// What kind of consumer a meter has. Electricity profiles count Wh, water
/// and gas profiles count litres (the registers of `yufu_domain::Utility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// A household: morning (7–9 h) and evening (18–23 h) peaks,
    /// 3–12 kWh a day.
    Residential,
    /// A shop or office: business hours 9–21 h, 30–150 kWh a day.
    Commercial,
    /// Household water: morning and evening use, 150–400 L a day; with
    /// `night_leak` a constant 5–20 L/h flows from 0 to 5 h as well (what
    /// night-flow leak detection looks for).
    Water { night_leak: bool },
    /// Household gas: cooking peaks at breakfast, lunch and dinner,
    /// 0.5–2 m³ (500–2000 L) a day.
    Gas,
}

/// Share of the day's consumption in each local hour (any scale; only the
/// ratios matter).
type Shape = [u64; 24];

/// Fridge and standby overnight, breakfast, then the evening peak.
const RESIDENTIAL: Shape = [
    2, 2, 2, 2, 2, 2, 3, 8, 8, 4, 3, 4, 4, 3, 3, 3, 3, 4, 9, 10, 10, 10, 9, 5,
];
/// Standby outside business hours, full load 9–21 h.
const COMMERCIAL: Shape = [
    2, 2, 2, 2, 2, 2, 2, 3, 6, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 5, 3, 2,
];
/// Nothing at night (so a leak stands out), showers and cooking around
/// 6–9 h and 18–22 h.
const WATER: Shape = [
    0, 0, 0, 0, 0, 1, 6, 10, 7, 3, 2, 3, 4, 2, 1, 1, 2, 3, 6, 8, 9, 8, 5, 1,
];
/// Breakfast, lunch and dinner on the stove, a water heater late evening.
const GAS: Shape = [
    0, 0, 0, 0, 0, 0, 3, 5, 2, 0, 1, 6, 5, 1, 0, 0, 0, 5, 8, 5, 2, 3, 2, 0,
];

/// Per-call noise: the interval's consumption is scaled by a factor drawn
/// from 90.0–110.0 % (in per mille). Kept inside the documented daily ranges
/// by choosing the meters' sizes 10 % inside them.
const NOISE_PER_MILLE: (u64, u64) = (900, 1100);

/// Hours (local, `0..NIGHT_LEAK_UNTIL`) in which a leaking water meter flows.
const NIGHT_LEAK_UNTIL: usize = 5;

/// Salts for the seed-derived traits, so size and leak rate are independent.
const SALT_SIZE: u64 = 0x5153;
const SALT_LEAK: u64 = 0x4C45;

impl Profile {
    /// The utility whose meters carry this profile.
    pub fn utility(self) -> Utility {
        match self {
            Profile::Residential | Profile::Commercial => Utility::Electricity,
            Profile::Water { .. } => Utility::Water,
            Profile::Gas => Utility::Gas,
        }
    }

    /// The documented daily consumption range in base units (Wh or L),
    /// without a night leak. Every meter's day falls inside it.
    pub fn daily_range(self) -> (u64, u64) {
        match self {
            Profile::Residential => (3_000, 12_000),
            Profile::Commercial => (30_000, 150_000),
            Profile::Water { .. } => (150, 400),
            Profile::Gas => (500, 2_000),
        }
    }

    /// The range a meter's size (its mean daily consumption) is drawn from:
    /// the documented range shrunk so that ±10 % noise stays inside it.
    fn size_range(self) -> (u64, u64) {
        match self {
            Profile::Residential => (3_500, 10_500),
            Profile::Commercial => (35_000, 135_000),
            Profile::Water { .. } => (180, 330),
            Profile::Gas => (600, 1_700),
        }
    }

    fn shape(self) -> &'static Shape {
        match self {
            Profile::Residential => &RESIDENTIAL,
            Profile::Commercial => &COMMERCIAL,
            Profile::Water { .. } => &WATER,
            Profile::Gas => &GAS,
        }
    }

    /// A meter's mean daily consumption in base units, fixed by its seed.
    pub fn daily_size(self, seed: u64) -> u64 {
        let (lo, hi) = self.size_range();
        trait_from_seed(seed, SALT_SIZE, lo, hi)
    }

    /// The night leak in litres per hour (5–20, fixed by the seed), 0 when
    /// the profile has no leak.
    pub fn leak_per_hour(self, seed: u64) -> u64 {
        match self {
            Profile::Water { night_leak: true } => trait_from_seed(seed, SALT_LEAK, 5, 20),
            _ => 0,
        }
    }

    /// Base units (Wh or L) consumed between `from` and `to` (0 if `to` is
    /// not after `from`). See [`Profile::consumption_at_speed`].
    pub fn consumption(&self, from: Timestamp, to: Timestamp, rng: &mut Rng) -> u64 {
        self.consumption_at_speed(from, to, 1, rng)
    }

    /// Base units consumed between `from` and `to`, times `speed`.
    ///
    /// The meter's size and leak rate come from `rng.seed()` (fixed for its
    /// life); the noise and the rounding draw from `rng`'s stream, so the
    /// same seed and the same calls give the same numbers.
    ///
    /// `speed` multiplies consumption, not the clock: at speed 60 a meter
    /// uses in one real minute what it would use in an hour at that time of
    /// day. The daily shape stays on real local time, the registers move 60×
    /// faster (for demos). Speed 1 is real life; 0 consumes nothing.
    ///
    /// Fractions of a unit are rounded up or down at random in proportion
    /// (stochastic rounding), so frequent small intervals add up to the
    /// right total instead of always rounding to zero.
    pub fn consumption_at_speed(
        &self,
        from: Timestamp,
        to: Timestamp,
        speed: u32,
        rng: &mut Rng,
    ) -> u64 {
        let seed = rng.seed();
        let (shaped, leak) = hour_segments(from, to).fold((0u128, 0u128), |(shaped, leak), seg| {
            (
                shaped + self.shaped_milli(&seg, seed),
                leak + self.leak_milli(&seg, seed),
            )
        });
        let noise = u128::from(rng.between(NOISE_PER_MILLE.0, NOISE_PER_MILLE.1));
        // The leak is a steady drip: no noise, which is what makes it visible.
        let milli = (shaped * noise / 1000 + leak) * u128::from(speed);
        let whole = milli / 1000;
        let fraction = milli % 1000;
        let round_up = u128::from(rng.below(1000)) < fraction;
        u64::try_from(whole + u128::from(round_up)).unwrap_or(u64::MAX)
    }

    /// The expected consumption rate at `at` in base units per hour: watts
    /// for electricity, L/h for water and gas (leak included). Noise-free;
    /// the DL/T 645 meter adds its own jitter to the power it reports.
    pub fn rate_per_hour(self, at: Timestamp, seed: u64) -> u64 {
        let end = Timestamp::from_millisecond(at.as_millisecond() + 1).unwrap_or(at);
        let Some(first) = hour_segments(at, end).next() else {
            return 0;
        };
        // A whole hour at the local hour of `at` gives units per hour.
        let hour = Segment {
            to_ms: first.from_ms + HOUR_MS,
            ..first
        };
        let milli = self.shaped_milli(&hour, seed) + self.leak_milli(&hour, seed);
        u64::try_from(milli / 1000).unwrap_or(u64::MAX)
    }

    /// Thousandths of a base unit the daily shape puts in `seg`.
    fn shaped_milli(self, seg: &Segment, seed: u64) -> u128 {
        let shape = self.shape();
        let total: u64 = shape.iter().sum();
        let weight = shape.get(seg.hour()).copied().unwrap_or(0);
        let len_ms = u128::try_from(seg.len_ms()).unwrap_or(0);
        // size × (weight / total) is the hour's share; × len / hour its part.
        u128::from(self.daily_size(seed)) * 1000 * u128::from(weight) * len_ms
            / (u128::from(total) * u128::from(HOUR_MS.unsigned_abs()))
    }

    fn leak_milli(self, seg: &Segment, seed: u64) -> u128 {
        if seg.hour() >= NIGHT_LEAK_UNTIL {
            return 0;
        }
        let len_ms = u128::try_from(seg.len_ms()).unwrap_or(0);
        u128::from(self.leak_per_hour(seed)) * 1000 * len_ms / u128::from(HOUR_MS.unsigned_abs())
    }

    /// The name used on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Residential => "residential",
            Profile::Commercial => "commercial",
            Profile::Water { night_leak: false } => "water",
            Profile::Water { night_leak: true } => "water_leak",
            Profile::Gas => "gas",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        Ok(match s {
            "residential" => Profile::Residential,
            "commercial" => Profile::Commercial,
            "water" => Profile::Water { night_leak: false },
            "water_leak" => Profile::Water { night_leak: true },
            "gas" => Profile::Gas,
            other => return Err(SimError::UnknownProfile(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Profile; 5] = [
        Profile::Residential,
        Profile::Commercial,
        Profile::Water { night_leak: false },
        Profile::Water { night_leak: true },
        Profile::Gas,
    ];

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Local midnight 2026-11-20 in Shanghai.
    fn midnight() -> Timestamp {
        ts("2026-11-19T16:00:00Z")
    }

    fn day_in_steps(profile: Profile, seed: u64, step_min: i64) -> u64 {
        let mut rng = Rng::new(seed);
        let start = midnight().as_millisecond();
        let steps = 24 * 60 / step_min;
        (0..steps)
            .map(|i| {
                let a = Timestamp::from_millisecond(start + i * step_min * 60_000).unwrap();
                let b = Timestamp::from_millisecond(start + (i + 1) * step_min * 60_000).unwrap();
                profile.consumption(a, b, &mut rng)
            })
            .sum()
    }

    #[test]
    fn a_day_is_within_the_documented_range() {
        for profile in ALL {
            let (lo, hi) = profile.daily_range();
            for seed in 0..40 {
                let leak = profile.leak_per_hour(seed) * 5;
                let day_end =
                    Timestamp::from_millisecond(midnight().as_millisecond() + 24 * HOUR_MS)
                        .unwrap();
                let one_call = profile.consumption(midnight(), day_end, &mut Rng::new(seed));
                let stepped = day_in_steps(profile, seed, 15);
                for total in [one_call, stepped] {
                    assert!(
                        (lo + leak..=hi + leak).contains(&total),
                        "{profile} seed {seed}: {total} not in {lo}..={hi} (+{leak} leak)"
                    );
                }
            }
        }
    }

    #[test]
    fn seeds_give_different_sizes() {
        let sizes: std::collections::BTreeSet<u64> = (0..20)
            .map(|s| Profile::Residential.daily_size(s))
            .collect();
        assert!(sizes.len() > 15);
    }

    #[test]
    fn deterministic_for_a_seed() {
        for profile in ALL {
            assert_eq!(day_in_steps(profile, 99, 10), day_in_steps(profile, 99, 10));
        }
        assert_ne!(
            day_in_steps(Profile::Commercial, 1, 10),
            day_in_steps(Profile::Commercial, 2, 10)
        );
    }

    #[test]
    fn shape_follows_the_local_hour() {
        let seed = 3;
        // Shanghai 03:00 (no water use) versus 07:00 (morning peak).
        let night = ts("2026-11-19T19:00:00Z");
        let morning = ts("2026-11-19T23:00:00Z");
        let water = Profile::Water { night_leak: false };
        assert_eq!(water.rate_per_hour(night, seed), 0);
        assert!(water.rate_per_hour(morning, seed) > 0);
        let leaky = Profile::Water { night_leak: true };
        assert_eq!(leaky.rate_per_hour(night, seed), leaky.leak_per_hour(seed));
        assert!((5..=20).contains(&leaky.leak_per_hour(seed)));
        // Commercial: office hours beat 3 am.
        assert!(
            Profile::Commercial.rate_per_hour(ts("2026-11-20T03:00:00Z"), seed)
                > 4 * Profile::Commercial.rate_per_hour(night, seed)
        );
    }

    #[test]
    fn speed_multiplies_consumption() {
        let from = midnight();
        let to = Timestamp::from_millisecond(from.as_millisecond() + 24 * HOUR_MS).unwrap();
        let base = Profile::Gas.consumption_at_speed(from, to, 1, &mut Rng::new(5));
        let fast = Profile::Gas.consumption_at_speed(from, to, 60, &mut Rng::new(5));
        assert!(fast.abs_diff(base * 60) <= 60, "{fast} vs {base}×60");
        assert_eq!(
            Profile::Gas.consumption_at_speed(from, to, 0, &mut Rng::new(5)),
            0
        );
        assert_eq!(Profile::Gas.consumption(to, from, &mut Rng::new(5)), 0);
    }

    #[test]
    fn names_round_trip() {
        for profile in ALL {
            assert_eq!(profile.as_str().parse::<Profile>().unwrap(), profile);
        }
        assert!("solar".parse::<Profile>().is_err());
    }
}
