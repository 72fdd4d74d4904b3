//! Meter swap with data migration (数据迁移, issue 8): a faulty or retired
//! meter is replaced by another at the same unit. The old meter's final
//! reading is billed; the new meter starts from its own opening reading;
//! the account, its balance, tariff, ledger, recharge records and reading
//! history carry on; and the new meter continues the old one's tier-period
//! usage, sub-fen carry and fixed-charge mark (`ConfigChange::Inherit`), so
//! a swap never changes the bill — no consumption lost, none billed twice.
//!
//! [`migrate`] does the billing and assignment work only: the lifecycle
//! service around it moves the meters' statuses and records the swap.
//!
//! ## Order of work, and why a retry completes it
//!
//! 1. Validate; nothing changes on a refusal (the final reading is priced
//!    with [`Writer::preview`] first, so even a reading pricing would hold
//!    for review is not stored).
//! 2. Ingest the old meter's final reading through the writer: billed like
//!    any reading. On a retry it is a duplicate of a stored reading: fine.
//! 3. Assign the new meter in the store to the old one's unit, account and
//!    tariff (and public-area sharing group, if any).
//! 4. In one writer request (one journal batch): load the new meter into the
//!    engine and hand the old meter's tier usage, carry and fixed-charge mark
//!    over to it. The handover *moves* the state, so a repeat does nothing.
//! 5. Ingest the new meter's opening reading: the baseline, not billed.
//! 6. Unassign the old meter in the store and sync it (removed from the
//!    engine): later readings from the old device are refused, not billed.
//!
//! This is the brief's order with "unassign the old meter" moved last, so
//! that every state a failure can leave behind is recognisable from the
//! store and the journal, and [`migrate`] with the same plan resumes it:
//!
//! - after 2: the final reading is a duplicate, the rest runs as new;
//! - after 3–5: the new meter is on the old one's unit and account (what
//!   "new already assigned" would otherwise refuse), so the steps run
//!   again — each is idempotent (assignments compare first, configuration
//!   the engine already has journals nothing, the handover finds nothing
//!   left to move, a stored opening reading is a duplicate);
//! - after 6 (or its store half): the old meter is unassigned; the swap is
//!   recognised as done when the old meter's stored readings contain this
//!   plan's final reading and the new meter's its opening reading, and the
//!   old meter is synced again (removed from the engine if it was not yet).
//!
//! Between 4 and 6 both meters are billed for a moment; the old one's tier
//! usage is already with the new one. Had the old meter been unassigned
//! before the new one was loaded, a crash in between would lose its tier
//! usage (the engine forgets a removed meter's billing state) and leave a
//! store from which the unit could not be recovered.

use jiff::Timestamp;
use yufu_domain::{AccountId, Fen, Meter, MeterId, OrganisationId, TariffCode, UnitId, Utility};
use yufu_engine::{ReadingIn, ReadingResult};
use yufu_store::{Store, StoreError};
use yufu_tariff::{RateRegisters, Verdict};
use yufu_writer::sync::{self, SiteCache};
use yufu_writer::{ConfigChange, Writer, WriterError};

/// How far back a meter's stored readings are searched for the plan's
/// final and opening readings when recognising a finished swap.
pub const EVIDENCE_DEPTH: u32 = 64;

/// What to swap, and the two register readings taken on site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapPlan {
    /// The meter taken out.
    pub old: MeterId,
    /// The meter put in its place (unassigned, or already on the old
    /// meter's unit and account when a previous attempt got that far).
    pub new: MeterId,
    /// The old meter's final register reading (base units, as in
    /// [`ReadingIn::register`]) and when it was read: billed.
    pub final_reading: u64,
    pub final_at: Timestamp,
    /// Per-rate registers of the final reading, if the meter has them.
    pub final_rates: Option<RateRegisters>,
    /// The new meter's own opening register reading and when it was read:
    /// not billed, the start point of its consumption.
    pub opening_reading: u64,
    pub opening_at: Timestamp,
    /// Per-rate registers of the opening reading, if the meter has them.
    pub opening_rates: Option<RateRegisters>,
}

/// What a swap did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapOutcome {
    pub old: MeterId,
    pub new: MeterId,
    pub account: AccountId,
    pub unit: UnitId,
    pub tariff: TariffCode,
    /// The final reading's verdict: `Billed`, `Opening` (the old meter had
    /// never been read), or `Duplicate` (already stored: a resumed swap).
    pub final_verdict: Verdict,
    /// What the final reading charged (0 unless billed).
    pub charged: Fen,
    /// The opening reading's verdict: `Opening`, or `Duplicate` when it was
    /// stored before (a resumed swap). `Billed` only if readings from the
    /// new device reached the engine before the opening reading did: that
    /// consumption is then billed from the device's first reading.
    pub opening_verdict: Verdict,
    /// What the opening reading charged (0 unless billed).
    pub opening_charged: Fen,
    /// The account's balance when this call started (before its final
    /// reading) and after the swap.
    pub balance_before: Fen,
    pub balance_after: Fen,
    /// A previous attempt had got part of the way (or all of it).
    pub resumed: bool,
}

/// Why a swap was refused or stopped. Refusals found while validating
/// (everything up to [`SwapError::FinalReadingRefused`]) change nothing.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("the old and the new meter are the same meter ({0})")]
    SameMeter(MeterId),
    #[error("meter {new} belongs to another organisation ({new_org}) than meter {old} ({old_org})")]
    DifferentOrganisation {
        old: MeterId,
        new: MeterId,
        old_org: OrganisationId,
        new_org: OrganisationId,
    },
    #[error("a {new_utility} meter ({new}) cannot replace a {old_utility} meter ({old})")]
    DifferentUtility {
        old: MeterId,
        new: MeterId,
        old_utility: Utility,
        new_utility: Utility,
    },
    #[error("meter {meter} is not installed: it has no {missing}, so there is nothing to swap")]
    OldNotInstalled {
        meter: MeterId,
        missing: &'static str,
    },
    #[error(
        "meter {meter} is assigned but the engine does not bill it (its tariff or account is \
         not loaded): a final reading could not be billed; reconcile first"
    )]
    OldNotBilled { meter: MeterId },
    #[error(
        "meter {meter} is already assigned (unit {unit:?}, account {account:?}); a replacement \
         must come unassigned"
    )]
    NewAlreadyAssigned {
        meter: MeterId,
        unit: Option<UnitId>,
        account: Option<AccountId>,
    },
    #[error("the opening reading ({opening_at}) is before the final reading ({final_at})")]
    OpeningBeforeFinal {
        final_at: Timestamp,
        opening_at: Timestamp,
    },
    #[error("the old meter's final reading was refused: {reason}")]
    FinalReadingRefused {
        /// Pricing's verdict, when it gave one.
        verdict: Option<Verdict>,
        reason: String,
    },
    #[error("the new meter's opening reading was refused: {reason}")]
    OpeningReadingRefused {
        verdict: Option<Verdict>,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Writer(#[from] WriterError),
}

/// How far a previous attempt got (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Nothing done to the assignments yet (the final reading may be in).
    Fresh,
    /// The new meter is on the old one's unit and account.
    NewAssigned,
    /// The old meter is unassigned: only its removal from the engine may
    /// be left to do.
    Done,
}

/// Where the old meter was installed.
struct Place {
    unit: UnitId,
    account: AccountId,
    tariff: TariffCode,
}

/// Swaps `plan.old` for `plan.new` with data migration; see the module
/// documentation for the order of work and how a retry resumes it.
pub async fn migrate(
    store: &dyn Store,
    writer: &Writer,
    plan: &SwapPlan,
) -> Result<SwapOutcome, SwapError> {
    // 1. Validate.
    let (stage, place) = validate(store, writer, plan).await?;
    let balance_before = balance(writer, place.account).await?;
    if stage == Stage::Done {
        // Only (part of) step 6 may be left to do.
        remove_old(store, writer, plan.old).await?;
        return Ok(SwapOutcome {
            old: plan.old,
            new: plan.new,
            account: place.account,
            unit: place.unit,
            tariff: place.tariff,
            final_verdict: Verdict::Duplicate,
            charged: Fen::ZERO,
            opening_verdict: Verdict::Duplicate,
            opening_charged: Fen::ZERO,
            balance_before,
            balance_after: balance(writer, place.account).await?,
            resumed: true,
        });
    }
    let final_reading = ReadingIn {
        meter: plan.old,
        at: plan.final_at,
        register: plan.final_reading,
        rates: plan.final_rates,
    };
    let preview = writer
        .preview(final_reading)
        .await?
        .ok_or(SwapError::OldNotBilled { meter: plan.old })?;
    match &preview {
        // Older than the latest: the ingest says whether it is a stored
        // duplicate (a retry) or refused; neither stores anything.
        Verdict::Billed(_) | Verdict::Opening | Verdict::Duplicate | Verdict::OutOfOrder { .. } => {
        }
        refused => {
            return Err(SwapError::FinalReadingRefused {
                verdict: Some(refused.clone()),
                reason: refused.explain(),
            });
        }
    }

    // 2. The old meter's final reading, billed like any reading.
    let (final_verdict, charged) = match ingest(writer, final_reading).await? {
        Ok(done) => done,
        Err(reason) => {
            return Err(SwapError::FinalReadingRefused {
                verdict: Some(preview).filter(|v| matches!(v, Verdict::OutOfOrder { .. })),
                reason,
            });
        }
    };
    if let Verdict::NegativeDelta { .. }
    | Verdict::ImplausibleJump { .. }
    | Verdict::NoTariff { .. }
    | Verdict::GapTooLong { .. } = &final_verdict
    {
        // Another reading changed the meter's state after the preview.
        return Err(SwapError::FinalReadingRefused {
            reason: final_verdict.explain(),
            verdict: Some(final_verdict),
        });
    }

    // 3. The new meter takes the old one's place in the store.
    let new = store.get_meter(plan.new).await?;
    if new.unit_id != Some(place.unit) || new.account_id != Some(place.account) {
        store
            .assign_meter(plan.new, Some(place.unit), Some(place.account))
            .await?;
    }
    if new.tariff_code.as_ref() != Some(&place.tariff) {
        store
            .set_meter_tariff(plan.new, Some(&place.tariff))
            .await?;
    }
    let sharing = store.meter_sharing(plan.old).await?;
    if store.meter_sharing(plan.new).await? != sharing {
        store.set_meter_sharing(plan.new, sharing.as_ref()).await?;
    }

    // 4. Loaded into the engine together with the handover: one request,
    // one journal batch.
    let new = store.get_meter(plan.new).await?;
    let mut changes = sync::meter_changes(store, &mut SiteCache::default(), &new).await?;
    changes.push(ConfigChange::Inherit {
        from: plan.old,
        to: plan.new,
    });
    writer.configure(changes).await?;

    // 5. The new meter's opening reading: its baseline.
    let opening = ReadingIn {
        meter: plan.new,
        at: plan.opening_at,
        register: plan.opening_reading,
        rates: plan.opening_rates,
    };
    let (opening_verdict, opening_charged) = match ingest(writer, opening).await? {
        Ok((v @ (Verdict::Opening | Verdict::Duplicate | Verdict::Billed(_)), fen)) => (v, fen),
        Ok((other, _)) => {
            return Err(SwapError::OpeningReadingRefused {
                reason: other.explain(),
                verdict: Some(other),
            });
        }
        // Older than the new meter's latest reading: fine if it is this
        // plan's opening reading, stored by an earlier attempt.
        Err(reason) => {
            if stored(
                store,
                writer,
                plan.new,
                plan.opening_at,
                plan.opening_reading,
            )
            .await?
            {
                (Verdict::Duplicate, Fen::ZERO)
            } else {
                return Err(SwapError::OpeningReadingRefused {
                    verdict: None,
                    reason,
                });
            }
        }
    };

    // 6. The old meter leaves the unit and the engine.
    remove_old(store, writer, plan.old).await?;

    Ok(SwapOutcome {
        old: plan.old,
        new: plan.new,
        account: place.account,
        unit: place.unit,
        tariff: place.tariff,
        final_verdict,
        charged,
        opening_verdict,
        opening_charged,
        balance_before,
        balance_after: balance(writer, place.account).await?,
        resumed: stage != Stage::Fresh,
    })
}

/// Step 6: unassigns the old meter (what is still assigned) and syncs it,
/// which removes it from the engine: its device's readings are refused from
/// now on. Idempotent.
async fn remove_old(store: &dyn Store, writer: &Writer, old: MeterId) -> Result<(), SwapError> {
    let meter = store.get_meter(old).await?;
    if meter.tariff_code.is_some() {
        store.set_meter_tariff(old, None).await?;
    }
    if store.meter_sharing(old).await?.is_some() {
        store.set_meter_sharing(old, None).await?;
    }
    if meter.unit_id.is_some() || meter.account_id.is_some() {
        store.assign_meter(old, None, None).await?;
    }
    sync::sync_meter(store, writer, old).await?;
    Ok(())
}

/// Step 1: the refusals, and how far a previous attempt got.
async fn validate(
    store: &dyn Store,
    writer: &Writer,
    plan: &SwapPlan,
) -> Result<(Stage, Place), SwapError> {
    if plan.old == plan.new {
        return Err(SwapError::SameMeter(plan.old));
    }
    if plan.opening_at < plan.final_at {
        return Err(SwapError::OpeningBeforeFinal {
            final_at: plan.final_at,
            opening_at: plan.opening_at,
        });
    }
    let old = store.get_meter(plan.old).await?;
    let new = store.get_meter(plan.new).await?;
    if old.organisation_id != new.organisation_id {
        return Err(SwapError::DifferentOrganisation {
            old: old.id,
            new: new.id,
            old_org: old.organisation_id,
            new_org: new.organisation_id,
        });
    }
    if old.utility != new.utility {
        return Err(SwapError::DifferentUtility {
            old: old.id,
            new: new.id,
            old_utility: old.utility,
            new_utility: new.utility,
        });
    }
    let Some(place) = installed(&old) else {
        return finished(store, writer, plan, &old, &new).await;
    };
    let stage = match (new.unit_id, new.account_id) {
        (None, None) => Stage::Fresh,
        (Some(unit), Some(account)) if unit == place.unit && account == place.account => {
            Stage::NewAssigned
        }
        (unit, account) => {
            return Err(SwapError::NewAlreadyAssigned {
                meter: new.id,
                unit,
                account,
            });
        }
    };
    let billed = writer.meter(plan.old).await?.and_then(|m| m.account_id);
    if billed != Some(place.account) {
        return Err(SwapError::OldNotBilled { meter: plan.old });
    }
    Ok((stage, place))
}

/// The old meter's place, if it is installed on a unit, an account and a tariff.
fn installed(meter: &Meter) -> Option<Place> {
    Some(Place {
        unit: meter.unit_id?,
        account: meter.account_id?,
        tariff: meter.tariff_code.clone()?,
    })
}

/// The old meter is not installed: either this swap finished (the old
/// meter's readings end with this plan's final reading and the new meter,
/// installed, has its opening reading) or there is nothing to swap.
async fn finished(
    store: &dyn Store,
    writer: &Writer,
    plan: &SwapPlan,
    old: &Meter,
    new: &Meter,
) -> Result<(Stage, Place), SwapError> {
    let missing = if old.unit_id.is_none() {
        "unit"
    } else if old.account_id.is_none() {
        "account"
    } else {
        "tariff"
    };
    let refused = SwapError::OldNotInstalled {
        meter: old.id,
        missing,
    };
    let Some(place) = installed(new) else {
        return Err(refused);
    };
    let done = stored(store, writer, plan.old, plan.final_at, plan.final_reading).await?
        && stored(
            store,
            writer,
            plan.new,
            plan.opening_at,
            plan.opening_reading,
        )
        .await?;
    if done {
        Ok((Stage::Done, place))
    } else {
        Err(refused)
    }
}

/// Ingests one reading: its verdict and charge, or why it was not stored.
/// A duplicate of a stored reading answers `Verdict::Duplicate`.
async fn ingest(
    writer: &Writer,
    reading: ReadingIn,
) -> Result<Result<(Verdict, Fen), String>, WriterError> {
    let result = writer.ingest(vec![reading]).await?.pop();
    Ok(match result {
        Some(ReadingResult::Accepted(Verdict::Billed(charge))) => {
            let fen = Fen(charge.total_fen);
            Ok((Verdict::Billed(charge), fen))
        }
        Some(ReadingResult::Accepted(verdict)) => Ok((verdict, Fen::ZERO)),
        Some(ReadingResult::Duplicate) => Ok((Verdict::Duplicate, Fen::ZERO)),
        Some(ReadingResult::Rejected(reason)) => Err(reason),
        None => Err("the writer gave no answer for the reading".to_owned()),
    })
}

/// Whether the meter's last [`EVIDENCE_DEPTH`] stored readings include
/// this one.
async fn stored(
    store: &dyn Store,
    writer: &Writer,
    meter: MeterId,
    at: Timestamp,
    register: u64,
) -> Result<bool, SwapError> {
    let Some(head) = writer.meter(meter).await?.and_then(|m| m.readings_head) else {
        return Ok(false);
    };
    let register = i64::try_from(register).unwrap_or(i64::MAX);
    let rows = store.journal().reading_chain(head, EVIDENCE_DEPTH).await?;
    Ok(rows
        .iter()
        .any(|r| r.meter_id == meter && r.at_ms == at.as_millisecond() && r.register == register))
}

async fn balance(writer: &Writer, account: AccountId) -> Result<Fen, SwapError> {
    Ok(Fen(writer
        .account(account)
        .await?
        .map_or(0, |a| a.balance_fen)))
}
