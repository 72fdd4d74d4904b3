//! The device lifecycle services (mission M1, M2, M4): each step of a
//! meter's life from purchase contract to scrapyard, enforced rather than
//! just recorded. The rules themselves (the inventory state machine,
//! warranty, supplier score, replacement evaluation, cost–benefit) are pure
//! functions in `yufu_domain::lifecycle`; this crate applies them over the
//! store and, where money or devices are involved, the engine's writer.

pub mod commission;
pub mod serials;
pub mod service;
pub mod swap;

// --- commission (helper) ---
pub use commission::{
    CommissionError, CommissionOptions, CommissionReport, Step as CommissionStep, StepResult,
};

// --- swap (helper) ---
pub use swap::{SwapError, SwapOutcome, SwapPlan};
